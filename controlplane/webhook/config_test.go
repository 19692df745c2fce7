package webhook

import (
	"errors"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/config"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no workers", func(c *Config) { c.Workers = 0 }, false},
		{"perTenant above workers", func(c *Config) { c.PerTenant = c.Workers + 1 }, false},
		{"perTenant set", func(c *Config) { c.PerTenant = 2 }, true},
		{"retry window below the attempt timeout", func(c *Config) { c.DeliveryTimeout = time.Second }, false},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, false},
		{"negative retries", func(c *Config) { c.Retries = -1 }, false},
		{"zero retries", func(c *Config) { c.Retries = 0 }, true},
		{"max backoff below first", func(c *Config) { c.MaxBackoff = time.Millisecond }, false},
		{"poll too fast", func(c *Config) { c.Poll = time.Millisecond }, false},
		{"keep too short", func(c *Config) { c.Keep = time.Minute }, false},
		{"bad allow", func(c *Config) { c.Allow = []string{"10.0.0.0/33"} }, false},
		{"allow address", func(c *Config) { c.Allow = []string{"10.0.0.7", "fd00::/8"} }, true},
		{"sweep too slow", func(c *Config) { c.Calls.Sweep = time.Hour }, false},
		{"no edge TTL", func(c *Config) { c.Calls.EdgeTTL = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := New(DefaultConfig(), Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New without a store: %v", err)
	}
	if _, err := NewCalls(DefaultCallsConfig(), nil, nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewCalls without a store: %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	in := "workers: 8\nperTenant: 2\ndeliveryTimeout: 2h\nallowPrivate: false\nallow: [10.20.0.0/16]\ncalls:\n  finishGrace: 10s\n"
	if err := config.Decode([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Workers != 8 || c.PerTenant != 2 || c.DeliveryTimeout != 2*time.Hour || c.Calls.FinishGrace != 10*time.Second || c.Calls.EdgeTTL != 45*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	if err := config.Decode([]byte("queueSize: 4096\n"), &c); err == nil {
		t.Fatal("a key the section no longer has was accepted")
	}
}
