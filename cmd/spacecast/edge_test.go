package main

import (
	"bufio"
	"context"
	"io"
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
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/internal/clusterkey"
)

var (
	signalLine  = regexp.MustCompile(`msg="edge listening".* signal=(\S+)`)
	metricsLine = regexp.MustCompile(`msg="metrics listening".* addr=(\S+)`)
)

// TestEdgeCommandDrainDeadline runs `spacecast edge` alone (no gossip, TURN
// off) and checks the drain: after the first signal (ctx cancelled) the
// edge refuses new participants with 503, keeps the one it has until
// edge.drainTimeout, then disconnects it with SERVER_SHUTDOWN and exits 0.
func TestEdgeCommandDrainDeadline(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(cfg, []byte(`log: {level: info}
edge:
  listen: 127.0.0.1:0
  publicURL: ws://127.0.0.1:1
  nodeID: edge-t
  region: t
  rtc: {udpPort: 0, bindIP: 127.0.0.1}
  drainTimeout: 1500ms
turn: {enabled: false}
metrics: {listen: 127.0.0.1:0}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	key, secret := "k1", strings.Repeat("s", 32)
	env := map[string]string{clusterkey.EnvAPIKeys: key + ":" + secret, clusterkey.EnvSigningKey: key, clusterkey.EnvTURNSecrets: strings.Repeat("t", 16)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"edge", "--config", cfg}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, pw)
		_ = pw.Close()
		done <- code
	}()
	addr := make(chan string, 1)
	metricsAddr := make(chan string, 1)
	logs := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := signalLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
			if m := metricsLine.FindStringSubmatch(sc.Text()); m != nil {
				metricsAddr <- m[1]
			}
			select {
			case logs <- sc.Text():
			default:
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case code := <-done:
		t.Fatalf("spacecast edge exited with %d", code)
	case <-time.After(15 * time.Second):
		t.Fatal("spacecast edge did not start")
	}
	mint := func(identity string) string {
		tok, err := auth.NewAccessToken(key, secret).SetIdentity(identity).SetValidFor(time.Minute).
			SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r"}).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+base+"/rtc?protocol=16&access_token="+url.QueryEscape(mint("alice")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // the JoinResponse
		t.Fatal(err)
	}

	// Prometheus sees the participant and the process.
	var mAddr string
	select {
	case mAddr = <-metricsAddr:
	case <-time.After(5 * time.Second):
		t.Fatal("no metrics listener logged")
	}
	resp, err := http.Get("http://" + mAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Every series carries the edge's region and node (from edge.region and
	// edge.nodeID): nothing else, so the cardinality stays bounded.
	for _, want := range []string{`spacecast_edge_participants{node="edge-t",region="t"} 1`, `go_goroutines{node="edge-t",region="t"}`,
		`process_resident_memory_bytes{node="edge-t",region="t"}`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}

	cancel() // the first SIGTERM
	drainStart := time.Now()
	validate := func() int {
		resp, err := http.Get("http://" + base + "/rtc/validate?access_token=" + url.QueryEscape(mint("bob")))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(time.Second)
	for validate() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("a draining edge still takes new participants")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Alice stays until the deadline, then hears SERVER_SHUTDOWN.
	var leave *livekit.LeaveRequest
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for leave == nil {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("connection closed without a leave: %v", err)
		}
		var res livekit.SignalResponse
		if proto.Unmarshal(msg, &res) == nil && res.GetLeave() != nil {
			leave = res.GetLeave()
		}
	}
	if held := time.Since(drainStart); held < time.Second {
		t.Fatalf("participant disconnected %s into a 1.5 s drain", held)
	}
	if leave.Reason != livekit.DisconnectReason_SERVER_SHUTDOWN {
		t.Fatalf("leave reason %s, want SERVER_SHUTDOWN", leave.Reason)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("edge did not exit after the drain deadline")
	}
	var sawTimeout bool
	for len(logs) > 0 {
		if strings.Contains(<-logs, "drain timeout") {
			sawTimeout = true
		}
	}
	if !sawTimeout {
		t.Fatal("no drain-timeout log line")
	}
}
