package scenario_test

import (
	"path/filepath"
	"testing"

	"github.com/spacecast/spacecast/bench/apibench"
	"github.com/spacecast/spacecast/bench/roomsbench"
	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/bench/slo"
)

// TestShippedScenarios loads every example file strictly and validates it.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("scenario files: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var c scenario.File
			var validate func() error
			switch filepath.Base(f) {
			case "api.yaml":
				a := apibench.DefaultConfig()
				a.ClientSecret = "unused"
				c, validate = &a, func() error { a.Target, a.ClientID = "http://127.0.0.1:1", "c"; return a.Validate() }
			default:
				r := roomsbench.DefaultConfig()
				c, validate = &r, func() error { return r.Validate() }
			}
			name := "rooms"
			if filepath.Base(f) == "api.yaml" {
				name = "api"
			}
			if err := scenario.Load(f, name, c); err != nil {
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
}
