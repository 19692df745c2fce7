package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

// Ports inside each namespace. Every process has a network namespace and
// an address of its own, made by this test, so fixed ports cannot collide
// with anything on the machine.
const (
	apiPort     = "8080"
	signalPort  = "7880"
	rtcPort     = "7882"
	turnPort    = "3478"
	gossipPort  = "7946"
	wanPort     = "7947" // the WAN pool's gossip
	relayPort   = "7883"
	metricsPort = "9100" // every role's metrics: section
)

// proc is one spacecast process in its namespace.
type proc struct {
	name   string
	region string // an edge's
	host   *netns.Host
	args   []string
	cmd    *exec.Cmd
	stderr string // file the process's stderr goes to
	done   chan error
}

func (p *proc) addr() string { return p.host.Addr().String() }

// world is the fleet under test.
type world struct {
	t      *testing.T
	ctx    context.Context
	bin    string
	dir    string
	env    []string
	net    *netns.Network
	cp     *proc   // the replica the test calls
	cps    []*proc // every replica
	edges  map[string]*proc
	api    string // http://cp:8080/v1
	hc     *http.Client
	keys   clusterkey.Config
	client struct{ ID, Secret string }
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newWorld builds spacecast, makes the network and the cluster secrets.
func newWorld(t *testing.T, ctx context.Context) *world {
	t.Helper()
	testenv.Need(t, "network namespaces", netns.Available())
	w := &world{t: t, ctx: ctx, dir: t.TempDir(), edges: map[string]*proc{},
		hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	// SC_FLEET_BIN names a prebuilt binary (debugging); by default the
	// test builds the one of this tree.
	if w.bin = os.Getenv("SC_FLEET_BIN"); w.bin == "" {
		w.bin = filepath.Join(w.dir, "spacecast")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", w.bin, "../../cmd/spacecast").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.net = n
	t.Cleanup(func() { _ = n.Close() })
	key, secret := "fleetkey", randomHex(24)
	w.keys = clusterkey.Config{APIKeys: map[string]string{key: secret}, SigningKey: key}
	w.env = append(os.Environ(),
		clusterkey.EnvAPIKeys+"="+key+":"+secret,
		clusterkey.EnvSigningKey+"="+key,
		clusterkey.EnvTURNSecrets+"="+randomHex(16),
		clusterkey.EnvGossipKeys+"="+randomB64(32),
	)
	return w
}

func (w *world) write(name, body string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// startControlPlane starts a control-plane replica with a store of its
// own (SQLite). The first one gets the API client the test uses; others
// join the fleet through the first and serve the public region list (a
// shared store is PostgreSQL's job).
func (w *world) startControlPlane(name string) *proc {
	w.t.Helper()
	h, err := w.net.AddHost(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	data := filepath.Join(w.dir, name+"-data")
	seeds := "[]"
	wanSeeds := "[]"
	if w.cp == nil {
		out, err := exec.CommandContext(w.ctx, w.bin, "admin", "client", "create", "--data", data, "--name", "fleet", "--json").Output()
		if err != nil {
			w.t.Fatalf("admin client create: %v", err)
		}
		var c struct{ ClientID, ClientSecret string }
		if err := json.Unmarshal(out, &c); err != nil {
			w.t.Fatalf("admin output %s: %v", out, err)
		}
		w.client.ID, w.client.Secret = c.ClientID, c.ClientSecret
	} else {
		seeds = "[" + w.cp.addr() + ":" + gossipPort + "]"
		wanSeeds = "[" + w.cp.addr() + ":" + wanPort + "]"
	}
	ip := h.Addr().String()
	cfg := w.write(name+".yaml", fmt.Sprintf(`log: {level: info}
controlplane:
  listen: %[1]s:%[2]s
  publicURL: http://%[1]s:%[2]s
  rateLimit: {joinPerAddress: {rate: 0}, guestJoinPerAddress: {rate: 0}} # every join comes from the test's one address
store: {dataDir: %[3]s}
gossip:
  nodeId: %[5]s
  region: a
  bindAddr: %[1]s:%[4]s
  seeds: %[6]s
  profile: lan
  urlAllowlist: [198.18.0.0/15] # the test network
  wan: {bindAddr: %[1]s:%[7]s, seeds: %[8]s, %[9]s}
webhooks:
  allow: [198.18.0.0/15] # the test's receiver on the bridge
  calls: {finishGrace: 1s}
metrics: {listen: %[1]s:%[10]s}
placement:
  defaultRegion: a
  # Short, so that the steps below check placement over what gossip says
  # (load, the room directory) rather than this replica's own memory of
  # its placements (unit-tested in controlplane/placement).
  recentWindow: 1s
`, ip, apiPort, data, gossipPort, name, seeds, wanPort, wanSeeds, wanTiming, metricsPort))
	p := &proc{name: name, host: h, args: []string{"controlplane", "--config", cfg}}
	if w.cp == nil {
		w.cp = p
		w.api = "http://" + ip + ":" + apiPort + "/v1"
	}
	w.cps = append(w.cps, p)
	w.run(p)
	w.eventually(name+" ready", 20*time.Second, func() bool {
		resp, err := w.hc.Get("http://" + ip + ":" + apiPort + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// wanTiming is the WAN pool's timing here: the namespaces have no delay,
// and a region whose only edge is cut off (edge-b1) is declared gone on
// the WAN pool's verdict, which the wan profile (probe every 5 s) would
// take tens of seconds to reach.
const wanTiming = "probeInterval: 1s, probeTimeout: 500ms, suspicionMult: 3, rejoinInterval: 1s"

// addEdge starts an edge of region in a new namespace.
func (w *world) addEdge(name, region string) *proc {
	w.t.Helper()
	h, err := w.net.AddHost(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	ip := h.Addr().String()
	// The region pool's seeds are of the edge's region: the control
	// planes' region a, else the region's first edge (none for the
	// first: it starts its region's pool). Regions meet in the WAN pool.
	seeds := "[]"
	if region == "a" {
		seeds = "[" + w.cp.addr() + ":" + gossipPort + "]"
	} else {
		for _, e := range w.edges {
			if e.region == region {
				seeds = "[" + e.addr() + ":" + gossipPort + "]"
				break
			}
		}
	}
	cfg := w.write(name+".yaml", fmt.Sprintf(`log: {level: info}
edge:
  listen: %[1]s:%[2]s
  publicURL: ws://%[1]s:%[2]s
  nodeID: %[3]s
  region: %[4]s
  rtc: {udpPort: %[5]s, bindIP: %[1]s}
  drainTimeout: 30s
turn:
  listen: %[1]s:%[6]s
  tlsListen: "off"
  udpSockets: 1
  relayBind: %[1]s
  allow: [198.18.0.0/15]
gossip:
  nodeId: %[3]s
  bindAddr: %[1]s:%[7]s
  seeds: %[12]s
  profile: lan
  urlAllowlist: [198.18.0.0/15] # the test network
  wan: {bindAddr: %[1]s:%[10]s, seeds: [%[8]s:%[10]s], %[11]s}
report:
  url: http://%[8]s:%[9]s
relay:
  listen: %[1]s:%[13]s
metrics: {listen: %[1]s:%[14]s}
`, ip, signalPort, name, region, rtcPort, turnPort, gossipPort, w.cp.addr(), apiPort, wanPort, wanTiming, seeds, relayPort, metricsPort))
	p := &proc{name: name, region: region, host: h, args: []string{"edge", "--config", cfg}}
	w.edges[name] = p
	w.run(p)
	return p
}

// run starts p (again).
func (w *world) run(p *proc) {
	w.t.Helper()
	// stderr goes to a file (the process writes it, the test reads it
	// only after the process is gone); a restart appends.
	p.stderr = filepath.Join(w.dir, p.name+".stderr")
	f, err := os.OpenFile(p.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	p.cmd = p.host.Command(w.ctx, w.bin, p.args...)
	p.cmd.Env = w.env
	p.cmd.Stderr = f
	if err := p.cmd.Start(); err != nil {
		w.t.Fatalf("start %s: %v", p.name, err)
	}
	p.done = make(chan error, 1)
	cmd, done := p.cmd, p.done
	go func() { done <- cmd.Wait() }()
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if w.t.Failed() {
			b, _ := os.ReadFile(p.stderr)
			w.t.Logf("--- %s stderr (last 3000 bytes) ---\n%s", p.name, tail(string(b), 3000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// kill ends p with SIGKILL: no leave message, a crash as the fleet sees it.
func (w *world) kill(p *proc) {
	w.t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
	p.done <- nil // later waits return at once
}

// eventually polls cond every 100 ms until it holds or d passes, and
// returns how long it took.
func (w *world) eventually(what string, d time.Duration, cond func() bool) time.Duration {
	w.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			w.t.Fatalf("after %s: %s did not happen", d, what)
		}
		select {
		case <-w.ctx.Done():
			w.t.Fatalf("%s: %v", what, w.ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return time.Since(start)
}

// call sends a JSON request to the API and decodes the answer into out.
func (w *world) call(method, path, token string, body, out any) int {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(w.ctx, method, w.api+path, r)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// owner signs in a user who owns a public space; it returns the user
// token and the space id.
func (w *world) owner() (token, space string) {
	w.t.Helper()
	var ct, ut struct {
		AccessToken string `json:"access_token"`
	}
	if c := w.call("POST", "/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": w.client.ID, "client_secret": w.client.Secret}, &ct); c != 200 {
		w.t.Fatalf("client token: %d", c)
	}
	if c := w.call("POST", "/users", ct.AccessToken, map[string]string{"email": "ops@example.com", "password": "correct horse battery", "username": "Ops"}, nil); c/100 != 2 {
		w.t.Fatalf("create user: %d", c)
	}
	if c := w.call("POST", "/auth/token", "", map[string]string{"grant_type": "password", "client_id": w.client.ID, "client_secret": w.client.Secret,
		"username": "ops@example.com", "password": "correct horse battery"}, &ut); c != 200 {
		w.t.Fatalf("user token: %d", c)
	}
	var sp struct {
		ID string `json:"id"`
	}
	if c := w.call("POST", "/spaces", ut.AccessToken, map[string]any{"name": "Fleet", "isPublic": true}, &sp); c/100 != 2 {
		w.t.Fatalf("create space: %d", c)
	}
	return ut.AccessToken, sp.ID
}

type room struct{ id, alias string }

func (w *world) room(token, space, name string) room {
	w.t.Helper()
	var r struct {
		ID    string `json:"id"`
		Alias string `json:"alias"`
	}
	if c := w.call("POST", "/spaces/"+space+"/rooms", token, map[string]any{"name": name, "isPublic": true, "type": "lesson"}, &r); c/100 != 2 {
		w.t.Fatalf("create room: %d", c)
	}
	if r.Alias == "" {
		var got struct {
			Alias string `json:"alias"`
		}
		w.call("GET", "/spaces/"+space+"/rooms/"+r.ID, token, nil, &got)
		r.Alias = got.Alias
	}
	return room{id: r.ID, alias: r.Alias}
}

// joinAnswer is the part of the join answer the test reads.
type joinAnswer struct {
	Identity   string `json:"identity"`
	MediaToken string `json:"mediaToken"`
	Session    struct {
		Token string `json:"token"`
	} `json:"session"`
	Edge struct {
		URL    string `json:"url"`
		Region string `json:"region"`
		NodeID string `json:"nodeId"`
	} `json:"edge"`
}

// join joins rm through the control plane (as a guest, or with a session
// credential) with the region hint and RTTs given.
func (w *world) join(rm room, body map[string]any) (joinAnswer, int) {
	w.t.Helper()
	var a joinAnswer
	c := w.call("POST", "/rooms/"+rm.alias+"/join", "", body, &a)
	return a, c
}

// regions reads GET /v1/regions of the first replica: region → probe
// URLs. Every replica must give the same answer (one fleet view): when they
// differ, the answer is nil, so a condition must test for nil before it
// looks for an absent region (len of a nil map's entry is 0 too).
func (w *world) regions() map[string][]string {
	w.t.Helper()
	var first map[string][]string
	for i, cp := range w.cps {
		r := w.regionsOf(cp)
		if i == 0 {
			first = r
		} else if !reflect.DeepEqual(first, r) {
			return nil
		}
	}
	return first
}

func (w *world) regionsOf(cp *proc) map[string][]string {
	w.t.Helper()
	var l struct {
		Regions []struct {
			Name      string   `json:"name"`
			ProbeURLs []string `json:"probeUrls"`
		} `json:"regions"`
	}
	resp, err := w.hc.Get("http://" + cp.addr() + ":" + apiPort + "/v1/regions")
	if err != nil {
		w.t.Fatalf("regions of %s: %v", cp.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
		w.t.Fatalf("regions of %s: HTTP %d", cp.name, resp.StatusCode)
	}
	out := map[string][]string{}
	for _, r := range l.Regions {
		sort.Strings(r.ProbeURLs)
		out[r.Name] = r.ProbeURLs
	}
	return out
}

// participant is a signalling connection to an edge, as an SDK holds one.
type participant struct {
	ws     *websocket.Conn
	join   *livekit.JoinResponse
	closed chan struct{} // closed when the edge closes the connection

	mu     sync.Mutex
	others map[string]livekit.ParticipantInfo_State // what the edge said of the others, by identity
}

// state is the newest state the edge told of identity (false: never).
func (p *participant) state(identity string) (livekit.ParticipantInfo_State, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.others[identity]
	return s, ok
}

// connect opens the LiveKit signalling connection an SDK would; it
// returns the HTTP status when the edge refuses.
func (w *world) connect(edgeURL, token string) (*participant, int) {
	w.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.DialContext(w.ctx, edgeURL+"/rtc?protocol=16&access_token="+url.QueryEscape(token), nil)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		w.t.Fatalf("dial %s: %v", edgeURL, err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		w.t.Fatalf("read join: %v", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	var res livekit.SignalResponse
	if err := proto.Unmarshal(msg, &res); err != nil || res.GetJoin() == nil {
		w.t.Fatalf("first message is not a join (%v)", err)
	}
	p := &participant{ws: ws, join: res.GetJoin(), closed: make(chan struct{}), others: map[string]livekit.ParticipantInfo_State{}}
	for _, o := range p.join.OtherParticipants {
		p.others[o.Identity] = o.State
	}
	// Drain what the edge sends so that it never blocks on us, noting
	// what it says of the other participants.
	go func() {
		defer close(p.closed)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m livekit.SignalResponse
			if proto.Unmarshal(b, &m) != nil || m.GetUpdate() == nil {
				continue
			}
			p.mu.Lock()
			for _, o := range m.GetUpdate().Participants {
				p.others[o.Identity] = o.State
			}
			p.mu.Unlock()
		}
	}()
	w.t.Cleanup(func() { _ = ws.Close(); <-p.closed })
	return p, 0
}

// leave sends a LeaveRequest and closes the connection.
func (p *participant) leave() {
	b, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	_ = p.ws.WriteMessage(websocket.BinaryMessage, b)
	_ = p.ws.Close()
}

// validate asks an edge's /rtc/validate about token: the HTTP status.
func (w *world) validate(edgeURL, token string) int {
	w.t.Helper()
	u := "http" + strings.TrimPrefix(edgeURL, "ws") + "/rtc/validate?access_token=" + url.QueryEscape(token)
	resp, err := w.hc.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func signalTerm(p *proc) error { return p.cmd.Process.Signal(syscall.SIGTERM) }
