package controlplane

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/clientip"
	"github.com/spacecast/spacecast/controlplane/store"
)

// ErrInvalidConfig marks an unusable `controlplane:` section.
var ErrInvalidConfig = errors.New("controlplane: invalid config")

// Config is the `controlplane:` section of the config file.
type Config struct {
	// Listen is the API's address (host:port).
	Listen string `yaml:"listen"`
	// PublicURL is the public web base (scheme://host[:port], no path) used
	// in generate-access URLs: <publicURL>/room/<alias>?...
	PublicURL string `yaml:"publicURL"`

	AccessTokenTTL    time.Duration `yaml:"accessTokenTTL"`    // REST access tokens (7 days)
	RefreshTokenTTL   time.Duration `yaml:"refreshTokenTTL"`   // REST refresh tokens (30 days)
	SessionTTL        time.Duration `yaml:"sessionTTL"`        // join session credentials (4 h)
	MediaTokenTTL     time.Duration `yaml:"mediaTokenTTL"`     // LiveKit media tokens (10 min)
	TURNCredentialTTL time.Duration `yaml:"turnCredentialTTL"` // TURN REST credentials (12 h)
	// KeyRefresh is how often a replica re-reads the signing keys (10 s),
	// in case it missed the store's change notification: a key rotated on
	// one replica is heard by the others at once (store.Changes), and at
	// worst after this.
	KeyRefresh time.Duration `yaml:"keyRefresh"`
	// RevocationSync is how stale a replica's copy of the token
	// revocations (revoked tokens and families, rotated client secrets,
	// deleted clients and users) may get (500 ms, at most 1 s): a
	// revocation made anywhere holds on every replica within it.
	RevocationSync time.Duration `yaml:"revocationSync"`

	// MaxBodyBytes caps request bodies (1 MiB); larger ones get 413.
	MaxBodyBytes int `yaml:"maxBodyBytes"`
	// RequestTimeout bounds the storage work of one request (10 s).
	RequestTimeout time.Duration `yaml:"requestTimeout"`
	// ShutdownTimeout bounds the drain of in-flight requests (30 s).
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// DrainDelay is how long a stopping replica keeps serving after it
	// reports not ready (/readyz 503) and before it stops accepting
	// connections (5 s): the time a load balancer takes to notice and send
	// new requests elsewhere. Every answer meanwhile closes its
	// connection, so kept-alive clients reconnect to another replica.
	// 0 stops accepting at once (one process, no load balancer).
	DrainDelay time.Duration `yaml:"drainDelay"`
	// HSTS sends Strict-Transport-Security on every answer: set by the
	// process when it serves HTTPS itself (the file's tls: section).
	HSTS bool `yaml:"-"`
	// ReadCacheTTL caches rooms and room roles for authenticated reads on
	// this replica (1 s; 0 disables). This replica's writes clear it at
	// once; another replica's writes show within the TTL.
	ReadCacheTTL time.Duration `yaml:"readCacheTTL"`

	RateLimit RateLimitConfig `yaml:"rateLimit"`

	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes)
	// whose ClientIPHeader names the client address, for the per-address
	// rate limits and placement. Empty: the TCP peer is the client and
	// forwarding headers are ignored.
	TrustedProxies []string `yaml:"trustedProxies"`
	// ClientIPHeader is the one header the trusted proxies set:
	// X-Forwarded-For (the default) or Forwarded. The other is never read:
	// a proxy passes a client's own copy of it through untouched.
	ClientIPHeader string `yaml:"clientIPHeader"`

	// DevEdge is the single edge served when Deps.Placer is nil
	// (spacecast dev, one-box deployments).
	DevEdge EdgeConfig `yaml:"devEdge"`
}

// RateLimitConfig limits what a stranger can do cheaply and repeat:
// guess passwords, mint tokens, create users, join rooms. Source addresses
// are keyed per IPv4 address and per IPv6 /64.
type RateLimitConfig struct {
	// TokenPerAddress limits POST /v1/auth/token and /v1/auth/revoke per
	// source address.
	TokenPerAddress Bucket `yaml:"tokenPerAddress"`
	// TokenPerClient limits the token requests of one client, counted once
	// the client has authenticated (its secret, its client token or one of
	// its refresh tokens): a stranger who only knows a client_id cannot
	// use up its bucket.
	TokenPerClient Bucket `yaml:"tokenPerClient"`
	// TokenPerUsername limits failed password grants per username (of one
	// client): each attempt takes a token, a success gives it back.
	TokenPerUsername Bucket `yaml:"tokenPerUsername"`
	// CreateUserPerClient limits POST /v1/users per client.
	CreateUserPerClient Bucket `yaml:"createUserPerClient"`
	// JoinPerAddress limits POST /v1/rooms/{alias}/join per source address,
	// whatever the credential.
	JoinPerAddress Bucket `yaml:"joinPerAddress"`
	// GuestJoinPerAddress further limits joins without any credential (a
	// guest entering a public room) per source address.
	GuestJoinPerAddress Bucket `yaml:"guestJoinPerAddress"`
	// MaxKeys bounds the buckets kept per limiter (100,000).
	MaxKeys int `yaml:"maxKeys"`
	// PerReplica keeps the buckets in each replica's memory only, so that
	// with N replicas the service admits up to N times each limit. Off by
	// default: the buckets live in the store and every limit is the
	// service's (see package ratelimit for the error of that scheme).
	PerReplica bool `yaml:"perReplica"`
}

// Disabled returns c with every limiter off (load tests that drive the
// control plane from one address on purpose).
func (c RateLimitConfig) Disabled() RateLimitConfig {
	return RateLimitConfig{MaxKeys: c.MaxKeys, PerReplica: c.PerReplica}
}

// Bucket is a token bucket: Rate per second, up to Burst. Rate 0 disables.
type Bucket struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// EdgeConfig describes one edge for the static placer.
type EdgeConfig struct {
	URL      string   `yaml:"url"` // ws:// or wss:// signalling base
	Region   string   `yaml:"region"`
	NodeID   string   `yaml:"nodeId"`
	TURNURLs []string `yaml:"turnURLs"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		PublicURL:         "http://127.0.0.1:8080",
		AccessTokenTTL:    7 * 24 * time.Hour,
		RefreshTokenTTL:   30 * 24 * time.Hour,
		SessionTTL:        4 * time.Hour,
		MediaTokenTTL:     10 * time.Minute,
		TURNCredentialTTL: 12 * time.Hour,
		KeyRefresh:        10 * time.Second,
		RevocationSync:    500 * time.Millisecond,
		MaxBodyBytes:      1 << 20,
		RequestTimeout:    10 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		DrainDelay:        5 * time.Second,
		ReadCacheTTL:      time.Second,
		ClientIPHeader:    "X-Forwarded-For",
		RateLimit: RateLimitConfig{
			TokenPerAddress:     Bucket{Rate: 5, Burst: 20},
			TokenPerClient:      Bucket{Rate: 50, Burst: 100},
			TokenPerUsername:    Bucket{Rate: 0.1, Burst: 10},
			CreateUserPerClient: Bucket{Rate: 10, Burst: 100},
			JoinPerAddress:      Bucket{Rate: 10, Burst: 100},
			GuestJoinPerAddress: Bucket{Rate: 2, Burst: 30},
			MaxKeys:             100_000,
		},
		DevEdge: EdgeConfig{Region: "local", NodeID: "dev"},
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Listen == "" {
		bad("listen: required")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" {
		bad("publicURL: want scheme://host[:port] without a path, got %q", c.PublicURL)
	}
	for name, d := range map[string]time.Duration{"accessTokenTTL": c.AccessTokenTTL, "refreshTokenTTL": c.RefreshTokenTTL,
		"sessionTTL": c.SessionTTL, "mediaTokenTTL": c.MediaTokenTTL, "turnCredentialTTL": c.TURNCredentialTTL,
		"keyRefresh": c.KeyRefresh, "requestTimeout": c.RequestTimeout, "shutdownTimeout": c.ShutdownTimeout} {
		if d <= 0 {
			bad("%s: must be positive", name)
		}
	}
	if c.RevocationSync <= 0 || c.RevocationSync > time.Second {
		bad("revocationSync: must be positive and at most 1s")
	}
	for name, d := range map[string]time.Duration{"accessTokenTTL": c.AccessTokenTTL, "refreshTokenTTL": c.RefreshTokenTTL, "sessionTTL": c.SessionTTL} {
		if d > store.RevocationHorizon {
			bad("%s: at most %s (the revocations of deleted clients and users last that long)", name, store.RevocationHorizon)
		}
	}
	if c.DrainDelay < 0 || c.DrainDelay > 5*time.Minute {
		bad("drainDelay: between 0 and 5m")
	}
	if c.ReadCacheTTL < 0 || c.ReadCacheTTL > time.Minute {
		bad("readCacheTTL: between 0 (off) and 1m")
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL {
		bad("refreshTokenTTL: must not be shorter than accessTokenTTL")
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("maxBodyBytes: between 1 KiB and 64 MiB")
	}
	rl := c.RateLimit
	for name, b := range map[string]Bucket{"tokenPerAddress": rl.TokenPerAddress, "tokenPerClient": rl.TokenPerClient,
		"tokenPerUsername": rl.TokenPerUsername, "createUserPerClient": rl.CreateUserPerClient,
		"joinPerAddress": rl.JoinPerAddress, "guestJoinPerAddress": rl.GuestJoinPerAddress} {
		if b.Rate < 0 || (b.Rate > 0 && b.Burst < 1) {
			bad("rateLimit.%s: rate >= 0 and, when rate > 0, burst >= 1", name)
		}
	}
	if _, err := clientip.New(c.TrustedProxies, c.ClientIPHeader); err != nil {
		bad("trustedProxies, clientIPHeader: %v", err)
	}
	if c.DevEdge.URL != "" {
		if u, err := url.Parse(c.DevEdge.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			bad("devEdge.url: want ws:// or wss://, got %q", c.DevEdge.URL)
		}
	}
	return errors.Join(errs...)
}
