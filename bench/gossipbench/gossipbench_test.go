package gossipbench

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/gossip"
)

// memberlist's Shutdown does not wait for a probe in flight: its goroutine
// waits out the probe's ack timer (up to the probe interval, stretched by
// the node's health score) and then ends. Everything else must stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

func tinyConfig() Config {
	cfg := DefaultConfig()
	cfg.Sizes, cfg.Profile, cfg.Joins, cfg.Kills = []int{3, 6}, gossip.ProfileLocal, 2, 1
	cfg.Idle, cfg.Quiet, cfg.Timeout = 300*time.Millisecond, 200*time.Millisecond, 10*time.Second
	return cfg
}

func TestTable(t *testing.T) {
	var tbl bytes.Buffer
	rep := Report{Rows: []Row{{N: 3, JoinP99Ms: 12}, {N: 6, JoinP99Ms: 1500, IdleBytesPerSec: 480}}}
	if err := Table(&tbl, rep); err != nil || strings.Count(tbl.String(), "\n") != 4 || !strings.Contains(tbl.String(), "| 6 |") || !strings.Contains(tbl.String(), "1.50 s") {
		t.Fatalf("table %q %v", tbl.String(), err)
	}
}

// TestBenchSelfContained checks the harness result: per-size latencies
// and metrics, the worst over sizes, the check, the table and the plots.
func TestBenchSelfContained(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	b, err := New(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Run(ctx, progress.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Meta.SelfContained || len(r.FailedChecks()) != 0 {
		t.Fatalf("meta %+v, failed checks %+v", r.Meta, r.FailedChecks())
	}
	for _, name := range []string{"join_n3_p50", "join_n6_p99", "detect_n6_p99", "detect_first_n6_p50", "join_p99_worst", "detect_p99_worst"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 10_000 {
			t.Errorf("%s = %v ms (%v)", name, v, err)
		}
	}
	if v, _, _ := r.Lookup("join_n6_count"); v != 2 {
		t.Errorf("join_n6_count = %v, want the 2 joins", v)
	}
	if v, _, _ := r.Lookup("detect_n6_count"); v != 1 {
		t.Errorf("detect_n6_count = %v, want the 1 crash", v)
	}
	for _, name := range []string{"idle_bytes_per_node_n3", "idle_bytes_per_node_n6", "idle_bytes_per_node_worst"} {
		if v, u, err := r.Lookup(name); err != nil || u != "B/s" || v <= 0 || v > 1e6 {
			t.Errorf("%s = %v %s (%v)", name, v, u, err)
		}
	}
	if len(r.Plots) != 2 || len(r.Plots[0].Lines) < 2 || len(r.Plots[0].Lines[0].Points) != 2 || len(r.Tables) != 1 || len(r.Tables[0].Rows) != 2 {
		t.Errorf("plots %+v tables %+v", r.Plots, r.Tables)
	}
}

// TestObserveRunningCluster joins an in-process cluster of three through
// one seed as an observer and measures it from outside.
func TestObserveRunningCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	key := []byte("0123456789abcdef0123456789abcdef")
	cfg := tinyConfig()
	c := &cluster{cfg: cfg, keys: [][]byte{key}, seen: &seen{at: map[seenKey]time.Time{}, alive: map[string]bool{}}, log: slog.New(slog.DiscardHandler)}
	defer c.stopAll()
	for i := range 3 {
		var seeds []string
		if i > 0 {
			seeds = []string{c.nodes[0].Addr()}
		}
		n, err := c.start(ctx, "member"+strconv.Itoa(i), seeds, true)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.waitAll(ctx, 3, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	roles := make(chan string, 16)
	unsub := c.nodes[2].Subscribe(func(e gossip.Event) {
		if e.Kind == gossip.EventJoin && strings.HasPrefix(e.Member.ID(), "bench-") {
			select {
			case roles <- e.Member.Meta.Role:
			default:
			}
		}
	})
	defer unsub()

	cfg.Target, cfg.Keys, cfg.Probes, cfg.Settle = "gossip:"+c.nodes[1].Addr(), [][]byte{key}, 2, 500*time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Run(ctx, progress.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if r.Meta.SelfContained || len(r.FailedChecks()) != 0 {
		t.Fatalf("meta %+v, failed checks %+v", r.Meta, r.FailedChecks())
	}
	if v, _, _ := r.Lookup("members"); v != 4 {
		t.Errorf("members = %v, want 3 and the observer", v)
	}
	for _, name := range []string{"observer_converge", "probe_join_p50", "probe_converge_p99", "probe_detect_p50", "probe_detect_p99"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 10_000 {
			t.Errorf("%s = %v ms (%v)", name, v, err)
		}
	}
	if v, _, _ := r.Lookup("probe_detect_count"); v != 2 {
		t.Errorf("probe_detect_count = %v, want 2", v)
	}
	if v, _, _ := r.Lookup("idle_bytes_per_node"); v <= 0 {
		t.Errorf("idle_bytes_per_node = %v", v)
	}
	if v, _, _ := r.Lookup("member_failures"); v != 0 {
		t.Errorf("member_failures = %v", v)
	}
	for range 3 { // the observer and two probes
		select {
		case role := <-roles:
			if role != gossip.RoleControlPlane {
				t.Fatalf("a bench node joined as %q: placement could pick it", role)
			}
		case <-ctx.Done():
			t.Fatal("the cluster did not see the bench's nodes join")
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "remote", edit: func(c *Config) { c.Target = "gossip:198.18.0.1:7946,gossip:198.18.0.2:7946" }},
		{name: "size 1", edit: func(c *Config) { c.Sizes = []int{1} }, wantErr: "sizes"},
		{name: "bad profile", edit: func(c *Config) { c.Profile = "fast" }, wantErr: "profile"},
		{name: "not gossip", edit: func(c *Config) { c.Target = "http://198.18.0.1" }, wantErr: "bad target"},
		{name: "seed without port", edit: func(c *Config) { c.Target = "gossip:198.18.0.1" }, wantErr: "host:port"},
		{name: "remote settle", edit: func(c *Config) { c.Target, c.Settle = "gossip:198.18.0.1:7946", 0 }, wantErr: "settle"},
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

func TestPct(t *testing.T) {
	vs := []float64{5, 1, 4, 2, 3}
	for p, want := range map[float64]float64{50: 3, 99: 5, 1: 1} {
		if got := pct(vs, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}

// TestObserveSeesAMemberCrash: a member of the running cluster that
// crashes while the observer watches is counted and warned about.
func TestObserveSeesAMemberCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cfg := tinyConfig()
	c := &cluster{cfg: cfg, seen: &seen{at: map[seenKey]time.Time{}, alive: map[string]bool{}}, log: slog.New(slog.DiscardHandler)}
	defer c.stopAll()
	for i := range 4 {
		var seeds []string
		if i > 0 {
			seeds = []string{c.nodes[0].Addr()}
		}
		n, err := c.start(ctx, "member"+strconv.Itoa(i), seeds, i < 3) // member3 will crash
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.waitAll(ctx, 4, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	observed := make(chan struct{}, 1)
	unsub := c.nodes[0].Subscribe(func(e gossip.Event) {
		if e.Kind == gossip.EventJoin && strings.HasSuffix(e.Member.ID(), "-observer") {
			select {
			case observed <- struct{}{}:
			default:
			}
		}
	})
	defer unsub()
	cfg.Target, cfg.Probes, cfg.Settle, cfg.Idle = "gossip:"+c.nodes[0].Addr(), 0, 300*time.Millisecond, 4*time.Second
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		r   *result.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := b.Run(ctx, progress.Discard())
		done <- outcome{r, err}
	}()
	select {
	case <-observed:
	case <-ctx.Done():
		t.Fatal("the observer never joined")
	}
	victim := c.nodes[3]
	c.nodes = c.nodes[:3]
	victim.stop()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if v, _, _ := o.r.Lookup("member_failures"); v != 1 {
		t.Errorf("member_failures = %v, want the crashed member", v)
	}
	var warned bool
	for _, w := range o.r.Warnings {
		warned = warned || strings.Contains(w, "declared dead")
	}
	if !warned {
		t.Errorf("warnings %q", o.r.Warnings)
	}
}
