package blob

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Kinds of storage.
const (
	KindLocal = "local"
	KindS3    = "s3"
)

// Environment variables the secrets come from.
const (
	EnvAccessKey    = "SPACECAST_S3_ACCESS_KEY"
	EnvSecretKey    = "SPACECAST_S3_SECRET_KEY"
	EnvSessionToken = "SPACECAST_S3_SESSION_TOKEN"
	// EnvURLKey is the base64 key local download URLs are signed with.
	EnvURLKey = "SPACECAST_STORAGE_URL_KEY"
	// The AWS names are read when the Spacecast ones are unset.
	envAWSAccessKey    = "AWS_ACCESS_KEY_ID"
	envAWSSecretKey    = "AWS_SECRET_ACCESS_KEY"
	envAWSSessionToken = "AWS_SESSION_TOKEN"
)

// Config is the `storage:` section of a config file.
type Config struct {
	// Kind is KindLocal (the default) or KindS3.
	Kind string `yaml:"kind"`
	// URLTTL is how long download URLs stay valid (default 24 h; S3
	// allows at most 7 days).
	URLTTL time.Duration `yaml:"urlTTL"`
	Local  LocalConfig   `yaml:"local"`
	S3     S3Config      `yaml:"s3"`
}

// LocalConfig is the `storage.local:` section.
type LocalConfig struct {
	// Dir holds the objects (required for KindLocal).
	Dir string `yaml:"dir"`
	// BaseURL is where the store's Handler is served, e.g.
	// "https://cp.example.com/v1/files": download URLs are BaseURL/<key>
	// with an expiry and a signature (required for URL).
	BaseURL string `yaml:"baseURL"`
}

// S3Config is the `storage.s3:` section.
type S3Config struct {
	// Endpoint is the server's host[:port], e.g. "s3.eu-west-1.amazonaws.com"
	// or "seaweed.internal:8333" (required for KindS3).
	Endpoint string `yaml:"endpoint"`
	// Region is the bucket's region (default "us-east-1").
	Region string `yaml:"region"`
	// Bucket holds the objects (required for KindS3).
	Bucket string `yaml:"bucket"`
	// Prefix is put before every key, e.g. "spacecast/".
	Prefix string `yaml:"prefix"`
	// Insecure speaks plain HTTP to the endpoint (a private network, a
	// test); HTTPS otherwise.
	Insecure bool `yaml:"insecure"`
	// Lookup is how the bucket is addressed: "auto" (default), "path"
	// (endpoint/bucket/key: most self-hosted servers) or "dns"
	// (bucket.endpoint/key).
	Lookup string `yaml:"lookup"`
	// CreateBucket makes the bucket at Open if it is missing.
	CreateBucket bool `yaml:"createBucket"`
}

// Secrets are what the storage needs that never goes into a file.
type Secrets struct {
	AccessKey, SecretKey, SessionToken string
	// URLKey signs local download URLs (at least 16 bytes).
	URLKey []byte
}

// SecretsFromEnv reads the secrets from the environment: the
// SPACECAST_S3_* variables, else the AWS_* ones, and
// SPACECAST_STORAGE_URL_KEY (base64).
func SecretsFromEnv(getenv func(string) string) (Secrets, error) {
	first := func(a, b string) string {
		if v := getenv(a); v != "" {
			return v
		}
		return getenv(b)
	}
	s := Secrets{
		AccessKey:    first(EnvAccessKey, envAWSAccessKey),
		SecretKey:    first(EnvSecretKey, envAWSSecretKey),
		SessionToken: first(EnvSessionToken, envAWSSessionToken),
	}
	if v := getenv(EnvURLKey); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return s, fmt.Errorf("%w: %s is not base64: %w", ErrConfig, EnvURLKey, err)
		}
		s.URLKey = k
	}
	return s, nil
}

// Validate checks the section and fills its defaults.
func (c *Config) Validate() error {
	if c.Kind == "" {
		c.Kind = KindLocal
	}
	if c.URLTTL == 0 {
		c.URLTTL = DefaultURLTTL
	}
	if c.URLTTL < 0 || c.URLTTL > 7*24*time.Hour {
		return fmt.Errorf("%w: storage.urlTTL %v not in (0, 7 days]", ErrConfig, c.URLTTL)
	}
	switch c.Kind {
	case KindLocal:
		if c.Local.Dir == "" {
			return fmt.Errorf("%w: storage.local.dir is required", ErrConfig)
		}
		if c.Local.BaseURL != "" {
			u, err := url.Parse(c.Local.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
				return fmt.Errorf("%w: storage.local.baseURL %q is not an http(s) URL", ErrConfig, c.Local.BaseURL)
			}
		}
	case KindS3:
		s := &c.S3
		if s.Endpoint == "" || s.Bucket == "" {
			return fmt.Errorf("%w: storage.s3.endpoint and storage.s3.bucket are required", ErrConfig)
		}
		if strings.Contains(s.Endpoint, "/") {
			return fmt.Errorf("%w: storage.s3.endpoint %q is host[:port], without a scheme or path", ErrConfig, s.Endpoint)
		}
		if s.Region == "" {
			s.Region = "us-east-1"
		}
		switch s.Lookup {
		case "":
			s.Lookup = "auto"
		case "auto", "path", "dns":
		default:
			return fmt.Errorf("%w: storage.s3.lookup %q (auto, path or dns)", ErrConfig, s.Lookup)
		}
		if s.Prefix != "" {
			if err := checkKey(strings.TrimSuffix(s.Prefix, "/")); err != nil {
				return fmt.Errorf("%w: storage.s3.prefix: %w", ErrConfig, err)
			}
		}
	default:
		return fmt.Errorf("%w: storage.kind %q (local or s3)", ErrConfig, c.Kind)
	}
	return nil
}
