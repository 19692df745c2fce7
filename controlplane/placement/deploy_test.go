package placement

import (
	"path/filepath"
	"testing"

	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/config"
)

// The deploy samples parse strictly and validate.
func TestDeploySamples(t *testing.T) {
	paths, err := filepath.Glob("../../deploy/gossip-*.yaml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("samples: %v %v", paths, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			doc := struct {
				Gossip    gossip.Config `yaml:"gossip"`
				Placement Policy        `yaml:"placement"`
			}{Gossip: gossip.Default()}
			if err := config.Load(p, &doc); err != nil {
				t.Fatal(err)
			}
			if err := doc.Gossip.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := doc.Placement.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
