package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/spacecast/spacecast/internal/config"
	"github.com/spacecast/spacecast/internal/logging"
)

// The sample configs in deploy/ and the configs inside the Kubernetes
// manifests load strictly (an unknown key fails) and validate, so that what
// operators copy works.
func TestDeployConfigs(t *testing.T) {
	placeholders := strings.NewReplacer("${POD_IP}", "10.1.2.3", "${POD_NAME}", "spacecast-controlplane-0",
		"${NODE_IP}", "10.0.1.11", "${NODE_NAME}", "node-a")
	env := func(string) string { return "" }
	type sample struct {
		name, kind, body string
	}
	var samples []sample
	for _, f := range []struct{ path, kind string }{{"../../deploy/edge.yaml", "edge"}, {"../../deploy/controlplane.yaml", "controlplane"}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{filepath.Base(f.path), f.kind, string(b)})
	}
	manifests, err := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if err != nil || len(manifests) < 3 {
		t.Fatalf("manifests: %v %v", manifests, err)
	}
	for _, m := range manifests {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var doc struct {
				Kind string            `yaml:"kind"`
				Data map[string]string `yaml:"data"`
			}
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", m, i, err)
			}
			if doc.Kind == "" {
				t.Fatalf("%s document %d has no kind", m, i)
			}
			for key, body := range doc.Data {
				switch key {
				case "edge.yaml":
					samples = append(samples, sample{filepath.Base(m) + ":" + key, "edge", placeholders.Replace(body)})
				case "controlplane.yaml":
					samples = append(samples, sample{filepath.Base(m) + ":" + key, "controlplane", placeholders.Replace(body)})
				}
			}
		}
	}
	if len(samples) < 4 {
		t.Fatalf("found %d configs, want the two samples and the two in the manifests", len(samples))
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(s.body), 0o600); err != nil {
				t.Fatal(err)
			}
			switch s.kind {
			case "edge":
				cfg, err := loadEdgeFile(path, env)
				if err != nil {
					t.Fatal(err)
				}
				if err := cfg.Edge.Validate(); err != nil {
					t.Fatal(err)
				}
				if gossipEnabled(cfg.Gossip) {
					if err := cfg.Gossip.Validate(); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := cfg.Log.New(io.Discard); err != nil {
					t.Fatal(err)
				}
				jsonLogs(t, cfg.Log)
			case "controlplane":
				cfg, err := loadControlplaneFile(path, env)
				if err != nil {
					t.Fatal(err)
				}
				jsonLogs(t, cfg.Log)
				if err := cfg.Controlplane.Validate(); err != nil {
					t.Fatal(err)
				}
				if err := cfg.Placement.Validate(); err != nil {
					t.Fatal(err)
				}
				if err := cfg.Store.validate(); err != nil {
					t.Fatal(err)
				}
				if gossipEnabled(cfg.Gossip) {
					if err := cfg.Gossip.Validate(); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// jsonLogs: production configs log JSON, one object a line, which log
// pipelines index without a parser of their own.
func jsonLogs(t *testing.T, c logging.Config) {
	t.Helper()
	if c.Format != "json" {
		t.Errorf("log.format %q, want json in a production config", c.Format)
	}
}

// deploy/turn.yaml loads strictly and logs JSON like the other roles.
func TestDeployTurnConfig(t *testing.T) {
	f := turnFile{Log: logging.Default()}
	if err := config.Load("../../deploy/turn.yaml", &f); err != nil {
		t.Fatal(err)
	}
	if err := f.Turn.WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	jsonLogs(t, f.Log)
	if _, err := f.Log.New(io.Discard); err != nil {
		t.Fatal(err)
	}
}
