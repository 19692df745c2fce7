package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Config is a listener's `tls:` block. Either CertFile and KeyFile, or
// ACME.Hosts; neither leaves the listener in plain text.
type Config struct {
	// CertFile is a PEM file with the certificate chain (leaf first),
	// KeyFile its private key.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ReloadEvery is how often the files are checked for a change
	// (default 10s); a SIGHUP reloads at once.
	ReloadEvery time.Duration `yaml:"reloadEvery"`
	// ACME obtains certificates for public host names (TLS-ALPN-01 on the
	// listener itself, so the listener must be reachable on port 443).
	ACME ACME `yaml:"acme"`
}

// ACME is Let's Encrypt (or another ACME directory) for public host names.
type ACME struct {
	// Hosts are the names certificates are obtained for; any other SNI is
	// refused.
	Hosts []string `yaml:"hosts"`
	// CacheDir keeps the account key and certificates across restarts.
	CacheDir string `yaml:"cacheDir"`
	// Email is the account's contact, optional.
	Email string `yaml:"email"`
	// DirectoryURL is the ACME directory (default Let's Encrypt's).
	DirectoryURL string `yaml:"directoryURL"`
}

// DefaultReloadEvery is how often certificate files are checked.
const DefaultReloadEvery = 10 * time.Second

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("tls")

// Enabled reports whether the block asks for TLS.
func (c Config) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" || len(c.ACME.Hosts) > 0 }

// Validate checks the block's shape (not the files: Load does).
func (c Config) Validate() error {
	files := c.CertFile != "" || c.KeyFile != ""
	switch {
	case (c.CertFile == "") != (c.KeyFile == ""):
		return fmt.Errorf("%w: certFile and keyFile go together", ErrConfig)
	case files && len(c.ACME.Hosts) > 0:
		return fmt.Errorf("%w: certFile/keyFile and acme.hosts exclude each other", ErrConfig)
	case len(c.ACME.Hosts) > 0 && c.ACME.CacheDir == "":
		return fmt.Errorf("%w: acme.cacheDir is needed with acme.hosts (certificates and the account key live there)", ErrConfig)
	case c.ReloadEvery < 0:
		return fmt.Errorf("%w: reloadEvery %v is negative", ErrConfig, c.ReloadEvery)
	}
	for _, h := range c.ACME.Hosts {
		if h == "" {
			return fmt.Errorf("%w: acme.hosts has an empty name", ErrConfig)
		}
	}
	return nil
}

// Source serves a listener's certificate. Safe for concurrent use.
type Source struct {
	cfg  Config
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]
	acme *autocert.Manager
	now  func() time.Time

	// What the files held at the last load, to see a change.
	certPEM, keyPEM []byte
	reloads         chan chan error
}

// Load reads the certificate now (or prepares ACME) and returns the source
// a listener's tls.Config draws from. log may be nil.
func Load(cfg Config, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, fmt.Errorf("%w: no certFile/keyFile and no acme.hosts", ErrConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReloadEvery == 0 {
		cfg.ReloadEvery = DefaultReloadEvery
	}
	s := &Source{cfg: cfg, log: log, now: time.Now, reloads: make(chan chan error)}
	if len(cfg.ACME.Hosts) > 0 {
		if err := os.MkdirAll(cfg.ACME.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: acme.cacheDir: %w", ErrConfig, err)
		}
		s.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(cfg.ACME.Hosts...),
			Cache:      autocert.DirCache(cfg.ACME.CacheDir),
			Email:      cfg.ACME.Email,
		}
		if cfg.ACME.DirectoryURL != "" {
			s.acme.Client = &acme.Client{DirectoryURL: cfg.ACME.DirectoryURL}
		}
		return s, nil
	}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads both files and, when they changed, parses and checks them and
// swaps the served certificate. It reports whether it swapped.
func (s *Source) load() (bool, error) {
	certPEM, err := os.ReadFile(s.cfg.CertFile)
	if err != nil {
		return false, fmt.Errorf("%w: certFile: %w", ErrConfig, err)
	}
	keyPEM, err := os.ReadFile(s.cfg.KeyFile)
	if err != nil {
		return false, fmt.Errorf("%w: keyFile: %w", ErrConfig, err)
	}
	if bytes.Equal(certPEM, s.certPEM) && bytes.Equal(keyPEM, s.keyPEM) {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("%w: %s and %s: %w", ErrConfig, s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrConfig, s.cfg.CertFile, err)
	}
	now := s.now()
	if now.After(leaf.NotAfter) {
		return false, fmt.Errorf("%w: %s expired on %s", ErrConfig, s.cfg.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return false, fmt.Errorf("%w: %s is not valid before %s", ErrConfig, s.cfg.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	cert.Leaf = leaf
	s.cert.Store(&cert)
	s.certPEM, s.keyPEM = certPEM, keyPEM
	s.log.Info("tls certificate loaded", "subject", leaf.Subject.String(), "dns", leaf.DNSNames,
		"notAfter", leaf.NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}

// Leaf is the certificate served now (nil with ACME).
func (s *Source) Leaf() *x509.Certificate {
	if c := s.cert.Load(); c != nil {
		return c.Leaf
	}
	return nil
}

// Run checks the files every ReloadEvery until ctx ends; Reload asks for a
// check at once. With ACME it only waits (autocert renews on its own).
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.acme == nil {
				if _, err := s.load(); err != nil {
					s.log.Warn("tls certificate not reloaded; the previous one stays", "err", err)
				}
			}
		case done := <-s.reloads:
			var err error
			if s.acme == nil {
				_, err = s.load()
			}
			done <- err
		}
	}
}

// Reload checks the files now (the SIGHUP path), through Run; it returns
// the check's error, or ctx's if Run is not running.
func (s *Source) Reload(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case s.reloads <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TLSConfig is a server configuration drawing certificates from s, with
// modern defaults; nextProtos are the ALPN protocols the listener speaks
// (e.g. "http/1.1").
func (s *Source) TLSConfig(nextProtos ...string) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// TLS 1.2 suites: ECDHE (forward secrecy) with AEAD only. TLS 1.3's
		// are all acceptable and not configurable.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: nextProtos,
	}
	if s.acme != nil {
		c.GetCertificate = s.acme.GetCertificate
		c.NextProtos = append(c.NextProtos, acme.ALPNProto)
		return c
	}
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }
	return c
}
