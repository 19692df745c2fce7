package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(costRoleEnv) != "" {
		os.Exit(costChildMain())
	}
	if os.Getenv(helperEnv) != "" {
		if os.Getenv("SC_MULTI") != "" {
			os.Exit(helperMulti())
		}
		os.Exit(helperMain())
	}
	goleak.VerifyTestMain(m)
}

// fixture is a running edge with its HTTP signalling URL.
type fixture struct {
	t       testing.TB
	edge    *Edge
	url     string // ws://host:port
	httpURL string
	cluster clusterkey.Config
	net     *netns.Network
	host    *netns.Host
}

type fixtureOpts struct {
	netns      bool // SDK participants: edge on the bridge, participants in a namespace
	mutate     func(*Config)
	registerer prometheus.Registerer
	revoked    func(room, identity string, issued time.Time) bool
	observer   room.Observer
	checks     []Check
	recording  *RecordingDeps
	logger     *slog.Logger // nil: none (SC_EDGE_LOG=1 logs to stderr)
	// setup runs after mutate, with the namespace network up and the cluster
	// generated, before the edge is made: it may start servers the edge's
	// config points at (the relay tests' TURN server) and edit cfg.
	setup func(f *fixture, cfg *Config)
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, cluster: cl}
	ip := "127.0.0.1"
	cfg := DefaultConfig()
	if o.netns {
		testenv.Need(t, "network namespaces", netns.Available())
		if f.net, err = netns.NewNetwork(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.net.Close() })
		if f.host, err = f.net.AddHost(ctx); err != nil {
			t.Fatal(err)
		}
		ip = f.net.Gateway().String()
		cfg.RTC.Interfaces = []string{f.net.BridgeName()}
	}
	sig, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	f.httpURL = "http://" + sig.Addr().String()
	f.url = "ws://" + sig.Addr().String()
	cfg.PublicURL = f.url
	cfg.Room.EmptyTimeout = time.Second
	cfg.Room.DepartureTimeout = 3 * time.Second
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	if o.setup != nil {
		o.setup(f, &cfg)
	}
	log := o.logger
	if os.Getenv("SC_EDGE_LOG") != "" { // debugging: the edge's log on stderr
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f.edge, err = New(cfg, Deps{Cluster: cl, UDP: udp, Signal: sig, Registerer: o.registerer, Logger: log,
		Revoked: o.revoked, Observer: o.observer, Checks: o.checks, Recording: o.recording})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.edge.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("edge did not stop")
		}
	})
	return f
}

// token mints a LiveKit access token signed with the cluster key.
func (f *fixture) token(identity string, g *auth.VideoGrant, ttl time.Duration) string {
	f.t.Helper()
	key, secret := f.cluster.SigningSecret()
	at := auth.NewAccessToken(key, secret).SetIdentity(identity).SetName(identity).SetValidFor(ttl).SetVideoGrant(g)
	s, err := at.ToJWT()
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func joinGrant(room string) *auth.VideoGrant {
	return &auth.VideoGrant{RoomJoin: true, Room: room}
}

// proc is one SDK participant in a child process.
type proc struct {
	t        testing.TB
	identity string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	events   chan event
	stderr   *lockedBuffer
	done     chan struct{}
	waitOnce sync.Once
	backlog  []event // events that no waitFor has taken yet
}

func (f *fixture) spawn(identity, token string) *proc {
	f.t.Helper()
	return f.spawnEnv(identity, "SC_TOKEN="+token)
}

// spawnEnv starts a helper process with extra environment variables.
func (f *fixture) spawnEnv(identity string, env ...string) *proc {
	f.t.Helper()
	if f.host == nil {
		f.t.Fatal("spawn needs a netns fixture")
	}
	cmd := f.host.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"=1", "SC_URL="+f.url), env...)
	p := &proc{t: f.t, identity: identity, cmd: cmd, events: make(chan event, 256), stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				p.events <- e
			}
		}
	}()
	f.t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) send(line string) {
	_, _ = io.WriteString(p.stdin, line+"\n")
}

// waitFor returns the first event matching pred, failing after timeout.
func (p *proc) waitFor(what string, timeout time.Duration, pred func(event) bool) event {
	p.t.Helper()
	for i, e := range p.backlog {
		if pred(e) {
			p.backlog = append(p.backlog[:i:i], p.backlog[i+1:]...)
			return e
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s: helper exited waiting for %s; stderr:\n%s", p.identity, what, tail(p.stderr))
			}
			if e.Ev == "error" {
				p.t.Logf("%s: helper error: %s", p.identity, e.Msg)
			}
			if pred(e) {
				return e
			}
			if e.Ev != "report" {
				p.backlog = append(p.backlog, e)
			}
		case <-deadline.C:
			p.t.Fatalf("%s: timed out waiting for %s; stderr:\n%s", p.identity, what, tail(p.stderr))
		}
	}
}

func (p *proc) ev(name string) func(event) bool { return func(e event) bool { return e.Ev == name } }

// quit asks for the report and waits for the process.
func (p *proc) quit() map[string]trackReport {
	p.t.Helper()
	p.send("quit")
	e := p.waitFor("report", 20*time.Second, p.ev("report"))
	p.kill()
	return e.Received
}

func (p *proc) kill() {
	p.waitOnce.Do(func() {
		_ = p.stdin.Close()
		exited := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
		for range p.events {
		}
	})
}

// lockedBuffer is a bytes.Buffer that exec may write while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(b *lockedBuffer) string {
	s := b.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// stats polls the participant's receive report until ok accepts it.
func (p *proc) stats(what string, timeout time.Duration, ok func(map[string]trackReport) bool) map[string]trackReport {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.send("stats")
		rep := p.waitFor("report", 10*time.Second, p.ev("report")).Received
		if ok(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s not reached: %+v", p.identity, what, rep)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}
