package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"
)

// ErrInvalidConfig marks an unusable `turn:` section.
var ErrInvalidConfig = errors.New("turn: invalid config")

// Config is the `turn:` section of an edge's (or `spacecast turn`'s) config
// file. Zero values mean defaults; call WithDefaults then Validate.
type Config struct {
	// Realm is the TURN realm (RFC 8489 §9.2) sent in challenges.
	Realm string `yaml:"realm"`
	// Listen is the UDP and TCP listen address (default ":3478").
	Listen string `yaml:"listen"`
	// TLSListen is the TURN-over-TLS listen address (default ":5349"; 443 in
	// production so that strict firewalls pass it). "off" disables TLS.
	TLSListen string `yaml:"tlsListen"`
	// CertFile and KeyFile hold the TLS certificate and key. When both are
	// empty a self-signed certificate is generated at start (dev only).
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// TLS, when set, is the TLS listener's configuration as the process
	// built it (the edge's `tls:` section: the same certificates as its
	// signalling, reloaded without a restart); it wins over CertFile.
	TLS *tls.Config `yaml:"-"`
	// UDPSockets is the number of SO_REUSEPORT UDP sockets bound to Listen,
	// so that the kernel spreads clients over every core (default
	// GOMAXPROCS; one on a system without SO_REUSEPORT).
	UDPSockets int `yaml:"udpSockets"`

	// RelayIP is the public IP advertised in XOR-RELAYED-ADDRESS. Empty means
	// the address relay sockets are bound to (then relayBind must be a
	// specific address).
	RelayIP string `yaml:"relayIP"`
	// RelayBind is the local IP relay sockets bind to (default 0.0.0.0).
	RelayBind string `yaml:"relayBind"`
	// RelayPortMin and RelayPortMax bound the relay ports (default
	// 49152–65535, the IANA dynamic range).
	RelayPortMin int `yaml:"relayPortMin"`
	RelayPortMax int `yaml:"relayPortMax"`

	// UserQuota is the most allocations one identity may hold at once
	// (default 10; RFC 8656 §7.2 486 Allocation Quota Reached beyond it).
	UserQuota int `yaml:"userQuota"`
	// BandwidthBytes caps each allocation's relayed bytes per second, both
	// directions together (default DefaultBandwidthBytes; -1: no cap).
	// Excess packets are dropped.
	BandwidthBytes int64 `yaml:"bandwidthBytes"`
	// MaxAllocations caps the allocations of the whole server (default
	// DefaultMaxAllocations): beyond it, 486 Allocation Quota Reached.
	MaxAllocations int `yaml:"maxAllocations"`
	// MaxLifetime is the longest an allocation may live, refreshes included
	// (default 12h; 0 in the file means the default).
	MaxLifetime time.Duration `yaml:"maxLifetime"`
	// CredentialTTL is how long issued credentials stay valid (default 12h).
	CredentialTTL time.Duration `yaml:"credentialTTL"`

	// Deny lists extra peer ranges that are never relayed to, on top of the
	// built-in ones (loopback, private, link-local, multicast, cloud metadata…).
	Deny []string `yaml:"deny"`
	// Allow opens ranges that the deny lists would refuse (tests allow
	// 127.0.0.0/8). Allow wins over deny and over the host's own addresses.
	// Without it, peers are the fleet's edge media addresses (SetPeers) and
	// public addresses that are not this host's.
	Allow []string `yaml:"allow"`

	// Public host names or IPs put in ICE server URLs (default: none, the
	// edge fills in its public address).
	PublicHost string `yaml:"publicHost"`
}

// Defaults.
const (
	DefaultListen    = ":3478"
	DefaultTLSListen = ":5349"
	DefaultRealm     = "spacecast"
	DefaultUserQuota = 10
	// DefaultBandwidthBytes is 40 Mbit/s per allocation: a call's media,
	// a few simulcast layers up or several videos down, with room to spare.
	DefaultBandwidthBytes = 5 << 20
	DefaultMaxAllocations = 10000
	DefaultMaxLifetime    = 12 * time.Hour
	DefaultCredentialTTL  = 12 * time.Hour
	DefaultRelayPortMin   = 49152
	DefaultRelayPortMax   = 65535
	// TLSOff as TLSListen disables TURN over TLS.
	TLSOff = "off"
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.TLSListen == "" {
		c.TLSListen = DefaultTLSListen
	}
	if c.UDPSockets == 0 {
		c.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if c.RelayBind == "" {
		c.RelayBind = "0.0.0.0"
	}
	if c.RelayPortMin == 0 && c.RelayPortMax == 0 {
		c.RelayPortMin, c.RelayPortMax = DefaultRelayPortMin, DefaultRelayPortMax
	}
	if c.UserQuota == 0 {
		c.UserQuota = DefaultUserQuota
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.BandwidthBytes == 0 {
		c.BandwidthBytes = DefaultBandwidthBytes
	}
	if c.MaxAllocations == 0 {
		c.MaxAllocations = DefaultMaxAllocations
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = DefaultCredentialTTL
	}
	return c
}

// Validate checks a config that WithDefaults has filled.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if c.Realm == "" {
		return bad("realm is empty")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen %q: %v", c.Listen, err)
	}
	if c.TLSListen != TLSOff {
		if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
			return bad("tlsListen %q: %v", c.TLSListen, err)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return bad("certFile and keyFile go together")
	}
	if c.UDPSockets < 1 || c.UDPSockets > 256 {
		return bad("udpSockets %d: want 1..256", c.UDPSockets)
	}
	if c.RelayIP != "" {
		if _, err := netip.ParseAddr(c.RelayIP); err != nil {
			return bad("relayIP: %v", err)
		}
	}
	bind, err := netip.ParseAddr(c.RelayBind)
	if err != nil {
		return bad("relayBind: %v", err)
	}
	if c.RelayIP == "" && bind.IsUnspecified() {
		return bad("relayIP is required when relayBind is %s: it is the address put in XOR-RELAYED-ADDRESS", c.RelayBind)
	}
	if c.RelayPortMin < 1 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax {
		return bad("relay ports %d..%d: want 1 <= min <= max <= 65535", c.RelayPortMin, c.RelayPortMax)
	}
	if c.UserQuota < 1 {
		return bad("userQuota %d: want >= 1", c.UserQuota)
	}
	if c.BandwidthBytes < -1 || c.BandwidthBytes == 0 {
		return bad("bandwidthBytes %d: want > 0, or -1 for no cap", c.BandwidthBytes)
	}
	if c.MaxAllocations < 1 {
		return bad("maxAllocations %d: want >= 1", c.MaxAllocations)
	}
	if c.MaxLifetime < time.Second {
		return bad("maxLifetime %v: want >= 1s", c.MaxLifetime)
	}
	if c.CredentialTTL < time.Minute {
		return bad("credentialTTL %v: want >= 1m", c.CredentialTTL)
	}
	if _, err := parsePrefixes(c.Deny); err != nil {
		return bad("deny: %v", err)
	}
	if _, err := parsePrefixes(c.Allow); err != nil {
		return bad("allow: %v", err)
	}
	return nil
}
