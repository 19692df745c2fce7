package clusterkey

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors.
var (
	// ErrInvalid marks an unusable cluster section.
	ErrInvalid = errors.New("cluster: invalid")
	// ErrUnsafe marks secrets a production process refuses to start with:
	// the placeholders of the example files, or no gossip encryption.
	ErrUnsafe = errors.New("cluster: unsafe secrets for production")
)

// Config is the `cluster:` section.
type Config struct {
	// APIKeys maps LiveKit API key → secret. Edges accept media tokens signed
	// with any of them.
	APIKeys map[string]string `yaml:"apiKeys"`
	// SigningKey names the entry of APIKeys that control planes sign new media
	// tokens with. Rotation: add a key everywhere, then switch SigningKey, then
	// remove the old key once its tokens have expired.
	SigningKey string `yaml:"signingKey"`
	// TURNSecrets are the TURN REST API shared secrets. The first one signs new
	// credentials; all of them verify.
	TURNSecrets []string `yaml:"turnSecrets"`
	// GossipKeys are base64 AES keys (16, 24 or 32 bytes) for memberlist's
	// keyring. The first one encrypts; all of them decrypt.
	GossipKeys []string `yaml:"gossipKeys"`
}

// Environment variables that override the file (secrets belong there).
const (
	EnvAPIKeys     = "SPACECAST_API_KEYS"     // "key1:secret1,key2:secret2"
	EnvSigningKey  = "SPACECAST_SIGNING_KEY"  // "key1"
	EnvTURNSecrets = "SPACECAST_TURN_SECRETS" // "s1,s2"
	EnvGossipKeys  = "SPACECAST_GOSSIP_KEYS"  // "base64a,base64b"
)

// ApplyEnv overrides fields with the environment variables that are set.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	if v := getenv(EnvAPIKeys); v != "" {
		keys := map[string]string{}
		for _, pair := range strings.Split(v, ",") {
			k, s, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || k == "" || s == "" {
				return fmt.Errorf("%w: %s: want key:secret pairs separated by commas", ErrInvalid, EnvAPIKeys)
			}
			keys[k] = s
		}
		c.APIKeys = keys
	}
	if v := getenv(EnvSigningKey); v != "" {
		c.SigningKey = v
	}
	if v := getenv(EnvTURNSecrets); v != "" {
		c.TURNSecrets = splitList(v)
	}
	if v := getenv(EnvGossipKeys); v != "" {
		c.GossipKeys = splitList(v)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks that the section can be used.
func (c Config) Validate() error {
	if len(c.APIKeys) == 0 {
		return fmt.Errorf("%w: apiKeys: at least one key is required", ErrInvalid)
	}
	for k, s := range c.APIKeys {
		if len(s) < 32 {
			return fmt.Errorf("%w: apiKeys.%s: the secret must be at least 32 characters", ErrInvalid, k)
		}
	}
	if _, ok := c.APIKeys[c.SigningKey]; !ok {
		return fmt.Errorf("%w: signingKey %q is not one of apiKeys", ErrInvalid, c.SigningKey)
	}
	if len(c.TURNSecrets) == 0 {
		return fmt.Errorf("%w: turnSecrets: at least one secret is required", ErrInvalid)
	}
	for i, s := range c.TURNSecrets {
		if len(s) < 16 {
			return fmt.Errorf("%w: turnSecrets[%d]: at least 16 characters", ErrInvalid, i)
		}
	}
	for i, k := range c.GossipKeys {
		if _, err := c.gossipKey(k); err != nil {
			return fmt.Errorf("%w: gossipKeys[%d]: %w", ErrInvalid, i, err)
		}
	}
	return nil
}

// placeholders mark the example values of deploy/ (secrets.example.yaml,
// turn.yaml): a secret that contains one was copied, not generated.
var placeholders = []string{"change-me", "changeme", "change_me", "replace-me", "example-secret"}

func placeholder(s string) bool {
	l := strings.ToLower(s)
	for _, p := range placeholders {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

// CheckProduction refuses what a process outside `spacecast dev` must not
// start with: any secret (API key secrets, TURN secrets, gossip keys, the
// latter decoded) that is one of deploy/'s placeholders and, when the
// process joins a gossip cluster, no gossip encryption key. Call it after
// Validate.
func (c Config) CheckProduction(gossip bool) error {
	var errs []error
	for k, s := range c.APIKeys {
		if placeholder(s) {
			errs = append(errs, fmt.Errorf("%w: apiKeys.%s is the example's placeholder; generate one (openssl rand -hex 32)", ErrUnsafe, k))
		}
	}
	for i, s := range c.TURNSecrets {
		if placeholder(s) {
			errs = append(errs, fmt.Errorf("%w: turnSecrets[%d] is the example's placeholder; generate one (openssl rand -hex 32)", ErrUnsafe, i))
		}
	}
	for i, k := range c.GossipKeys {
		if b, err := c.gossipKey(k); err == nil && placeholder(string(b)) || placeholder(k) {
			errs = append(errs, fmt.Errorf("%w: gossipKeys[%d] is the example's placeholder; generate one (openssl rand -base64 32)", ErrUnsafe, i))
		}
	}
	if gossip && len(c.GossipKeys) == 0 {
		errs = append(errs, fmt.Errorf("%w: gossip is not encrypted: set %s (openssl rand -base64 32)", ErrUnsafe, EnvGossipKeys))
	}
	return errors.Join(errs...)
}

// SigningSecret returns the key and secret that sign new media tokens.
func (c Config) SigningSecret() (key, secret string) {
	return c.SigningKey, c.APIKeys[c.SigningKey]
}

// GossipKeyring decodes GossipKeys, primary first. It is empty when gossip is
// not encrypted.
func (c Config) GossipKeyring() ([][]byte, error) {
	out := make([][]byte, 0, len(c.GossipKeys))
	for i, k := range c.GossipKeys {
		b, err := c.gossipKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: gossipKeys[%d]: %w", ErrInvalid, i, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (Config) gossipKey(k string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	switch len(b) {
	case 16, 24, 32:
		return b, nil
	}
	return nil, fmt.Errorf("key is %d bytes, want 16, 24 or 32", len(b))
}

// Generate makes a fresh cluster section with random secrets, for `spacecast
// dev` and for operators bootstrapping a deployment.
func Generate() (Config, error) {
	apiKey, err := randomHex(6)
	if err != nil {
		return Config{}, err
	}
	apiSecret, err := randomHex(32)
	if err != nil {
		return Config{}, err
	}
	turnSecret, err := randomHex(32)
	if err != nil {
		return Config{}, err
	}
	gk := make([]byte, 32)
	if _, err := rand.Read(gk); err != nil {
		return Config{}, fmt.Errorf("cluster: random: %w", err)
	}
	key := "SC" + apiKey
	return Config{
		APIKeys:     map[string]string{key: apiSecret},
		SigningKey:  key,
		TURNSecrets: []string{turnSecret},
		GossipKeys:  []string{base64.StdEncoding.EncodeToString(gk)},
	}, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
