package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/report"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/internal/netns"
)

// needNetns fails in CI (where namespaces must work) and skips elsewhere.
func needNetns(t *testing.T) {
	t.Helper()
	if err := netns.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("network namespaces are required in CI: %v", err)
		}
		t.Skipf("no network namespaces: %v", err)
	}
}

func TestBenchRoomsSelfContained(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SDK participants in network namespaces")
	}
	needNetns(t)
	t.Setenv(envReexec, "1") // the agents are this test binary
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// One room of four, two publishing (simulcast VP8 + Opus), over two agents.
	tiny := []string{"bench", "rooms", "--rooms", "1", "--participants", "4", "--publishers", "2", "--agents", "2", "--duration", "5s"}

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r *result.Result, code int, out string)
	}{
		{
			name: "clean run",
			args: []string{"--html", filepath.Join(dir, "rooms.html"), "--slo", "join_p99<5s,loss<5%"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				if v, _, _ := r.Lookup("joined"); v != 4 {
					t.Errorf("joined = %v, want 4", v)
				}
				if v, _, _ := r.Lookup("tracks_received"); v != 12 { // 2 publishers x (camera + mic) x 3 others
					t.Errorf("tracks_received = %v, want 12", v)
				}
				for _, name := range []string{"join_rest_p50", "join_p99", "first_rtp_p99", "owd_p50"} {
					if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 5000 {
						t.Errorf("%s = %v ms (%v)", name, v, err)
					}
				}
				if v, _, _ := r.Lookup("subscriber_bitrate"); v < 20e3 || v > 50e6 {
					t.Errorf("subscriber_bitrate = %v bps", v)
				}
				if v, _, err := r.Lookup("jitter"); err != nil || v < 0 || v > 500 {
					t.Errorf("jitter = %v (%v)", v, err)
				}
				if len(r.Resources.Servers) != 1 || r.Resources.Generator.Samples == 0 {
					t.Errorf("resources = %+v", r.Resources)
				}
				screenshot(t, filepath.Join(dir, "rooms.html"))
			},
		},
		{
			// Agent 1 (participants 2 and 4, one of them publishing) loses
			// its link for 1.5 s: the report must show the loss.
			name: "cut agent loses packets",
			args: []string{"--cut", "1:1500ms:1500ms", "--slo", "loss_max<1%"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				if code == 0 || !strings.Contains(out, "BROKEN loss_max<1%") {
					t.Fatalf("a cut link passed loss_max<1%%: exit %d:\n%s", code, out)
				}
				if v, _, _ := r.Lookup("loss_max"); v < 5 {
					t.Errorf("loss_max = %v%%, want the cut to show", v)
				}
				var peak float64
				for _, s := range r.Series {
					if strings.HasPrefix(s.Name, "loss") {
						for _, p := range s.Points {
							peak = max(peak, p.V)
						}
					}
				}
				if peak < 10 {
					t.Errorf("loss over time peaks at %v%%, want the cut visible", peak)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			code, text := benchCmd(t, ctx, os.Getenv, append(append(tiny, "--out", out), tt.args...)...)
			r, err := result.Read(out)
			if err != nil {
				t.Fatalf("no result (exit %d): %v\n%s", code, err, text)
			}
			tt.check(t, r, code, text)
		})
	}
}

// screenshot renders the report in headless Chromium and checks that it
// drew something substantial.
func screenshot(t *testing.T, page string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required in CI")
		}
		t.Log("chromium missing: report not rendered")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	shot := filepath.Join(t.TempDir(), "shot.png")
	if err := report.Screenshot(ctx, bin, page, shot, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("BENCH_KEEP_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(keep, b, 0o644)
	}
}
