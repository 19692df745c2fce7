package scenario

import (
	"errors"
	"fmt"

	"github.com/spacecast/spacecast/internal/config"
)

// ErrWrongScenario means a file written for one scenario was given to
// another.
var ErrWrongScenario = errors.New("scenario: file is for another scenario")

// Common are the keys every scenario file has.
type Common struct {
	// Scenario names the scenario the file is for ("api", "rooms", ...).
	Scenario string `yaml:"scenario" json:"scenario"`
	// Target is the control plane's base URL; empty for self-contained.
	Target string `yaml:"target" json:"target"`
	// ClientID is the API client; its secret comes from the environment.
	ClientID string `yaml:"clientId" json:"clientId"`
	// Out, HTML: where to write the JSON result and the HTML report.
	Out  string `yaml:"out" json:"-"`
	HTML string `yaml:"html" json:"-"`
	// Compare is a baseline result to compare with.
	Compare string `yaml:"compare" json:"-"`
	// SLO are objectives such as "join_p99<500ms,loss<1%".
	SLO string `yaml:"slo" json:"slo,omitempty"`
}

// Header gives access to the common keys of a config that embeds Common.
func (c *Common) Header() *Common { return c }

// File is a scenario config struct (it embeds Common).
type File interface{ Header() *Common }

// Load reads path strictly into dst (filled with defaults by the caller)
// and checks that the file is for scenario name.
func Load(path, name string, dst File) error {
	if err := config.Load(path, dst); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	if got := dst.Header().Scenario; got != "" && got != name {
		return fmt.Errorf("%w: %s says scenario %q, this is %q", ErrWrongScenario, path, got, name)
	}
	dst.Header().Scenario = name
	return nil
}
