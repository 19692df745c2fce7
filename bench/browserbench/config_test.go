package browserbench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/scenario"
)

func TestConfigValidate(t *testing.T) {
	target := Target{URL: "ws://198.19.255.1:7880", APIKey: "key", APISecret: "secret"}
	start := func(context.Context, Bridge) (*Server, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"defaults with a target", Config{Target: target}, ""},
		{"defaults with a start function", Config{Start: start}, ""},
		{"every codec", Config{Target: target, Codec: "av1"}, ""},
		{"no server", Config{}, "no server"},
		{"both", Config{Target: target, Start: start}, "both"},
		{"target on loopback", Config{Target: Target{URL: "ws://127.0.0.1:7880", APIKey: "k", APISecret: "s"}}, "198.18.0.0/15"},
		{"target elsewhere", Config{Target: Target{URL: "ws://10.0.0.1:7880", APIKey: "k", APISecret: "s"}}, "198.18.0.0/15"},
		{"target by name", Config{Target: Target{URL: "ws://edge.example.com", APIKey: "k", APISecret: "s"}}, "198.18.0.0/15"},
		{"http target", Config{Target: Target{URL: "http://198.18.0.1:7880", APIKey: "k", APISecret: "s"}}, "ws://"},
		{"bad port", Config{Target: Target{URL: "ws://198.18.0.1:0", APIKey: "k", APISecret: "s"}}, "bad port"},
		{"no secret", Config{Target: Target{URL: "ws://198.18.0.1:7880", APIKey: "k"}}, "key and secret"},
		{"unknown codec", Config{Target: target, Codec: "h265"}, "codec"},
		{"too short", Config{Target: target, Duration: time.Second}, "duration"},
		{"negative settle", Config{Target: target, Settle: -time.Second}, "settle"},
		{"odd camera", Config{Target: target, Width: 8, Height: 8}, "camera"},
		{"fps", Config{Target: target, FPS: 120}, "fps"},
		{"schedule out of order", Config{Target: target, Shaping: Schedule{{10 * time.Second, 500_000}, {5 * time.Second, Off}}}, "increase"},
		{"schedule rate too low", Config{Target: target, Shaping: Schedule{{0, 1000}}}, "32kbit"},
		{"schedule after the end", Config{Target: target, Duration: 20 * time.Second, Shaping: Schedule{{0, Off}, {25 * time.Second, 500_000}}}, "before the run's end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want an ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestBenchConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*BenchConfig)
		want string
	}{
		{"defaults", func(*BenchConfig) {}, ""},
		{"side by side with a cap", func(c *BenchConfig) { c.Servers, c.Cap, c.Repeat = "ours,livekit", "1.5mbit", 3 }, ""},
		{"a schedule", func(c *BenchConfig) { c.Caps = "0s:off,15s:400kbit,30s:off" }, ""},
		{"a target", func(c *BenchConfig) { c.Target, c.APIKey, c.APISecret = "ws://198.18.0.1:7880", "k", "s" }, ""},
		{"target without its secret", func(c *BenchConfig) { c.Target = "ws://198.18.0.1:7880" }, "SPACECAST_BENCH_LK_SECRET"},
		{"target and servers", func(c *BenchConfig) {
			c.Target, c.APIKey, c.APISecret, c.Servers = "ws://198.18.0.1:7880", "k", "s", "ours"
		}, "give one"},
		{"unknown server", func(c *BenchConfig) { c.Servers = "ours,janus" }, "janus"},
		{"server twice", func(c *BenchConfig) { c.Servers = "ours,ours" }, "twice"},
		{"livekit without a binary", func(c *BenchConfig) { c.Servers, c.LiveKitBin = "livekit", "" }, "livekit-bin"},
		{"cap and caps", func(c *BenchConfig) { c.Cap, c.Caps = "1mbit", "0s:1mbit" }, "give one"},
		{"bad cap", func(c *BenchConfig) { c.Cap = "1.5" }, "cap"},
		{"bad schedule", func(c *BenchConfig) { c.Caps = "15s" }, "time:rate"},
		{"schedule beyond the duration", func(c *BenchConfig) { c.Caps, c.Duration = "0s:off,50s:400kbit", 40*time.Second }, "before the run's end"},
		{"repeat", func(c *BenchConfig) { c.Repeat = 0 }, "repeat"},
		{"codec", func(c *BenchConfig) { c.Codec = "theora" }, "codec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultBenchConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want an ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestParseConsoleLine(t *testing.T) {
	for _, tc := range []struct {
		name, line, kind, raw string
		ok                    bool
	}{
		{"chromium console line", `[1207/113652.123:INFO:CONSOLE(12)] "LKT sub {"ts":1,"video":{"framesDecoded":3}}", source: http://198.18.1.1:4000/subscriber.html (12)`, "sub", `{"ts":1,"video":{"framesDecoded":3}}`, true},
		{"newer format", `[1207/113652.123:INFO:CONSOLE:12] "LKT first_frame {"ms":812.5}", source: http://x/ (1)`, "first_frame", `{"ms":812.5}`, true},
		{"without source", `INFO:CONSOLE "LKT published {"ms":1}"`, "published", `{"ms":1}`, true},
		{"no payload", `"LKT connected", source: x`, "connected", `null`, true},
		{"bad json", `"LKT error {oops", source: x`, "error", `null`, true},
		{"other line", `[1207/113652.123:WARNING:foo.cc(1)] something`, "", "", false},
		{"empty kind", `"LKT  {}"`, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := parseConsoleLine(tc.line)
			if ok != tc.ok || ev.Kind != tc.kind || (ok && string(ev.Raw) != tc.raw) {
				t.Fatalf("parseConsoleLine = %q %s %v; want %q %s %v", ev.Kind, ev.Raw, ok, tc.kind, tc.raw, tc.ok)
			}
		})
	}
}

// TestBenchScenarioFile loads a scenario file strictly, as --scenario does.
func TestBenchScenarioFile(t *testing.T) {
	path := t.TempDir() + "/browser.yaml"
	yaml := `scenario: browser
servers: ours,livekit
livekitBin: /opt/livekit-server
repeat: 3
codec: h264
duration: 55s
settle: 2s
caps: 0s:off,15s:400kbit,40s:off
slo: freezes<3
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultBenchConfig()
	if err := scenario.Load(path, "browser", &c); err != nil {
		t.Fatal(err)
	}
	if c.Servers != "ours,livekit" || c.Repeat != 3 || c.Codec != "h264" || c.Duration != 55*time.Second || c.Settle != 2*time.Second || c.SLO != "freezes<3" {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(yaml+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := scenario.Load(path, "browser", &c); err == nil {
		t.Fatal("an unknown key was accepted")
	}
}
