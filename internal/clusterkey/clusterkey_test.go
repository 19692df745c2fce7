package clusterkey

import (
	"errors"
	"testing"
)

func TestGenerateValidates(t *testing.T) {
	c, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("generated config does not validate: %v", err)
	}
	ring, err := c.GossipKeyring()
	if err != nil || len(ring) != 1 || len(ring[0]) != 32 {
		t.Fatalf("GossipKeyring() = %v, %v", ring, err)
	}
}

func TestValidateRejects(t *testing.T) {
	good, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no api keys", func(c *Config) { c.APIKeys = nil }},
		{"short api secret", func(c *Config) { c.APIKeys = map[string]string{c.SigningKey: "short"} }},
		{"signing key not listed", func(c *Config) { c.SigningKey = "nope" }},
		{"no turn secret", func(c *Config) { c.TURNSecrets = nil }},
		{"short turn secret", func(c *Config) { c.TURNSecrets = []string{"x"} }},
		{"gossip key not base64", func(c *Config) { c.GossipKeys = []string{"!!"} }},
		{"gossip key wrong size", func(c *Config) { c.GossipKeys = []string{"AAAA"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.APIKeys = map[string]string{}
			for k, v := range good.APIKeys {
				c.APIKeys[k] = v
			}
			tt.mutate(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		EnvAPIKeys:     "k1:0123456789abcdef0123456789abcdef, k2:fedcba9876543210fedcba9876543210",
		EnvSigningKey:  "k2",
		EnvTURNSecrets: "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb",
	}
	var c Config
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if len(c.APIKeys) != 2 || c.SigningKey != "k2" || len(c.TURNSecrets) != 2 {
		t.Fatalf("ApplyEnv() = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	bad := Config{}
	if err := bad.ApplyEnv(func(k string) string {
		if k == EnvAPIKeys {
			return "nocolon"
		}
		return ""
	}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ApplyEnv(bad) = %v, want ErrInvalid", err)
	}
}
