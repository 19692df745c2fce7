package gossip

import (
	"errors"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/config"
)

func validConfig() Config {
	c := Default()
	c.NodeID, c.Region = "edge-1", "eu-west"
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"default with id and region", func(*Config) {}, true},
		{"no node id", func(c *Config) { c.NodeID = "" }, false},
		{"bad role", func(c *Config) { c.Role = "sfu" }, false},
		{"no region", func(c *Config) { c.Region = "" }, false},
		{"bad bind", func(c *Config) { c.BindAddr = "nope" }, false},
		{"unspecified advertise", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" }, false},
		{"advertise ok", func(c *Config) { c.AdvertiseAddr = "198.18.0.1:7946" }, true},
		{"bad seed", func(c *Config) { c.Seeds = []string{"host-without-port"} }, false},
		{"dns seed", func(c *Config) { c.Seeds = []string{"edge-2.internal:7946"} }, true},
		{"bad profile", func(c *Config) { c.Profile = "fast" }, false},
		{"timeout not below interval", func(c *Config) { c.ProbeTimeout = time.Second; c.ProbeInterval = time.Second }, false},
		{"suspicion too low", func(c *Config) { c.SuspicionMult = 1 }, false},
		{"negative", func(c *Config) { c.LoadInterval = -time.Second }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestConfigYAMLOverridesProfile(t *testing.T) {
	c := validConfig()
	err := config.Decode([]byte(`
nodeId: edge-9
region: us-east
profile: wan
seeds: ["198.18.0.1:7946"]
probeInterval: 2s
suspicionMult: 5
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := c.Effective()
	if err != nil {
		t.Fatal(err)
	}
	wan := WANTiming()
	if tm.ProbeInterval != 2*time.Second || tm.SuspicionMult != 5 || tm.ProbeTimeout != wan.ProbeTimeout || tm.GossipInterval != wan.GossipInterval {
		t.Fatalf("effective timing %+v", tm)
	}
	if err := config.Decode([]byte("probeIntervall: 1s\n"), &c); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestProfilesValidate(t *testing.T) {
	for _, p := range []string{ProfileLAN, ProfileWAN, ProfileLocal} {
		c := validConfig()
		c.Profile = p
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
