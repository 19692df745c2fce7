package main

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/testenv"
	"github.com/spacecast/spacecast/turn"
)

// tinyTurn is a bench turn run of a few seconds.
var tinyTurn = []string{"--allocations", "10", "--payload", "100", "--rates", "1000,2000", "--step", "400ms"}

func TestBenchTurnSelfContained(t *testing.T) {
	t.Setenv(envReexec, "1") // the child `spacecast turn` is this test binary
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// Settings from a scenario file, the output paths from flags.
	sc := filepath.Join(dir, "turn.yaml")
	if err := os.WriteFile(sc, []byte("scenario: turn\ntarget: ours\nallocations: 10\npayload: 100\nrates: [1000, 2000]\nstep: 400ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, page := filepath.Join(dir, "turn.json"), filepath.Join(dir, "turn.html")
	code, text := benchCmd(t, ctx, os.Getenv, "bench", "turn", "--scenario", sc, "--out", out, "--html", page, "--slo", "loss<5%,saturation_pps>500/s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	r := readResult(t, out)
	if !r.Meta.SelfContained || r.Scenario != "turn" || r.Meta.Target != "ours" {
		t.Errorf("meta %+v", r.Meta)
	}
	plausible := []struct {
		name     string
		min, max float64
	}{
		{"saturation_pps", 1500, 2500},
		{"delivered_pps_lightest", 800, 1200},
		{"cpu_us_per_packet", 0.01, 10_000},
		{"generator_cpu_us_per_packet", 0.01, 10_000},
		{"generator_cpu_at_saturation", 0.01, 400},
		{"allocate_p50", 0.001, 1000},
		{"allocate_count", 10, 10},
	}
	for _, p := range plausible {
		if v, _, err := r.Lookup(p.name); err != nil || v < p.min || v > p.max {
			t.Errorf("%s = %v (%v), want %v to %v", p.name, v, err, p.min, p.max)
		}
	}
	if v, _, _ := r.Lookup("loss"); v > 5 {
		t.Errorf("loss %v%% at 1000/s on loopback", v)
	}
	if len(r.Sweeps) != 1 || len(r.Sweeps[0].Points) != 2 || r.Sweeps[0].Points[1].AchievedPerSec < 1500 {
		t.Errorf("sweeps %+v", r.Sweeps)
	}
	if len(r.Resources.Servers) != 1 || r.Resources.Servers[0].Samples == 0 || r.Resources.Servers[0].RSSMaxBytes < 1<<20 {
		t.Errorf("server usage not read from the child's /proc: %+v", r.Resources.Servers)
	}
	if len(r.Plots) != 2 || len(r.Tables) != 1 || len(r.Tables[0].Rows) != 2 {
		t.Errorf("plots %d, tables %+v", len(r.Plots), r.Tables)
	}
	if !strings.Contains(text, "all 2 objectives met") || !strings.Contains(text, "2000/s offered") {
		t.Errorf("summary lacks the steps or the SLO verdict:\n%s", text)
	}
	renderReport(t, page, "bench-turn")

	t.Run("slo broken exits non-zero", func(t *testing.T) {
		code, text := benchCmd(t, ctx, os.Getenv, append(append([]string{"bench", "turn"}, tinyTurn...), "--rates", "1000", "--slo", "saturation_pps>1000000000/s")...)
		if code == 0 || !strings.Contains(text, "BROKEN saturation_pps>1000000000/s") {
			t.Fatalf("exit %d:\n%s", code, text)
		}
	})
	t.Run("compare prints ratios", func(t *testing.T) {
		code, text := benchCmd(t, ctx, os.Getenv, append([]string{"bench", "turn", "--compare", out}, tinyTurn...)...)
		if code != 0 || !strings.Contains(text, "compared with turn run") || !strings.Contains(text, "saturation_pps") {
			t.Fatalf("exit %d:\n%s", code, text)
		}
	})
}

// TestBenchTurnSideBySide measures ours and coturn in one run: the
// comparison is in the result and the report.
func TestBenchTurnSideBySide(t *testing.T) {
	bin, err := exec.LookPath("turnserver")
	testenv.Need(t, "coturn's turnserver", err)
	t.Setenv(envReexec, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	out, page := filepath.Join(dir, "turn.json"), filepath.Join(dir, "turn.html")
	code, text := benchCmd(t, ctx, os.Getenv, append([]string{"bench", "turn", "--target", "ours,coturn", "--turnserver", bin, "--out", out, "--html", page}, tinyTurn...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	r := readResult(t, out)
	for _, name := range []string{"saturation_pps", "coturn_saturation_pps", "saturation_ours_over_coturn", "cpu_us_per_packet", "coturn_cpu_us_per_packet", "coturn_allocate_p50"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 {
			t.Errorf("%s = %v (%v)", name, v, err)
		}
	}
	if v, _, _ := r.Lookup("saturation_ours_over_coturn"); v < 0.5 || v > 2 {
		t.Errorf("saturation ratio %v at 2000/s offered: both should deliver it", v)
	}
	if len(r.Sweeps) != 2 || r.Sweeps[0].Group == "" || r.Sweeps[0].Group != r.Sweeps[1].Group || r.Sweeps[1].Name != "coturn" {
		t.Errorf("sweeps are not one side-by-side group: %+v", r.Sweeps)
	}
	var side *result.Table
	for i := range r.Tables {
		if r.Tables[i].Name == "ours and coturn side by side" {
			side = &r.Tables[i]
		}
	}
	if side == nil || len(side.Rows) != 2 {
		t.Fatalf("no side-by-side table: %+v", r.Tables)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ours and coturn side by side", "TURN relay: throughput against offered load", ">coturn</text>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	renderReport(t, page, "bench-turn-side-by-side")
}

// TestBenchTurnRemote measures a running server given as turn:host:port,
// with its secret from the environment and its CPU from --server-pid.
func TestBenchTurnRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const secret = "remote-bench-secret-0123456789"
	cfg := turn.Config{Listen: "127.0.0.1:0", TLSListen: turn.TLSOff, UDPSockets: 1, RelayBind: "127.0.0.1",
		Allow: []string{"127.0.0.0/8"}}.WithDefaults()
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
	defer func() {
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	target := "turn:" + socks.UDP[0].LocalAddr().String()
	withSecret := func(k string) string {
		if k == clusterkey.EnvTURNSecrets {
			return secret + ",an-older-one"
		}
		return os.Getenv(k)
	}
	withoutSecret := func(k string) string {
		if k == clusterkey.EnvTURNSecrets {
			return ""
		}
		return os.Getenv(k)
	}

	// This process's CPU as a Prometheus endpoint, as a remote server's.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()

	tests := []struct {
		name   string
		cpu    []string
		getenv func(string) string
		check  func(t *testing.T, code int, text string, out string)
	}{
		{
			name:   "CPU from the server's Prometheus endpoint",
			cpu:    []string{"--metrics-url", metrics.URL + "/metrics"},
			getenv: withSecret,
			check: func(t *testing.T, code int, text, out string) {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, text)
				}
				r := readResult(t, out)
				if len(r.Resources.Servers) != 1 || r.Resources.Servers[0].Source != "prometheus" || r.Resources.Servers[0].RSSMaxBytes < 1<<20 {
					t.Errorf("server usage not read from its metrics: %+v", r.Resources.Servers)
				}
				if v, _, _ := r.Lookup("cpu_us_per_packet"); v <= 0 {
					t.Errorf("cpu_us_per_packet = %v", v)
				}
			},
		},
		{
			name:   "measured with the secret from the environment",
			cpu:    []string{"--server-pid", strconv.Itoa(os.Getpid())},
			getenv: withSecret,
			check: func(t *testing.T, code int, text, out string) {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, text)
				}
				r := readResult(t, out)
				if r.Meta.SelfContained || r.Meta.Target != target {
					t.Errorf("meta %+v", r.Meta)
				}
				for _, name := range []string{"saturation_pps", "cpu_us_per_packet", "allocate_p99"} {
					if v, _, err := r.Lookup(name); err != nil || v <= 0 {
						t.Errorf("%s = %v (%v)", name, v, err)
					}
				}
			},
		},
		{
			name:   "no secret, no run",
			getenv: withoutSecret,
			check: func(t *testing.T, code int, text, _ string) {
				if code == 0 || !strings.Contains(text, clusterkey.EnvTURNSecrets) {
					t.Fatalf("exit %d:\n%s", code, text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			args := append([]string{"bench", "turn", "--target", target, "--out", out}, tt.cpu...)
			code, text := benchCmd(t, ctx, tt.getenv, append(args, tinyTurn...)...)
			tt.check(t, code, text, out)
		})
	}
}
