package main

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spacecast/spacecast/internal/clusterkey"
)

// exampleSecrets reads the environment deploy/kubernetes/secrets.example.yaml
// gives every pod.
func exampleSecrets(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "secrets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StringData map[string]string `yaml:"stringData"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.StringData) == 0 {
		t.Fatal("no stringData in the example")
	}
	return doc.StringData
}

// TestProductionRefusesUnsafeSecrets: outside `spacecast dev`, a process
// started with the example's placeholder secrets, with gossip but no
// gossip key, or with gossip but no allowlist for the URLs members
// advertise, stops at once with an error that says which.
func TestProductionRefusesUnsafeSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edgeCfg := func(gossip string) string {
		return write("edge-"+strconv.Itoa(len(gossip))+".yaml", `edge:
  listen: 127.0.0.1:0
  publicURL: ws://edge-1.example.com
  nodeID: edge-1
  region: eu
  rtc: {udpPort: 0, bindIP: 127.0.0.1}
turn: {enabled: false}
`+gossip)
	}
	plain := edgeCfg("")
	withGossip := edgeCfg("gossip: {nodeId: edge-1, bindAddr: 127.0.0.1:0}\n")
	withAllowlist := edgeCfg("gossip: {nodeId: edge-1, bindAddr: 127.0.0.1:0, urlAllowlist: ['*.example.com']}\n")
	cp := write("cp.yaml", `controlplane: {listen: 127.0.0.1:0, publicURL: http://127.0.0.1:1}
store: {dataDir: `+filepath.Join(dir, "data")+`}
`)
	turnFile := filepath.Join("..", "..", "deploy", "turn.yaml")

	good := map[string]string{
		clusterkey.EnvAPIKeys: "k1:" + strings.Repeat("s", 40), clusterkey.EnvSigningKey: "k1",
		clusterkey.EnvTURNSecrets: strings.Repeat("t", 24),
	}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range base {
			out[a] = b
		}
		out[k] = v
		return out
	}
	example := exampleSecrets(t)
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("g", 32)))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in stderr
	}{
		{"edge with the example's secrets", []string{"edge", "--config", plain}, example, "placeholder"},
		{"control plane with the example's secrets", []string{"controlplane", "--config", cp}, example, "placeholder"},
		{"example API secret alone", []string{"edge", "--config", plain}, with(good, clusterkey.EnvAPIKeys, "k1:change-me-to-at-least-32-random-characters"), "apiKeys.k1"},
		{"example TURN secret alone", []string{"edge", "--config", plain}, with(good, clusterkey.EnvTURNSecrets, example[clusterkey.EnvTURNSecrets]), "turnSecrets[0]"},
		{"turn with deploy/turn.yaml's secret", []string{"turn", "--config", turnFile}, map[string]string{}, "placeholder"},
		{"gossip without encryption", []string{"edge", "--config", withAllowlist}, good, "not encrypted"},
		{"gossip without a URL allowlist", []string{"edge", "--config", withGossip}, with(good, clusterkey.EnvGossipKeys, key), "urlAllowlist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Started, the process would run until this context ends:
			// refusing means returning at once, before it.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stderr strings.Builder
			start := time.Now()
			code := run(ctx, tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), io.Discard, &stderr)
			if code == 0 || ctx.Err() != nil {
				t.Fatalf("exit %d after %v: the process started; stderr:\n%s", code, time.Since(start), stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}
