package scenario_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/spacecast/spacecast/bench/apibench"
	"github.com/spacecast/spacecast/bench/browserbench"
	"github.com/spacecast/spacecast/bench/gossipbench"
	"github.com/spacecast/spacecast/bench/roomsbench"
	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/bench/slo"
	"github.com/spacecast/spacecast/bench/turnbench"
)

// TestShippedScenarios loads every example file strictly, as the scenario
// its "scenario" key names, and validates it.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) < 7 {
		t.Fatalf("scenario files: %v %v", files, err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Scenario string `yaml:"scenario"`
			}
			if err := yaml.Unmarshal(b, &head); err != nil {
				t.Fatal(err)
			}
			var c scenario.File
			var validate func() error
			switch head.Scenario {
			case "api":
				a := apibench.DefaultConfig()
				a.ClientSecret = "unused"
				c, validate = &a, func() error { a.Target, a.ClientID = "http://127.0.0.1:1", "c"; return a.Validate() }
			case "rooms":
				r := roomsbench.DefaultConfig()
				c, validate = &r, func() error { return r.Validate() }
			case "turn":
				tc := turnbench.DefaultConfig()
				c, validate = &tc, func() error { tc.Secret = "from-the-environment"; return tc.Validate() }
			case "browser":
				b := browserbench.DefaultBenchConfig()
				c, validate = &b, func() error { return b.Validate() }
			case "gossip":
				g := gossipbench.DefaultConfig()
				c, validate = &g, func() error { return g.Validate() }
			default:
				t.Fatalf("scenario %q", head.Scenario)
			}
			seen[head.Scenario] = true
			if err := scenario.Load(f, head.Scenario, c); err != nil {
				t.Fatal(err)
			}
			if err := validate(); err != nil {
				t.Fatal(err)
			}
			if _, err := slo.Parse(c.Header().SLO); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, s := range []string{"api", "rooms", "turn", "gossip", "browser"} {
		if !seen[s] {
			t.Errorf("no example scenario file for %s", s)
		}
	}
}
