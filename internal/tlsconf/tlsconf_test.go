package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/tlsconf/tlstest"
)

// serve accepts TLS connections on 127.0.0.1 with src's configuration and
// completes each handshake, until the test ends.
func serve(t *testing.T, src *Source) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", src.TLSConfig("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// servedSerial dials addr trusting ca and returns the serial of the leaf
// certificate the server presented.
func servedSerial(t *testing.T, addr string, ca *tlstest.CA) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func run(t *testing.T, src *Source) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return ctx
}

func TestRotatedCertificateServedWithoutRestart(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	now := time.Now()
	l100 := ca.Issue(t, dir, 100, now.Add(-time.Minute), now.Add(time.Hour))
	certFile, keyFile := l100.CertFile, l100.KeyFile
	src, err := Load(Config{CertFile: certFile, KeyFile: keyFile, ReloadEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := run(t, src)
	addr := serve(t, src)
	if got := servedSerial(t, addr, ca); got != 100 {
		t.Fatalf("serial %d, want 100", got)
	}

	// Rotated on disk, then SIGHUP (Reload): the next handshake has it.
	ca.Issue(t, dir, 101, now.Add(-time.Minute), now.Add(time.Hour))
	if err := src.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, ca); got != 101 {
		t.Fatalf("after reload: serial %d, want 101", got)
	}
}

func TestChangedFilesPickedUpWithoutSignal(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	now := time.Now()
	l7 := ca.Issue(t, dir, 7, now.Add(-time.Minute), now.Add(time.Hour))
	certFile, keyFile := l7.CertFile, l7.KeyFile
	src, err := Load(Config{CertFile: certFile, KeyFile: keyFile, ReloadEvery: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, src)
	addr := serve(t, src)
	ca.Issue(t, dir, 8, now.Add(-time.Minute), now.Add(time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(t, addr, ca) != 8 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrokenRotationKeepsServingThePreviousCertificate(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	now := time.Now()
	l1 := ca.Issue(t, dir, 1, now.Add(-time.Minute), now.Add(time.Hour))
	certFile, keyFile := l1.CertFile, l1.KeyFile
	src, err := Load(Config{CertFile: certFile, KeyFile: keyFile, ReloadEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := run(t, src)
	addr := serve(t, src)
	tlstest.WriteFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nhalf written"))
	if err := src.Reload(ctx); !errors.Is(err, ErrConfig) {
		t.Fatalf("reload of a broken file: %v, want ErrConfig", err)
	}
	if got := servedSerial(t, addr, ca); got != 1 {
		t.Fatalf("serial %d, want the previous certificate's 1", got)
	}
}

func TestUnusableCertificateStopsTheStart(t *testing.T) {
	ca := tlstest.NewCA(t)
	now := time.Now()
	good := t.TempDir()
	l1 := ca.Issue(t, good, 1, now.Add(-time.Minute), now.Add(time.Hour))
	certFile, keyFile := l1.CertFile, l1.KeyFile
	other := t.TempDir()
	otherKey := ca.Issue(t, other, 2, now.Add(-time.Minute), now.Add(time.Hour)).KeyFile
	expired := t.TempDir()
	l3 := ca.Issue(t, expired, 3, now.Add(-2*time.Hour), now.Add(-time.Hour))
	expCert, expKey := l3.CertFile, l3.KeyFile
	future := t.TempDir()
	l4 := ca.Issue(t, future, 4, now.Add(time.Hour), now.Add(2*time.Hour))
	futCert, futKey := l4.CertFile, l4.KeyFile

	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing cert", Config{CertFile: filepath.Join(good, "nope.pem"), KeyFile: keyFile}, "certFile"},
		{"missing key", Config{CertFile: certFile, KeyFile: filepath.Join(good, "nope.pem")}, "keyFile"},
		{"key of another certificate", Config{CertFile: certFile, KeyFile: otherKey}, "private key does not match"},
		{"expired", Config{CertFile: expCert, KeyFile: expKey}, "expired"},
		{"not yet valid", Config{CertFile: futCert, KeyFile: futKey}, "not valid before"},
		{"cert without key", Config{CertFile: certFile}, "go together"},
		{"files and acme", Config{CertFile: certFile, KeyFile: keyFile, ACME: ACME{Hosts: []string{"a.example"}, CacheDir: good}}, "exclude"},
		{"acme without cache", Config{ACME: ACME{Hosts: []string{"a.example"}}}, "cacheDir"},
		{"nothing", Config{}, "no certFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.cfg, nil)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
}

func TestOldProtocolsAndWeakSuitesRefused(t *testing.T) {
	ca := tlstest.NewCA(t)
	now := time.Now()
	l1 := ca.Issue(t, t.TempDir(), 1, now.Add(-time.Minute), now.Add(time.Hour))
	certFile, keyFile := l1.CertFile, l1.KeyFile
	src, err := Load(Config{CertFile: certFile, KeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, src)
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	// A TLS 1.2 client offering only a CBC suite without forward secrecy.
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}); err == nil {
		c.Close()
		t.Fatal("a client offering only TLS_RSA_WITH_AES_128_CBC_SHA was served")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a modern TLS 1.2 client: %v", err)
	}
	c.Close()
}

func TestACMEConfigServesOnlyItsHosts(t *testing.T) {
	src, err := Load(Config{ACME: ACME{Hosts: []string{"media.example.com"}, CacheDir: t.TempDir()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := src.TLSConfig("http/1.1")
	if !strings.Contains(strings.Join(cfg.NextProtos, ","), "acme-tls/1") {
		t.Fatalf("NextProtos %v: TLS-ALPN-01 needs acme-tls/1", cfg.NextProtos)
	}
	// A name outside the list is refused before any ACME request.
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example.com"}); err == nil {
		t.Fatal("a certificate was offered for a host outside acme.hosts")
	}
}
