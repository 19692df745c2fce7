package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
)

// Ports inside the fleet's namespaces: every process has a namespace and
// an address of its own, so fixed ports collide with nothing.
const (
	fleetAPIPort    = "8080"
	fleetSignalPort = "7880"
	fleetRTCPort    = "7882"
	fleetGossipPort = "7946"
	fleetWANPort    = "7947"
	fleetRelayPort  = "7883"
)

// fleetEdge is one edge of a regionFleet.
type fleetEdge struct {
	node, region string
	host         *netns.Host
}

// signal is the edge's signalling URL, as the join answers it.
func (e fleetEdge) signal() string {
	return "ws://" + e.host.Addr().String() + ":" + fleetSignalPort
}

// probe is the edge's probe URL, as GET /v1/regions lists it.
func (e fleetEdge) probe() string {
	return "http://" + e.host.Addr().String() + ":" + fleetSignalPort + "/probe"
}

// startRegions runs a fleet as in tests/fleet, each process in a
// namespace of its own: `spacecast controlplane` (region a, its gossip
// seeds the others) and one `spacecast edge` per region named, the
// regions meeting in the WAN pool and the edges relaying rooms between
// them. It returns a stack whose browsers run in one more namespace and
// whose user owns a public space, and the edges in the order of regions.
// Every process's log goes to the test's artifacts folder.
func startRegions(t *testing.T, ctx context.Context, regions ...string) (*stack, []fleetEdge) {
	t.Helper()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	dir := t.TempDir()
	bin := filepath.Join(dir, "spacecast")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/spacecast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key, secret := "fleetkey", randomHex(24)
	gossipKey := make([]byte, 32)
	_, _ = rand.Read(gossipKey)
	env := append(os.Environ(),
		clusterkey.EnvAPIKeys+"="+key+":"+secret,
		clusterkey.EnvSigningKey+"="+key,
		clusterkey.EnvTURNSecrets+"="+randomHex(16),
		clusterkey.EnvGossipKeys+"="+base64.StdEncoding.EncodeToString(gossipKey),
	)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(h *netns.Host, name string, args ...string) { startIn(ctx, t, h, bin, env, name, args...) }
	host := func() *netns.Host {
		h, err := n.AddHost(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	cpHost := host()
	cp := cpHost.Addr().String()
	data := filepath.Join(dir, "cp-data")
	out, err := exec.CommandContext(ctx, bin, "admin", "client", "create", "--data", data, "--name", "regions", "--json").Output()
	if err != nil {
		t.Fatalf("admin client create: %v", err)
	}
	var creds struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatalf("admin output %s: %v", out, err)
	}
	run(cpHost, "controlplane", "controlplane", "--config", write("cp.yaml", fmt.Sprintf(`log: {level: info}
controlplane:
  listen: %[1]s:%[2]s
  publicURL: http://%[1]s:%[2]s
  drainDelay: 0s
  rateLimit: {joinPerAddress: {rate: 0}, guestJoinPerAddress: {rate: 0}} # every join comes from the browser's one address
store: {dataDir: %[3]s}
gossip:
  nodeId: cp-1
  region: %[7]s
  bindAddr: %[1]s:%[4]s
  seeds: []
  profile: lan
  urlAllowlist: [%[6]s]
  wan: {bindAddr: %[1]s:%[5]s, seeds: [], probeInterval: 1s, probeTimeout: 500ms, suspicionMult: 3, rejoinInterval: 1s}
placement: {defaultRegion: %[7]s}
`, cp, fleetAPIPort, data, fleetGossipPort, fleetWANPort, n.Prefix(), regions[0])))

	var edges []fleetEdge
	for i, region := range regions {
		e := fleetEdge{node: fmt.Sprintf("edge-%s1", region), region: region, host: host()}
		ip := e.host.Addr().String()
		// The control plane's region pool is region a's; other regions'
		// edges start a pool of their own. The regions meet in the WAN pool.
		seeds := "[]"
		if i == 0 {
			seeds = "[" + cp + ":" + fleetGossipPort + "]"
		}
		run(e.host, e.node, "edge", "--config", write(e.node+".yaml", fmt.Sprintf(`log: {level: info}
edge:
  listen: %[1]s:%[2]s
  publicURL: ws://%[1]s:%[2]s
  nodeID: %[3]s
  region: %[4]s
  rtc: {udpPort: %[5]s, bindIP: %[1]s}
  drainTimeout: 1s
turn: {enabled: false}
gossip:
  nodeId: %[3]s
  bindAddr: %[1]s:%[6]s
  seeds: %[7]s
  profile: lan
  urlAllowlist: [%[8]s]
  wan: {bindAddr: %[1]s:%[9]s, seeds: [%[10]s:%[9]s], probeInterval: 1s, probeTimeout: 500ms, suspicionMult: 3, rejoinInterval: 1s}
report: {url: "http://%[10]s:%[11]s"}
relay: {listen: "%[1]s:%[12]s"}
`, ip, fleetSignalPort, e.node, region, fleetRTCPort, fleetGossipPort, seeds, n.Prefix(), fleetWANPort, cp, fleetAPIPort, fleetRelayPort)))
		edges = append(edges, e)
	}

	s := &stack{api: "http://" + cp + ":" + fleetAPIPort, host: host(),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	// Ready, and every edge in the region list.
	want := map[string]string{}
	for _, e := range edges {
		want[e.region] = e.probe()
	}
	for deadline := time.Now().Add(40 * time.Second); ; {
		if listed(s, want) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("the control plane never listed the edges %v in GET /v1/regions", want)
		}
		time.Sleep(200 * time.Millisecond) // polling
	}
	s.signIn(t, creds.ClientID, creds.ClientSecret)
	return s, edges
}

// listed tells whether GET /v1/regions lists exactly one probe URL per
// region, the one of want.
func listed(s *stack, want map[string]string) bool {
	resp, err := s.client.Get(s.api + "/v1/regions")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var l struct {
		Regions []struct {
			Name      string   `json:"name"`
			ProbeURLs []string `json:"probeUrls"`
		} `json:"regions"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&l) != nil || len(l.Regions) != len(want) {
		return false
	}
	for _, r := range l.Regions {
		if len(r.ProbeURLs) != 1 || r.ProbeURLs[0] != want[r.Name] {
			return false
		}
	}
	return true
}

// signIn makes a user with the API client's credentials, signs it in and
// gives it a public space.
func (s *stack) signIn(t *testing.T, clientID, clientSecret string) {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	s.call(t, "POST", "/auth/token", map[string]string{"client_id": clientID, "client_secret": clientSecret, "grant_type": "client_credentials"}, &tok)
	s.token = tok.AccessToken
	s.call(t, "POST", "/users", map[string]string{"email": "ada@example.com", "password": "correct horse battery", "username": "Ada"}, nil)
	s.token = ""
	s.call(t, "POST", "/auth/token", map[string]string{"client_id": clientID, "client_secret": clientSecret, "grant_type": "password", "username": "ada@example.com", "password": "correct horse battery"}, &tok)
	s.token = tok.AccessToken
	var space struct {
		ID string `json:"id"`
	}
	s.call(t, "POST", "/spaces", map[string]any{"name": "Regions", "isPublic": true}, &space)
	s.space = space.ID
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startIn runs bin with args in host h, its output in the test's artifacts
// as name.log (whose path it returns), until the test ends: SIGTERM, then
// a kill after 10 s.
func startIn(ctx context.Context, t *testing.T, h *netns.Host, bin string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := h.Command(ctx, bin, args...)
	cmd.Env = env
	path := filepath.Join(artifacts(t), name+".log")
	logf, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
	return path
}
