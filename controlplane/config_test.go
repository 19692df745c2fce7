package controlplane

import (
	"errors"
	"testing"
	"time"

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
		{"no listen", func(c *Config) { c.Listen = "" }},
		{"public url with path", func(c *Config) { c.PublicURL = "https://x.test/app" }},
		{"public url scheme", func(c *Config) { c.PublicURL = "ftp://x.test" }},
		{"zero access ttl", func(c *Config) { c.AccessTokenTTL = 0 }},
		{"refresh shorter than access", func(c *Config) { c.RefreshTokenTTL = time.Hour }},
		{"tiny body limit", func(c *Config) { c.MaxBodyBytes = 10 }},
		{"negative rate", func(c *Config) { c.RateLimit.TokenPerClient.Rate = -1 }},
		{"rate without burst", func(c *Config) { c.RateLimit.TokenPerAddress = Bucket{Rate: 1} }},
		{"edge url scheme", func(c *Config) { c.DevEdge.URL = "http://edge" }},
		{"read cache too long", func(c *Config) { c.ReadCacheTTL = time.Hour }},
		{"trusted proxy not an address", func(c *Config) { c.TrustedProxies = []string{"proxy.example"} }},
		{"client IP header neither Forwarded nor X-Forwarded-For", func(c *Config) { c.ClientIPHeader = "X-Real-IP" }},
		{"revocation sync over a second", func(c *Config) { c.RevocationSync = 2 * time.Second }},
		{"refresh tokens outliving the revocations", func(c *Config) { c.RefreshTokenTTL = 400 * 24 * time.Hour }},
		{"guest join rate without burst", func(c *Config) { c.RateLimit.GuestJoinPerAddress = Bucket{Rate: 1} }},
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
	err := config.Decode([]byte("listen: 0.0.0.0:9000\naccessTokenTTL: 1h\nrefreshTokenTTL: 48h\nrateLimit:\n  tokenPerAddress: {rate: 1, burst: 2}\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.AccessTokenTTL != time.Hour || c.RateLimit.TokenPerAddress.Burst != 2 || c.MediaTokenTTL != 10*time.Minute {
		t.Fatalf("decoded %+v", c)
	}
	if err := config.Decode([]byte("listn: x\n"), &c); err == nil {
		t.Fatal("unknown key accepted")
	}
}
