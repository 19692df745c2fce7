package controlplane

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// tokenFrom calls the token endpoint with forwarding headers.
func (e *env) tokenFrom(t *testing.T, hdr map[string]string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": "ffffffffffffffffffffffff", "client_secret": "x"})
	req, err := http.NewRequest("POST", e.base+"/v1/auth/token", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRateLimitBehindProxy: the per-address limit keys on the address a
// trusted proxy forwards, and ignores forwarding headers from anyone else.
func TestRateLimitBehindProxy(t *testing.T) {
	xff := func(a string) map[string]string { return map[string]string{"X-Forwarded-For": a} }
	fwd := func(a string) map[string]string { return map[string]string{"Forwarded": "for=" + a + ";proto=https"} }
	tests := []struct {
		name    string
		trusted []string
		header  string            // the configured forwarding header ("": X-Forwarded-For)
		spend   map[string]string // three requests that use up the bucket
		other   map[string]string // the fourth request
		want    int
	}{
		{"trusted proxy: another client has its own bucket (XFF)", []string{"127.0.0.0/8"}, "", xff("198.51.100.1"), xff("198.51.100.2"), 401},
		{"trusted proxy: same client is limited (XFF)", []string{"127.0.0.0/8"}, "", xff("198.51.100.1"), xff("198.51.100.1"), 429},
		{"trusted proxy: a spoofed leftmost entry does not help", []string{"127.0.0.1"}, "", xff("198.51.100.1"), xff("203.0.113.5, 198.51.100.1"), 429},
		{"trusted proxy: Forwarded", []string{"127.0.0.0/8"}, "Forwarded", fwd("198.51.100.1"), fwd("198.51.100.2"), 401},
		{"trusted proxy: Forwarded not read when XFF is configured", []string{"127.0.0.0/8"}, "", fwd("198.51.100.1"), fwd("198.51.100.2"), 429},
		{"untrusted peer: XFF ignored", nil, "", xff("198.51.100.1"), xff("198.51.100.2"), 429},
		{"untrusted peer: Forwarded ignored", []string{"10.0.0.0/8"}, "Forwarded", fwd("198.51.100.1"), fwd("198.51.100.2"), 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, envOpts{mutate: func(c *Config) {
				c.RateLimit.TokenPerAddress = Bucket{Rate: 0.01, Burst: 3}
				c.TrustedProxies = tt.trusted
				if tt.header != "" {
					c.ClientIPHeader = tt.header
				}
			}})
			for i := range 3 {
				if s := e.tokenFrom(t, tt.spend); s != 401 {
					t.Fatalf("request %d: %d", i, s)
				}
			}
			if s := e.tokenFrom(t, tt.other); s != tt.want {
				t.Fatalf("4th request = %d, want %d", s, tt.want)
			}
		})
	}
}
