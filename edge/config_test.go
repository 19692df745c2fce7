package edge

import (
	"errors"
	"testing"

	"github.com/spacecast/spacecast/internal/config"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"bad listen", func(c *Config) { c.Listen = "nope" }},
		{"bad public url", func(c *Config) { c.PublicURL = "ftp://x" }},
		{"no node id", func(c *Config) { c.NodeID = "" }},
		{"udp port range", func(c *Config) { c.RTC.UDPPort = 70000 }},
		{"bad node ip", func(c *Config) { c.RTC.NodeIPs = []string{"x"} }},
		{"negative max participants", func(c *Config) { c.Room.MaxParticipants = -1 }},
		{"zero empty timeout", func(c *Config) { c.Room.EmptyTimeout = 0 }},
		{"bad turn url", func(c *Config) { c.TURNURLs = []string{"http://x"} }},
		{"tiny message cap", func(c *Config) { c.MaxSignalMessageBytes = 10 }},
		{"unknown congestion control", func(c *Config) { c.RTC.CongestionControl = "bbr" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	in := "listen: 0.0.0.0:9000\nrtc:\n  udpPort: 9001\nroom:\n  emptyTimeout: 30s\nturnURLs: [\"turn:t.example:3478\"]\n"
	if err := config.Decode([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.RTC.UDPPort != 9001 || c.Room.EmptyTimeout.Seconds() != 30 || c.Room.DepartureTimeout == 0 {
		t.Fatalf("decoded %+v", c)
	}
	if err := config.Decode([]byte("rtc:\n  udpPrt: 1\n"), &c); err == nil {
		t.Fatal("unknown key accepted")
	}
	ice := iceServers(c, "0123456789abcdef", "alice")
	if len(ice) != 1 || ice[0].Username == "" || ice[0].Credential == "" {
		t.Fatalf("ice servers %+v", ice)
	}
}
