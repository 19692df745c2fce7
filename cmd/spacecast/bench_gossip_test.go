package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

func TestBenchGossipSelfContained(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	out, page := filepath.Join(dir, "gossip.json"), filepath.Join(dir, "gossip.html")
	code, text := benchCmd(t, ctx, os.Getenv, "bench", "gossip", "--sizes", "3,5", "--joins", "2", "--kills", "1",
		"--idle", "300ms", "--quiet", "200ms", "--profile", "local", "--timeout", "10s", "--out", out, "--html", page,
		"--slo", "join_p99_worst<5s,detect_p99_worst<10s,idle_bytes_per_node_worst<100KB/s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	r := readResult(t, out)
	if !r.Meta.SelfContained || r.Scenario != "gossip" {
		t.Errorf("meta %+v", r.Meta)
	}
	for _, name := range []string{"join_n3_p50", "join_n5_p99", "detect_n5_p50", "detect_n5_p99", "form_n5"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 10_000 {
			t.Errorf("%s = %v ms (%v), want a plausible time", name, v, err)
		}
	}
	for _, name := range []string{"idle_bytes_per_node_n3", "idle_bytes_per_node_n5"} {
		// A ping/ack pair every probe interval: tens to a few thousand B/s.
		if v, _, err := r.Lookup(name); err != nil || v < 10 || v > 100_000 {
			t.Errorf("%s = %v B/s (%v)", name, v, err)
		}
	}
	if len(r.Plots) != 2 || len(r.FailedChecks()) != 0 || len(r.Resources.Servers) != 1 {
		t.Errorf("plots %d, failed checks %+v, servers %+v", len(r.Plots), r.FailedChecks(), r.Resources.Servers)
	}
	if !strings.Contains(text, "all 3 objectives met") || !strings.Contains(text, "| 5 |") {
		t.Errorf("summary lacks the table or the SLO verdict:\n%s", text)
	}
	renderReport(t, page, "bench-gossip")

	t.Run("slo broken exits non-zero", func(t *testing.T) {
		code, text := benchCmd(t, ctx, os.Getenv, "bench", "gossip", "--sizes", "3", "--joins", "1", "--kills", "0",
			"--idle", "200ms", "--quiet", "100ms", "--profile", "local", "--slo", "idle_bytes_per_node_worst<1B/s")
		if code == 0 || !strings.Contains(text, "BROKEN idle_bytes_per_node_worst<1B/s") {
			t.Fatalf("exit %d:\n%s", code, text)
		}
	})
}

// TestBenchGossipObserve joins a running (in-process) encrypted cluster as
// an observer, with the keyring from the environment.
func TestBenchGossipObserve(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := []byte("0123456789abcdef0123456789abcdef")
	var seed string
	for i := range 3 {
		pc, ln, err := gossip.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gc := gossip.Default()
		gc.NodeID, gc.Region, gc.Profile, gc.BindAddr = "edge"+strconv.Itoa(i), "test", gossip.ProfileLocal, "127.0.0.1:0"
		if seed != "" {
			gc.Seeds = []string{seed}
		}
		n, err := gossip.New(gc, gossip.Deps{PacketConn: pc, Listener: ln, Keyring: [][]byte{key}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		nctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- n.Run(nctx) }()
		t.Cleanup(func() { stop(); <-done })
		if seed == "" {
			seed = n.Addr()
		}
	}
	keyEnv := func(k string) string {
		if k == clusterkey.EnvGossipKeys {
			return base64.StdEncoding.EncodeToString(key)
		}
		return os.Getenv(k)
	}
	noKey := func(k string) string {
		if k == clusterkey.EnvGossipKeys {
			return ""
		}
		return os.Getenv(k)
	}
	tests := []struct {
		name   string
		getenv func(string) string
		check  func(t *testing.T, code int, text, out string)
	}{
		{
			name:   "observer and probes",
			getenv: keyEnv,
			check: func(t *testing.T, code int, text, out string) {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, text)
				}
				r := readResult(t, out)
				if r.Meta.SelfContained || r.Meta.Target != "gossip:"+seed {
					t.Errorf("meta %+v", r.Meta)
				}
				if v, _, _ := r.Lookup("members"); v != 4 {
					t.Errorf("members = %v, want the 3 edges and the observer", v)
				}
				for _, name := range []string{"observer_converge", "probe_join_p50", "probe_converge_p50", "probe_detect_p99"} {
					if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 10_000 {
						t.Errorf("%s = %v ms (%v)", name, v, err)
					}
				}
				if v, _, _ := r.Lookup("idle_bytes_per_node"); v <= 0 {
					t.Errorf("idle_bytes_per_node = %v", v)
				}
			},
		},
		{
			// Without the keyring the observer cannot read the cluster's
			// gossip: the run fails instead of measuring nothing.
			name:   "no keyring",
			getenv: noKey,
			check: func(t *testing.T, code int, text, _ string) {
				if code == 0 || !strings.Contains(text, "did not settle") {
					t.Fatalf("exit %d:\n%s", code, text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			code, text := benchCmd(t, ctx, tt.getenv, "bench", "gossip", "--target", "gossip:"+seed, "--profile", "local",
				"--probes", "1", "--idle", "300ms", "--settle", "300ms", "--timeout", "3s", "--out", out)
			tt.check(t, code, text, out)
		})
	}
}
