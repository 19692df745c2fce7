package turnbench

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/usage"
	"github.com/spacecast/spacecast/internal/turncred"
	"github.com/spacecast/spacecast/turn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSecret = "0123456789abcdef-bench"

// startServer runs our TURN server in this process on 127.0.0.1 and
// returns its UDP address.
func startServer(t *testing.T, ctx context.Context, secret string, allow []string) string {
	t.Helper()
	addr, _ := startServerStats(t, ctx, secret, allow)
	return addr
}

// startServerStats is startServer that also returns the server's counters.
func startServerStats(t *testing.T, ctx context.Context, secret string, allow []string) (string, func() turn.Stats) {
	t.Helper()
	cfg := turn.Config{Listen: "127.0.0.1:0", TLSListen: turn.TLSOff, UDPSockets: 2, RelayBind: "127.0.0.1",
		Allow: allow}.WithDefaults()
	socks, err := turn.Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.New(cfg, []string{secret}, socks)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return socks.UDP[0].LocalAddr().String(), srv.Stats
}

// runBench runs the scenario with cfg and returns its result.
func runBench(t *testing.T, ctx context.Context, cfg Config) *result.Result {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Run(ctx, progress.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMeasureAgainstOurServer drives an in-process server through two
// short steps and checks that the traffic was delivered and measured.
func TestMeasureAgainstOurServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := startServer(t, ctx, testSecret, []string{"127.0.0.0/8"})
	user, pass := turncred.Mint(testSecret, "bench", time.Now().Add(time.Hour))
	res, err := Measure(ctx, Options{
		Server: addr, Username: user, Password: pass, ServerCPU: usage.Proc("self", os.Getpid()),
		Allocations: 10, Payload: 100, Rates: []int{1000, 2000}, Step: 300 * time.Millisecond,
		Progress: progress.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || res.SaturationPPS < 1000 {
		t.Fatalf("result %+v", res)
	}
	if _, ok := res.SaturationStep(); !ok || res.Allocate.Count() != 10 {
		t.Fatalf("saturation step %d, %d allocations timed", res.Saturation, res.Allocate.Count())
	}
	for _, st := range res.Steps {
		if st.LossPercent > 5 || st.ServerCPUMicros <= 0 || st.GeneratorCPUPercent <= 0 {
			t.Fatalf("step %+v", st)
		}
		if st.GeneratorLimited {
			// Whether the generator kept up says how busy this shared
			// machine was (other test packages run beside this one), not
			// whether the measurement is right.
			t.Logf("generator limited at %d packets/s (machine at %.0f%%)", st.OfferedPPS, st.MachineCPUPercent)
		}
	}
}

func TestMeasureRefusedCredential(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := startServer(t, ctx, testSecret, nil)
	user, pass := turncred.Mint("another-secret-entirely", "x", time.Now().Add(time.Hour))
	_, err := Measure(ctx, Options{Server: addr, Username: user, Password: pass,
		Allocations: 1, Payload: 100, Rates: []int{100}, Step: 100 * time.Millisecond})
	if !errors.Is(err, ErrTURN) {
		t.Fatalf("Measure with a forged credential: %v", err)
	}
}

// TestBenchRemote runs the scenario against a running server given as
// turn:host:port (this process: its CPU is read from /proc).
func TestBenchRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := startServer(t, ctx, testSecret, []string{"127.0.0.0/8"})
	cfg := DefaultConfig()
	cfg.Target, cfg.Secret, cfg.ServerPID = "turn:"+addr, testSecret, os.Getpid()
	cfg.Allocations, cfg.Payload, cfg.Rates, cfg.Step = 8, 100, []int{800, 1600}, 300*time.Millisecond
	r := runBench(t, ctx, cfg)
	if r.Meta.SelfContained || r.Scenario != "turn" {
		t.Errorf("meta %+v", r.Meta)
	}
	for _, name := range []string{"saturation_pps", "cpu_us_per_packet", "generator_cpu_us_per_packet", "allocate_p50"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 {
			t.Errorf("%s = %v (%v)", name, v, err)
		}
	}
	if v, _, _ := r.Lookup("loss"); v > 5 {
		t.Errorf("loss = %v%% at 800/s on loopback", v)
	}
	if len(r.Sweeps) != 1 || len(r.Sweeps[0].Points) != 2 || r.Sweeps[0].Name != "remote" {
		t.Errorf("sweeps %+v", r.Sweeps)
	}
	if len(r.Resources.Servers) != 1 || r.Resources.Servers[0].Samples == 0 {
		t.Errorf("server usage %+v", r.Resources.Servers)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "side by side", edit: func(c *Config) { c.Target = "ours,coturn" }},
		{name: "remote with secret", edit: func(c *Config) { c.Target, c.Secret = "turn:198.18.0.1:3478", "s" }},
		{name: "remote default port", edit: func(c *Config) { c.Target, c.Secret = "turn:turn.example.com", "s" }},
		{name: "remote without secret", edit: func(c *Config) { c.Target = "turn:198.18.0.1:3478" }, wantErr: "SPACECAST_TURN_SECRETS"},
		{name: "unknown target", edit: func(c *Config) { c.Target = "url" }, wantErr: "bad target"},
		{name: "twice", edit: func(c *Config) { c.Target = "ours,ours" }, wantErr: "twice"},
		{name: "no rates", edit: func(c *Config) { c.Rates = nil }, wantErr: "rates"},
		{name: "payload", edit: func(c *Config) { c.Payload = 1500 }, wantErr: "payload"},
		{name: "repeat", edit: func(c *Config) { c.Repeat = 0 }, wantErr: "repeat"},
		{name: "peer ip", edit: func(c *Config) { c.PeerIP = "198.18.0.7" }},
		{name: "bad peer ip", edit: func(c *Config) { c.PeerIP = "198.18.0" }, wantErr: "peerIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// fakeCPU is a source whose CPU seconds the test sets.
type fakeCPU struct{ v *float64 }

func (fakeCPU) Name() string                                     { return "fake" }
func (fakeCPU) Kind() string                                     { return "/proc" }
func (fakeCPU) Generator() bool                                  { return false }
func (f fakeCPU) Read(context.Context) (float64, float64, error) { return *f.v, 1, nil }

// TestSwitchableMonotonic: measuring two servers one after the other gives
// one CPU counter that never goes back.
func TestSwitchableMonotonic(t *testing.T) {
	a, b := 5.0, 1.0
	s := &switchable{name: "turn server"}
	read := func() float64 { v, _, _ := s.Read(context.Background()); return v }
	steps := []struct {
		name string
		do   func()
		want float64
	}{
		{"nothing yet", func() {}, 0},
		{"first server", func() { s.use(fakeCPU{&a}) }, 5},
		{"first server works", func() { a = 7 }, 7},
		{"between servers", func() { s.use(nil) }, 7},
		{"second server", func() { s.use(fakeCPU{&b}) }, 8},
		{"second server works", func() { b = 3 }, 10},
	}
	for _, st := range steps {
		st.do()
		if got := read(); got != st.want {
			t.Fatalf("%s: %v, want %v", st.name, got, st.want)
		}
	}
}

// TestGeneratorLimited offers far more than the generator can send: the
// step, and the result, must say the generator was the limit.
func TestGeneratorLimited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := startServer(t, ctx, testSecret, []string{"127.0.0.0/8"})
	cfg := DefaultConfig()
	cfg.Target, cfg.Secret, cfg.ServerPID = "turn:"+addr, testSecret, os.Getpid()
	cfg.Allocations, cfg.Payload, cfg.Rates, cfg.Step = 4, 100, []int{1000, 50_000_000}, 300*time.Millisecond
	r := runBench(t, ctx, cfg)
	if !r.Resources.GeneratorLimited {
		t.Fatalf("50M packets/s offered and not generator-limited: %+v", r.Tables)
	}
	var warned bool
	for _, w := range r.Warnings {
		warned = warned || strings.Contains(w, "saturation figure is a lower bound")
	}
	if !warned {
		t.Errorf("no warning: %q", r.Warnings)
	}
	// The light step was not limited.
	if rows := r.Tables[len(r.Tables)-1].Rows; len(rows) != 2 || rows[0].Values[8] != 0 || rows[1].Values[8] != 1 {
		t.Errorf("steps table %+v", rows)
	}
}

// TestRemoteWithoutCPU: a running server whose CPU cannot be read is not
// reported as a server using none, and the run says CPU was not measured.
func TestRemoteWithoutCPU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := startServer(t, ctx, testSecret, []string{"127.0.0.0/8"})
	cfg := DefaultConfig()
	cfg.Target, cfg.Secret = "turn:"+addr, testSecret
	cfg.Allocations, cfg.Payload, cfg.Rates, cfg.Step = 2, 100, []int{500}, 200*time.Millisecond
	r := runBench(t, ctx, cfg)
	if len(r.Resources.Servers) != 0 {
		t.Errorf("servers %+v", r.Resources.Servers)
	}
	if v, _, _ := r.Lookup("cpu_us_per_packet"); v != 0 {
		t.Errorf("cpu_us_per_packet = %v without a CPU source", v)
	}
	var warned bool
	for _, w := range r.Warnings {
		warned = warned || strings.Contains(w, "CPU was not measured")
	}
	if !warned {
		t.Errorf("warnings %q", r.Warnings)
	}
}

// TestAllocationsOwnIdentityAndReleased: more allocations than the
// server's per-user quota (10) open, each under its own identity, and
// every one is released when the run ends.
func TestAllocationsOwnIdentityAndReleased(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr, stats := startServerStats(t, ctx, testSecret, []string{"127.0.0.0/8"})
	cfg := DefaultConfig()
	cfg.Target, cfg.Secret = "turn:"+addr, testSecret
	cfg.Allocations, cfg.Payload, cfg.Rates, cfg.Step = 15, 100, []int{500}, 200*time.Millisecond
	runBench(t, ctx, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for stats().Allocations != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d allocations left on the server after the run", stats().Allocations)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRouteTo(t *testing.T) {
	tests := []struct {
		name, server, want string
	}{
		{"loopback v4", "127.0.0.1:3478", "127.0.0.1"},
		{"other loopback", "127.0.0.2:3478", "127.0.0.1"},
		{"loopback v6", "[::1]:3478", "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ua, err := net.ResolveUDPAddr("udp", tt.server)
			if err != nil {
				t.Fatal(err)
			}
			got, err := routeTo(ua)
			if err != nil {
				if tt.want == "::1" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Fatalf("routeTo(%s) = %v, want %s", tt.server, got, tt.want)
			}
		})
	}
}
