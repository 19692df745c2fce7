package security

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane"
)

// tokenAs asks for a client token with the given forwarding headers.
func (s *server) tokenAs(t *testing.T, clientID, secret string, header map[string]string) reply {
	t.Helper()
	return s.send(t, req{method: "POST", path: "/v1/auth/token", header: header,
		body: map[string]string{"grant_type": "client_credentials", "client_id": clientID, "client_secret": secret}})
}

// TestClientAddressFromTheConfiguredHeaderOnly: behind a trusted proxy the
// client address comes from the one header the deployment configured. A
// client that adds the other header itself (the proxy passes it through)
// must not pick its own address, and so its own fresh rate-limit bucket,
// for every request.
func TestClientAddressFromTheConfiguredHeaderOnly(t *testing.T) {
	for _, tc := range []struct {
		configured string
		// real is what the proxy sets; forged what the client adds.
		real, forged func(i int) map[string]string
	}{
		{"X-Forwarded-For",
			func(int) map[string]string { return map[string]string{"X-Forwarded-For": "198.51.100.1"} },
			func(i int) map[string]string {
				return map[string]string{"X-Forwarded-For": "198.51.100.1", "Forwarded": fmt.Sprintf("for=203.0.113.%d", i)}
			}},
		{"Forwarded",
			func(int) map[string]string { return map[string]string{"Forwarded": "for=198.51.100.1"} },
			func(i int) map[string]string {
				return map[string]string{"Forwarded": "for=198.51.100.1", "X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}
			}},
	} {
		t.Run(tc.configured, func(t *testing.T) {
			s := start(t, opts{mutate: func(c *controlplane.Config) {
				c.TrustedProxies = []string{"127.0.0.0/8"}
				c.ClientIPHeader = tc.configured
				c.RateLimit.TokenPerAddress = controlplane.Bucket{Rate: 0.001, Burst: 2}
			}})
			for i := range 2 {
				if r := s.tokenAs(t, "ffffffffffffffffffffffff", "wrong", tc.forged(i)); r.status != http.StatusUnauthorized {
					t.Fatalf("request %d = %d %s", i, r.status, r.body)
				}
			}
			if r := s.tokenAs(t, "ffffffffffffffffffffffff", "wrong", tc.forged(2)); r.status != http.StatusTooManyRequests {
				t.Fatalf("third request from 198.51.100.1 with a forged %s = %d, want 429: the forged header chose the bucket",
					map[string]string{"Forwarded": "X-Forwarded-For", "X-Forwarded-For": "Forwarded"}[tc.configured], r.status)
			}
			// The address the configured header names is what counts.
			if r := s.tokenAs(t, "ffffffffffffffffffffffff", "wrong", tc.real(0)); r.status != http.StatusTooManyRequests {
				t.Fatalf("the real address = %d, want 429", r.status)
			}
		})
	}
}

// TestIPv6RateLimitKeyedPer64: an IPv6 client holds a whole /64; every
// address in it shares one bucket, so it cannot multiply its budget by
// changing its interface identifier.
func TestIPv6RateLimitKeyedPer64(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.RateLimit.TokenPerAddress = controlplane.Bucket{Rate: 0.001, Burst: 2}
	}})
	from := func(a string) map[string]string { return map[string]string{"X-Forwarded-For": a} }
	for i := range 2 {
		if r := s.tokenAs(t, "ffffffffffffffffffffffff", "wrong", from(fmt.Sprintf("2001:db8:1:2::%x", i+1))); r.status != http.StatusUnauthorized {
			t.Fatalf("request %d = %d", i, r.status)
		}
	}
	if r := s.tokenAs(t, "ffffffffffffffffffffffff", "wrong", from("2001:db8:1:2:dead:beef:1:1")); r.status != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64 = %d, want 429", r.status)
	}
	if r := s.tokenAs(t, "ffffffffffffffffffffffff", "wrong", from("2001:db8:1:3::1")); r.status != http.StatusUnauthorized {
		t.Fatalf("another /64 = %d, want 401 (its own bucket)", r.status)
	}
}

// TestPasswordGrantLimitedPerUsername: password guesses against one
// account are limited whatever the addresses they come from; a success
// does not count, and other accounts are not affected.
func TestPasswordGrantLimitedPerUsername(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.RateLimit.TokenPerUsername = controlplane.Bucket{Rate: 0.001, Burst: 3}
	}})
	tn := s.newClient(t, "acme")
	ann := s.newUser(t, tn, "ann@example.com")
	bob := s.newUser(t, tn, "bob@example.com")
	signIn := func(who tenant, password string, i int) reply {
		return s.send(t, req{method: "POST", path: "/v1/auth/token", header: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)},
			body: map[string]string{"grant_type": "password", "client_id": who.clientID, "client_secret": who.secret, "username": who.email, "password": password}})
	}
	for i := range 5 { // successes give their token back
		if r := signIn(ann, ann.password, i); r.status != http.StatusOK {
			t.Fatalf("sign-in %d = %d %s", i, r.status, r.body)
		}
	}
	for i := range 3 {
		if r := signIn(ann, "guess-"+fmt.Sprint(i), 10+i); r.status != http.StatusBadRequest || r.str(t, "error") != "invalid_grant" {
			t.Fatalf("guess %d = %d %s", i, r.status, r.body)
		}
	}
	r := signIn(ann, "guess-3", 20)
	if r.status != http.StatusTooManyRequests || r.str(t, "error") != "slow_down" || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth guess from yet another address = %d %s, want 429 slow_down with Retry-After", r.status, r.body)
	}
	if r := signIn(bob, bob.password, 21); r.status != http.StatusOK {
		t.Fatalf("another user = %d %s", r.status, r.body)
	}
}

// TestStrangerCannotLockClientOut: the per-client bucket of the token
// endpoint counts the requests of the authenticated client only. A
// stranger who knows a client_id (it is not a secret: it is in every
// token) and sends wrong secrets does not use it up; the client's own
// requests do.
func TestStrangerCannotLockClientOut(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.RateLimit.TokenPerClient = controlplane.Bucket{Rate: 0.001, Burst: 2}
	}})
	id, secret, err := controlplane.CreateClient(t.Context(), s.st, "victim", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if r := s.tokenAs(t, string(id), "scs_wrong", map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}); r.status != http.StatusUnauthorized {
			t.Fatalf("stranger's attempt %d = %d %s", i, r.status, r.body)
		}
	}
	for i := range 2 {
		if r := s.tokenAs(t, string(id), secret, nil); r.status != http.StatusOK {
			t.Fatalf("the client's own request %d after the stranger's = %d %s: locked out", i, r.status, r.body)
		}
	}
	if r := s.tokenAs(t, string(id), secret, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("the client's third request = %d, want 429 (its own requests count)", r.status)
	}
}
