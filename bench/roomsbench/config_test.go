package roomsbench

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"more publishers than participants", func(c *Config) { c.Publishers = 9 }, "publishers"},
		{"no agents", func(c *Config) { c.Agents = 0 }, "agents"},
		{"cut beyond the run", func(c *Config) { c.Cut = &Cut{Agent: 0, At: 9 * time.Second, For: 2 * time.Second} }, "cut"},
		{"cut of a missing agent", func(c *Config) { c.Cut = &Cut{Agent: 5, At: time.Second, For: time.Second} }, "cut"},
		{"target without secret", func(c *Config) { c.Target = "http://x"; c.ClientID = "c" }, "SPACECAST_BENCH_CLIENT_SECRET"},
		{"direct", func(c *Config) { c.LiveKitURL, c.APIKey, c.APISecret = "ws://198.19.255.1:7880", "k", "s" }, ""},
		{"direct with pid", func(c *Config) {
			c.LiveKitURL, c.APIKey, c.APISecret, c.ServerPID = "ws://198.19.255.1:7880", "k", "s", 42
		}, ""},
		{"direct without secret", func(c *Config) { c.LiveKitURL, c.APIKey = "ws://198.19.255.1:7880", "k" }, "SPACECAST_BENCH_LK_SECRET"},
		{"direct on loopback", func(c *Config) { c.LiveKitURL, c.APIKey, c.APISecret = "ws://127.0.0.1:7880", "k", "s" }, "198.18.0.0/15"},
		{"direct and target", func(c *Config) {
			c.LiveKitURL, c.APIKey, c.APISecret = "ws://198.19.255.1:7880", "k", "s"
			c.Target, c.ClientID, c.ClientSecret = "http://x", "c", "s"
		}, "one or the other"},
		{"pid without url", func(c *Config) { c.ServerPID = 42 }, "serverPID"},
		{"video kbps", func(c *Config) { c.VideoKbps = -1 }, "videoKbps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want mention of %q", err, tt.want)
			}
		})
	}
	c := DefaultConfig()
	c.Storm, c.Rooms, c.Participants, c.StormWindow = true, 10, 10, 2*time.Second
	if got := c.spread(); got != 20*time.Millisecond {
		t.Fatalf("storm spread = %v, want 20ms (100 joins in 2s)", got)
	}
}
