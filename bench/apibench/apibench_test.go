package apibench

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/selfhost"
)

func TestMain(m *testing.M) {
	// fasthttp's own housekeeping goroutines (idle-connection cleaners,
	// the server date ticker, worker-pool reapers) outlive their owners by
	// design; everything the bench starts must be gone.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}

// serve starts a real control plane in this process.
func serve(t *testing.T, ctx context.Context) selfhost.Info {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	infoc := make(chan selfhost.Info, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- selfhost.Serve(ctx, selfhost.Options{DataDir: t.TempDir()}, func(i selfhost.Info) { infoc <- i })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("control plane: %v", err)
		}
	})
	select {
	case info := <-infoc:
		return info
	case err := <-errc:
		t.Fatalf("control plane: %v", err)
	}
	return selfhost.Info{}
}

func tiny(info selfhost.Info) Config {
	cfg := DefaultConfig()
	cfg.Target, cfg.ClientID, cfg.ClientSecret = info.URL, info.ClientID, info.ClientSecret
	cfg.Connections = 4
	cfg.Duration = 400 * time.Millisecond
	cfg.Warmup = 100 * time.Millisecond
	cfg.SweepSteps = []float64{0.25, 0.5}
	cfg.SweepDuration = 300 * time.Millisecond
	cfg.MaxLinks = 300
	cfg.SecondJoins = 20
	cfg.RaceLinks = 3
	cfg.RaceJoiners = 9 // more than the connections
	return cfg
}

func TestRunAgainstControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane under load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info := serve(t, ctx)
	b, err := New(tiny(info))
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Run(ctx, progress.Discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"baseline_rps", "get_rps", "token_rps", "room_create_rps", "generate_access_rps", "join_rps", "get_max_rps"} {
		v, unit, err := r.Lookup(name)
		if err != nil || unit != result.UnitPerSec || v <= 0 {
			t.Errorf("%s = %v %s %v, want a positive rate", name, v, unit, err)
		}
	}
	for _, name := range []string{"get_p50", "get_p99", "join_p99", "token_p99", "room_create_p99", "get_p99_at_half_max"} {
		v, unit, err := r.Lookup(name)
		if err != nil || unit != result.UnitMs || v <= 0 || v > 10_000 {
			t.Errorf("%s = %v %s %v, want a plausible latency", name, v, unit, err)
		}
	}
	if v, _, err := r.Lookup("get_baseline_ratio"); err != nil || v <= 0 || v > 2 {
		t.Errorf("get_baseline_ratio = %v %v", v, err)
	}
	if len(r.Checks) != 3 || len(r.FailedChecks()) != 0 {
		t.Errorf("checks = %+v", r.Checks)
	}
	if len(r.Sweeps) != 1 || len(r.Sweeps[0].Points) != 2 {
		t.Errorf("sweeps = %+v", r.Sweeps)
	}
	first := map[string]float64{}
	for _, s := range r.Series {
		if len(s.Points) > 0 {
			first[s.Name] = s.Points[0].T
		}
	}
	if !(first["baseline req/s"] < first["get req/s"] && first["get req/s"] < first["token req/s"]) {
		t.Errorf("phase series not placed on the run's time line: %v", first)
	}
	if r.Resources.Generator.Samples == 0 {
		t.Errorf("generator usage not sampled: %+v", r.Resources)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no target", func(c *Config) { c.Target = "" }, "target"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "SPACECAST_BENCH_CLIENT_SECRET"},
		{"bad op", func(c *Config) { c.Ops = []string{"gett"} }, "gett"},
		{"bad step", func(c *Config) { c.SweepSteps = []float64{0} }, "sweepSteps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tiny(selfhost.Info{URL: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s"})
			tt.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want mention of %q", err, tt.want)
			}
		})
	}
}
