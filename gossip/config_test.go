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
		{"wan section", func(c *Config) {
			c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", AdvertiseAddr: "198.18.0.1:7947", Seeds: []string{"cp-us.example.com:7947"}, Members: 2}
		}, true},
		{"wan without bindAddr", func(c *Config) { c.WAN = WANConfig{Seeds: []string{"198.18.0.2:7947"}} }, false},
		{"wan on the region pool's port", func(c *Config) { c.WAN.BindAddr = "0.0.0.0:7946" }, false},
		{"wan on the same port of another address", func(c *Config) { c.BindAddr = "10.0.0.1:7946"; c.WAN.BindAddr = "198.18.0.1:7946" }, true},
		{"wan bad seed", func(c *Config) { c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", Seeds: []string{"no-port"}} }, false},
		{"wan unspecified advertise", func(c *Config) { c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", AdvertiseAddr: "0.0.0.0:7947"} }, false},
		{"wan members negative", func(c *Config) { c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", Members: -1} }, false},
		{"wan members too many", func(c *Config) { c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", Members: 33} }, false},
		{"wan bad profile", func(c *Config) { c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", Profile: "fast"} }, false},
		{"wan bad timing", func(c *Config) {
			c.WAN = WANConfig{BindAddr: "0.0.0.0:7947", Timing: Timing{ProbeInterval: time.Second, ProbeTimeout: 2 * time.Second}}
		}, false},
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

// The wan section decodes strictly, its timing over the wan profile by
// default, and its absence leaves the node in one pool.
func TestConfigWANSection(t *testing.T) {
	c := validConfig()
	if c.WAN.Enabled() {
		t.Fatal("default config has a wan section")
	}
	err := config.Decode([]byte(`
nodeId: edge-9
region: us-east
bindAddr: 0.0.0.0:7946
advertiseAddr: 198.18.0.9:7946
wan:
  bindAddr: 0.0.0.0:7947
  advertiseAddr: 198.18.0.9:7947
  seeds: [198.51.100.1:7947]
  members: 2
  probeInterval: 4s
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.WAN.Enabled() || c.WAN.members() != 2 {
		t.Fatalf("wan %+v", c.WAN)
	}
	tm, err := c.WAN.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if wan := WANTiming(); tm.ProbeInterval != 4*time.Second || tm.ProbeTimeout != wan.ProbeTimeout || tm.SuspicionMult != wan.SuspicionMult {
		t.Fatalf("wan timing %+v", tm)
	}
	if lan, _ := c.Effective(); lan.ProbeInterval != LANTiming().ProbeInterval {
		t.Fatalf("the wan section changed the region pool's timing: %+v", lan)
	}
	if (WANConfig{BindAddr: "0.0.0.0:7947"}).members() != DefaultWANMembers {
		t.Fatal("members default")
	}
	if err := config.Decode([]byte("wan:\n  bindadr: 0.0.0.0:7947\n"), &c); err == nil {
		t.Fatal("unknown wan key accepted")
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
