package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchBrowserRefuses checks that a command line the browser bench
// cannot run fails at once with a message that says why, before any
// namespace or browser is started. (The bench itself runs end to end in
// bench/browserbench's tests.)
func TestBenchBrowserRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"a cap without a unit", nil, []string{"--cap", "1.5"}, 1, "kbit, mbit"},
		{"kilobytes", nil, []string{"--cap", "200kbps"}, 1, "kbit, mbit"},
		{"cap and caps", nil, []string{"--cap", "1mbit", "--caps", "0s:off,5s:1mbit"}, 1, "--cap and --caps"},
		{"a schedule out of order", nil, []string{"--caps", "10s:1mbit,5s:off"}, 1, "increase"},
		{"an unknown server", nil, []string{"--servers", "ours,janus"}, 1, "janus"},
		{"an unknown codec", nil, []string{"--codec", "h265"}, 1, "codec"},
		{"a target without its secret", nil, []string{"--target", "ws://198.18.0.1:7880"}, 1, "SPACECAST_BENCH_LK_SECRET"},
		{"a target on loopback", map[string]string{envBenchLKKey: "k", envBenchLKSecret: "s"}, []string{"--target", "ws://127.0.0.1:7880"}, 1, "198.18.0.0/15"},
		{"target and servers", map[string]string{envBenchLKKey: "k", envBenchLKSecret: "s"}, []string{"--target", "ws://198.18.0.1:7880", "--servers", "livekit"}, 1, "give one"},
		{"a loss without a percent sign", nil, []string{"--loss", "5"}, 1, "a fraction"},
		{"too much loss", nil, []string{"--loss", "70%"}, 1, "at most 50%"},
		{"a negative delay", nil, []string{"--delay", "-5ms"}, 1, "delay"},
		{"a jitter of seconds", nil, []string{"--jitter", "3s"}, 1, "jitter 3s"},
		{"no subscriber", nil, []string{"--subscribers", "0"}, 1, "subscribers 0"},
		{"a running livekit without its secret", nil, []string{"--livekit-url", "ws://198.18.0.1:7880"}, 1, "--livekit-url needs"},
		{"a running livekit elsewhere", map[string]string{envBenchLKKey: "k", envBenchLKSecret: "s"}, []string{"--livekit-url", "ws://10.1.1.1:7880"}, 1, "198.18.0.0/15"},
		{"a running livekit left out", map[string]string{envBenchLKKey: "k", envBenchLKSecret: "s"}, []string{"--livekit-url", "ws://198.18.0.1:7880", "--servers", "ours"}, 1, "without livekit"},
		{"a broken objective", nil, []string{"--slo", "freezes<<1"}, 1, "slo"},
		{"an argument", nil, []string{"extra"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, ctx, tc.env, append([]string{"bench", "browser"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d with %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}
