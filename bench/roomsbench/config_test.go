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
		{"cut against a remote target", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret = "https://api.example.com", "c", "s"
			c.Cut = &Cut{Agent: 0, At: time.Second, For: time.Second}
		}, "cut"},
		{"cut against a loopback target", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret = "http://127.0.0.1:8080", "c", "s"
			c.Cut = &Cut{Agent: 0, At: time.Second, For: time.Second}
		}, ""},
		{"pid of a loopback target", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret, c.ServerPID = "http://localhost:8080", "c", "s", 42
		}, ""},
		{"pid of a remote target", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret, c.ServerPID = "https://api.example.com", "c", "s", 42
		}, "serverPID"},
		{"bad loopback ports", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret, c.LoopbackPorts = "http://127.0.0.1:8080", "c", "s", "tcp:7880,7882"
		}, "loopbackPorts"},
		{"record", func(c *Config) { c.Record = true }, ""},
		{"record a short run", func(c *Config) { c.Record, c.Duration = true, 2*time.Second }, "record"},
		{"record without the control plane", func(c *Config) {
			c.Record, c.LiveKitURL, c.APIKey, c.APISecret = true, "ws://198.19.255.1:7880", "k", "s"
		}, "record"},
		{"record dir of a self-contained run", func(c *Config) { c.Record, c.RecordDir = true, "/x" }, "recordDir"},
		{"target not a URL", func(c *Config) { c.Target, c.ClientID, c.ClientSecret = "127.0.0.1:8080", "c", "s" }, "http(s)://"},
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

func TestLoopbackTarget(t *testing.T) {
	tests := []struct {
		name, url string
		want      string // "" = not on loopback
		err       bool
	}{
		{"dev default", "http://127.0.0.1:8080", "127.0.0.1:8080", false},
		{"localhost", "http://localhost:8080/", "127.0.0.1:8080", false},
		{"other loopback, default port", "http://127.0.0.2", "127.0.0.2:80", false},
		{"https default port", "https://127.0.0.1", "127.0.0.1:443", false},
		{"remote", "https://api.example.com", "", false},
		{"bench range", "http://198.18.0.1:8080", "", false},
		{"ipv6 loopback", "http://[::1]:8080", "", false},
		{"no scheme", "127.0.0.1:8080", "", true},
		{"websocket", "ws://127.0.0.1:7880", "", true},
		{"port 0", "http://127.0.0.1:0", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lb, err := loopbackTarget(tt.url)
			if (err != nil) != tt.err {
				t.Fatalf("loopbackTarget(%q) error %v, want error %v", tt.url, err, tt.err)
			}
			if tt.want == "" {
				if lb {
					t.Fatalf("loopbackTarget(%q) = %v on loopback", tt.url, got)
				}
				return
			}
			if !lb || got.String() != tt.want {
				t.Fatalf("loopbackTarget(%q) = %v, %v; want %s", tt.url, got, lb, tt.want)
			}
		})
	}
}

func TestBridgePorts(t *testing.T) {
	c := DefaultConfig()
	ps, err := c.bridgePorts(8080)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	if strings.Join(got, ",") != "tcp:8080,"+DefaultLoopbackPorts {
		t.Fatalf("default ports %v", got)
	}
	c.LoopbackPorts = "tcp:7880,udp:7882,tcp:8080"
	ps, err = c.bridgePorts(8080)
	if err != nil || len(ps) != 3 {
		t.Fatalf("ports %v, %v: want the API's once", ps, err)
	}
}
