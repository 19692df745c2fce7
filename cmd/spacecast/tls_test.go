package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/auth"

	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/tlsconf/tlstest"
)

// startEdgeCommand runs `spacecast edge` with this config file body and
// returns the signalling address it logs, or the exit code and the log if
// it stops first.
func startEdgeCommand(t *testing.T, body string, env map[string]string) (addr string, exited <-chan int, logs *strings.Builder) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"edge", "--config", cfg}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, pw)
		_ = pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("spacecast edge did not stop")
		}
	})
	found := make(chan string, 1)
	logs = &strings.Builder{}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := signalLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case a := <-found:
		return a, done, logs
	case code := <-done:
		<-scanned
		ch := make(chan int, 1)
		ch <- code
		done <- code // for the cleanup
		return "", ch, logs
	case <-time.After(15 * time.Second):
		t.Fatal("spacecast edge did not start")
	}
	return "", nil, nil
}

// TestEdgeServesWSSWithRotatingCertificate: with a `tls:` section the
// edge's signalling is WebSocket over TLS with that certificate; a
// certificate replaced on disk is served by the next handshake, with no
// restart.
func TestEdgeServesWSSWithRotatingCertificate(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	leaf := ca.IssueNow(t, dir, 41)
	key, secret := "k1", strings.Repeat("s", 32)
	env := map[string]string{clusterkey.EnvAPIKeys: key + ":" + secret, clusterkey.EnvSigningKey: key, clusterkey.EnvTURNSecrets: strings.Repeat("t", 16)}
	addr, _, logs := startEdgeCommand(t, `log: {level: info}
edge:
  listen: 127.0.0.1:0
  publicURL: wss://127.0.0.1:1
  nodeID: edge-tls
  rtc: {udpPort: 0, bindIP: 127.0.0.1}
  drainTimeout: 1s
turn: {enabled: false}
tls:
  certFile: `+leaf.CertFile+`
  keyFile: `+leaf.KeyFile+`
  reloadEvery: 50ms
`, env)
	if addr == "" {
		t.Fatalf("the edge stopped:\n%s", logs)
	}
	tok, err := auth.NewAccessToken(key, secret).SetIdentity("alice").SetValidFor(time.Minute).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r"}).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	dialer := websocket.Dialer{TLSClientConfig: ca.ClientConfig(), HandshakeTimeout: 5 * time.Second}
	ws, _, err := dialer.Dial("wss://"+addr+"/rtc?protocol=16&access_token="+url.QueryEscape(tok), nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the JoinResponse
		t.Fatal(err)
	}
	_ = ws.Close()
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/rtc", nil); err == nil {
		t.Fatal("plain ws:// was served on the TLS listener")
	}

	serial := func() int64 {
		c, err := tls.Dial("tcp", addr, ca.ClientConfig())
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 41 {
		t.Fatalf("serial %d, want 41", got)
	}
	ca.IssueNow(t, dir, 42)
	deadline := time.Now().Add(10 * time.Second)
	for serial() != 42 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestEdgeRefusesUnusableTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	leaf := ca.IssueNow(t, t.TempDir(), 1)
	expired := ca.Issue(t, t.TempDir(), 2, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	env := map[string]string{clusterkey.EnvAPIKeys: "k1:" + strings.Repeat("s", 32), clusterkey.EnvSigningKey: "k1", clusterkey.EnvTURNSecrets: strings.Repeat("t", 16)}
	for _, tc := range []struct {
		name, publicURL, cert, key, want string
	}{
		{"ws URL with tls", "ws://127.0.0.1:1", leaf.CertFile, leaf.KeyFile, "wss://"},
		{"expired", "wss://127.0.0.1:1", expired.CertFile, expired.KeyFile, "expired"},
		{"missing key", "wss://127.0.0.1:1", leaf.CertFile, filepath.Join(t.TempDir(), "none.pem"), "keyFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, exited, logs := startEdgeCommand(t, `edge:
  listen: 127.0.0.1:0
  publicURL: `+tc.publicURL+`
  nodeID: edge-tls
  rtc: {udpPort: 0, bindIP: 127.0.0.1}
turn: {enabled: false}
tls: {certFile: `+tc.cert+`, keyFile: `+tc.key+`}
`, env)
			if addr != "" {
				t.Fatal("the edge started")
			}
			if code := <-exited; code == 0 || !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("exit %d, log:\n%s\nwant a failure saying %q", code, logs, tc.want)
			}
		})
	}
}

// The gossip readiness check: an edge with seeds is ready once another
// member is alive, not before; without seeds it runs alone and is ready.
func TestFleetJoinedCheck(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	start := func(id string, seeds []string) *gossip.Node {
		t.Helper()
		cfg := gossip.Config{NodeID: id, Role: gossip.RoleEdge, Region: "r", BindAddr: "127.0.0.1:0", Seeds: seeds, Profile: "local"}
		node, err := startGossip(cfg, clusterkey.Config{}, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = node.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; _ = node.Close() })
		return node
	}
	a := start("a", nil)
	if err := fleetJoined(a, gossip.Config{}); err != nil {
		t.Fatalf("no seeds: %v, want ready", err)
	}
	// b's seed is a's address, but a is not up yet from b's point of
	// view until the join completes: poll for the transition.
	bCfg := gossip.Config{Seeds: []string{a.Addr()}}
	lonely := start("lonely", []string{"127.0.0.1:9"}) // nobody answers there
	if err := fleetJoined(lonely, gossip.Config{Seeds: []string{"127.0.0.1:9"}}); !errors.Is(err, errNoFleet) {
		t.Fatalf("seeds unreachable: %v, want errNoFleet", err)
	}
	b := start("b", bCfg.Seeds)
	deadline := time.Now().Add(10 * time.Second)
	for fleetJoined(b, bCfg) != nil {
		if time.Now().After(deadline) {
			t.Fatal("b never saw a")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `spacecast turn` alone serves /metrics, every series labelled with the
// configured region and node.
func TestTurnCommandServesMetrics(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "turn.yaml")
	if err := os.WriteFile(cfg, []byte(`turn:
  listen: 127.0.0.1:0
  tlsListen: "off"
  realm: test
  relayBind: 127.0.0.1
metrics: {listen: 127.0.0.1:0, region: eu-west, node: turn-1}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{clusterkey.EnvTURNSecrets: strings.Repeat("t", 16)}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"turn", "--config", cfg}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, pw)
		_ = pw.Close()
		done <- code
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := metricsLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("spacecast turn exited with %d", code)
		}
	}()
	var a string
	select {
	case a = <-addr:
	case code := <-done:
		done <- code
		t.Fatalf("spacecast turn exited with %d", code)
	case <-time.After(15 * time.Second):
		t.Fatal("no metrics listener logged")
	}
	resp, err := http.Get("http://" + a + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`spacecast_turn_allocations{node="turn-1",region="eu-west"} 0`, `go_goroutines{node="turn-1",region="eu-west"}`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q:\n%.2000s", want, body)
		}
	}
}

// With a tls: section the control plane serves HTTPS only, with HSTS, from
// a certificate it re-reads when the file changes; an http:// publicURL
// with tls on is refused at start.
func TestControlplaneServesHTTPS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	leaf := ca.IssueNow(t, dir, 7)
	env := map[string]string{
		clusterkey.EnvAPIKeys: "k1:0123456789abcdef0123456789abcdef", clusterkey.EnvSigningKey: "k1", clusterkey.EnvTURNSecrets: "0123456789abcdef",
	}
	body := func(publicURL string) string {
		return `controlplane:
  listen: 127.0.0.1:0
  publicURL: ` + publicURL + `
  drainDelay: 0s
store: {driver: sqlite, dataDir: ` + filepath.Join(dir, "data") + `}
tls: {certFile: ` + leaf.CertFile + `, keyFile: ` + leaf.KeyFile + `, reloadEvery: 50ms}
`
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(body("http://meet.example.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, ctx, env, "controlplane", "--config", bad); code == 0 || !strings.Contains(stderr, "https://") {
		t.Fatalf("http:// publicURL with tls: exit %d, %s", code, stderr)
	}

	path := filepath.Join(dir, "cp.yaml")
	if err := os.WriteFile(path, []byte(body("https://meet.example.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"controlplane", "--config", path}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	}()
	defer func() {
		stop()
		if code := <-done; code != 0 {
			t.Errorf("controlplane exited with %d: %s", code, errb.String())
		}
	}()
	re := regexp.MustCompile(`listening on https://(127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no https URL printed: %s %s", out.String(), errb.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientConfig(), DisableKeepAlives: true}}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err = hc.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz over https: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("GET /healthz: HTTP %d, Strict-Transport-Security %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	if r, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS listener")
		}
	}
	serial := func() int64 {
		c, err := tls.Dial("tcp", addr, ca.ClientConfig())
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	ca.IssueNow(t, dir, 8)
	for deadline := time.Now().Add(10 * time.Second); serial() != 8; {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(25 * time.Millisecond)
	}
}
