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
		{"quality", Config{Target: target, Quality: "best"}, "quality"},
		{"schedule out of order", Config{Target: target, Subscribers: []Link{{Shaping: Schedule{{10 * time.Second, 500_000}, {5 * time.Second, Off}}}}}, "increase"},
		{"schedule rate too low", Config{Target: target, Subscribers: []Link{{Shaping: Schedule{{0, 1000}}}}}, "32kbit"},
		{"schedule after the end", Config{Target: target, Duration: 20 * time.Second, Subscribers: []Link{{Shaping: Schedule{{0, Off}, {25 * time.Second, 500_000}}}}}, "before the run's end"},
		{"three subscribers, each its link", Config{Target: target, Subscribers: []Link{{}, {Loss: 0.05}, {Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, Shaping: Fixed(1_000_000)}}}, ""},
		{"which subscriber is wrong", Config{Target: target, Subscribers: []Link{{}, {Loss: 0.8}}}, "subscriber 2: browserbench: invalid: loss"},
		{"negative loss", Config{Target: target, Subscribers: []Link{{Loss: -0.1}}}, "loss"},
		{"negative delay", Config{Target: target, Subscribers: []Link{{Delay: -time.Millisecond}}}, "delay"},
		{"delay too long", Config{Target: target, Subscribers: []Link{{Delay: 3 * time.Second}}}, "delay 3s"},
		{"negative jitter", Config{Target: target, Subscribers: []Link{{Jitter: -time.Millisecond}}}, "jitter"},
		{"too many subscribers", Config{Target: target, Subscribers: make([]Link, 17)}, "17 subscribers"},
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
		{"loss, delay and jitter for three subscribers", func(c *BenchConfig) {
			c.Subscribers, c.Loss, c.Delay, c.Jitter = 3, "5%", 40*time.Millisecond, 20*time.Millisecond
		}, ""},
		{"a link each", func(c *BenchConfig) { c.Links = []LinkSpec{{Cap: "1.5mbit"}, {Loss: "2%"}} }, ""},
		{"links and a flat key", func(c *BenchConfig) { c.Links, c.Loss = []LinkSpec{{Cap: "1.5mbit"}}, "1%" }, "links gives each"},
		{"a bad link names its index", func(c *BenchConfig) { c.Links = []LinkSpec{{}, {Cap: "fast"}} }, "links[1]: cap"},
		{"no subscriber", func(c *BenchConfig) { c.Subscribers = 0 }, "subscribers 0"},
		{"loss without a unit above 1", func(c *BenchConfig) { c.Loss = "5" }, "a fraction"},
		{"loss too high", func(c *BenchConfig) { c.Loss = "60%" }, "at most 50%"},
		{"loss not a number", func(c *BenchConfig) { c.Loss = "some" }, "percentage"},
		{"negative delay", func(c *BenchConfig) { c.Delay = -time.Second }, "delay"},
		{"jitter too long", func(c *BenchConfig) { c.Jitter = 5 * time.Second }, "jitter 5s"},
		{"a running livekit", func(c *BenchConfig) { c.LiveKitURL, c.APIKey, c.APISecret = "ws://198.18.0.1:7880", "k", "s" }, ""},
		{"a running livekit without its secret", func(c *BenchConfig) { c.LiveKitURL = "ws://198.18.0.1:7880" }, "--livekit-url needs"},
		{"a running livekit on loopback", func(c *BenchConfig) { c.LiveKitURL, c.APIKey, c.APISecret = "ws://127.0.0.1:7880", "k", "s" }, "198.18.0.0/15"},
		{"a running livekit not compared", func(c *BenchConfig) {
			c.LiveKitURL, c.APIKey, c.APISecret, c.Servers = "ws://198.18.0.1:7880", "k", "s", "ours"
		}, "without livekit in --servers"},
		{"a running livekit and a target", func(c *BenchConfig) {
			c.LiveKitURL, c.Target, c.APIKey, c.APISecret = "ws://198.18.0.1:7880", "ws://198.18.0.1:7881", "k", "s"
		}, "give one"},
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
loss: 2%
delay: 30ms
jitter: 10ms
subscribers: 2
slo: freezes<3
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultBenchConfig()
	if err := scenario.Load(path, "browser", &c); err != nil {
		t.Fatal(err)
	}
	if c.Servers != "ours,livekit" || c.Repeat != 3 || c.Codec != "h264" || c.Duration != 55*time.Second || c.Settle != 2*time.Second || c.SLO != "freezes<3" ||
		c.Loss != "2%" || c.Delay != 30*time.Millisecond || c.Jitter != 10*time.Millisecond || c.Subscribers != 2 {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	links, err := c.links()
	if err != nil || len(links) != 2 || links[1].Loss != 0.02 || links[1].Shaping.String() != "0s:off,15s:400kbit,40s:off" {
		t.Fatalf("links %+v, %v", links, err)
	}
	// A link each.
	each := "scenario: browser\nlinks:\n  - cap: 1.5mbit\n  - loss: 5%\n    delay: 40ms\n"
	if err := os.WriteFile(path, []byte(each), 0o600); err != nil {
		t.Fatal(err)
	}
	c = DefaultBenchConfig()
	if err := scenario.Load(path, "browser", &c); err != nil {
		t.Fatal(err)
	}
	if links, err = c.links(); err != nil || len(links) != 2 || links[0].Shaping.String() != "0s:1.5mbit" || links[1].Delay != 40*time.Millisecond {
		t.Fatalf("links %+v, %v", links, err)
	}
	if err := os.WriteFile(path, []byte(yaml+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := scenario.Load(path, "browser", &c); err == nil {
		t.Fatal("an unknown key was accepted")
	}
}
