package turn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestListenSockets: UDPSockets UDP sockets share one port (SO_REUSEPORT),
// TCP listens on the same port, TLS on its own; a server on them answers
// clients spread over the UDP sockets.
func TestListenSockets(t *testing.T) {
	cfg := Config{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", UDPSockets: 4, RelayBind: "127.0.0.1", UserQuota: 100}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	socks, err := Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks.UDP) != 4 || len(socks.TCP) != 1 || len(socks.TLS) != 1 {
		socks.Close()
		t.Fatalf("sockets: %d UDP, %d TCP, %d TLS", len(socks.UDP), len(socks.TCP), len(socks.TLS))
	}
	udp := socks.UDP[0].LocalAddr().String()
	for i, c := range socks.UDP {
		if c.LocalAddr().String() != udp {
			t.Errorf("UDP socket %d on %s, want %s (one port for all)", i, c.LocalAddr(), udp)
		}
	}
	if got := socks.TCP[0].Addr().String(); got != udp {
		t.Errorf("TCP on %s, want %s", got, udp)
	}
	s, err := New(cfg, []string{testSecret}, socks)
	if err != nil {
		socks.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	defer func() {
		_ = s.Close()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	// Clients from many source ports: the kernel hashes them over the
	// sockets, and every socket serves its share.
	user, pass := creds(testSecret, "spread", time.Hour)
	for i := range 16 {
		if code := newRawClient(t, udp, user, pass).allocate(); code != 0 {
			t.Fatalf("client %d: allocate = %v", i, code)
		}
	}
	if n := s.Stats().Allocations; n != 16 {
		t.Fatalf("allocations = %d, want 16", n)
	}
	if runtime.GOOS != "linux" {
		t.Skip("only Linux spreads one port's datagrams over SO_REUSEPORT sockets")
	}
	// The allocations' client sockets: more than one took clients (all 16
	// on one of 4 sockets has a chance of 4^-15).
	used := map[clientSock]bool{}
	s.mu.Lock()
	for _, r := range s.relays {
		used[r.turn] = true
	}
	s.mu.Unlock()
	if len(used) < 2 {
		t.Fatalf("16 clients served by %d UDP socket(s) of 4", len(used))
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, err := selfSigned("turn.test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cert     string
		key      string
		wantLeaf []byte // nil: any (generated)
		wantErr  bool
	}{
		{"files from config", certFile, keyFile, cert.Certificate[0], false},
		{"generated when none", "", "", nil, false},
		{"missing file", filepath.Join(dir, "nope.pem"), keyFile, nil, true},
		{"key is not a key", certFile, certFile, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := TLSConfig(Config{Realm: "turn.test", CertFile: tt.cert, KeyFile: tt.key})
			if tt.wantErr {
				if !errors.Is(err, ErrTLS) {
					t.Fatalf("TLSConfig = %v, want ErrTLS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.Certificates) != 1 || tc.MinVersion < tls.VersionTLS12 {
				t.Fatalf("config: %d certificates, min version %x", len(tc.Certificates), tc.MinVersion)
			}
			if tt.wantLeaf != nil && string(tc.Certificates[0].Certificate[0]) != string(tt.wantLeaf) {
				t.Fatal("not the certificate from certFile")
			}
		})
	}
	// A TLS client that trusts the configured certificate completes a
	// handshake with a listener made by Listen.
	cfg := Config{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", UDPSockets: 1, RelayBind: "127.0.0.1", CertFile: certFile, KeyFile: keyFile}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	socks, err := Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer socks.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := socks.TLS[0].Accept()
		if err == nil {
			err = c.(*tls.Conn).HandshakeContext(ctx)
			_ = c.Close()
		}
		accepted <- err
	}()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: "turn.test", MinVersion: tls.VersionTLS12}}
	c, err := d.DialContext(ctx, "tcp", socks.TLS[0].Addr().String())
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	_ = c.Close()
	if err := <-accepted; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("server handshake: %v", err)
	}
}

// TestListenRetries: with port 0 a UDP/TCP pair that collides (the TCP
// port held elsewhere) is tried again with another port, a bounded number
// of times; a fixed port, another error or a busy TLS address is not.
func TestListenRetries(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := fmt.Errorf("turn: listen tcp: %w", syscall.EADDRINUSE)
	for _, tc := range []struct {
		name, listen, tlsListen string
		fail                    int   // the pair's first calls that fail with failErr
		failErr                 error // nil: the pair never fails
		wantCalls               int
		wantErr                 error
	}{
		{"ephemeral collides twice", "127.0.0.1:0", TLSOff, 2, inUse, 3, nil},
		{"ephemeral always collides", "127.0.0.1:0", TLSOff, 100, inUse, listenAttempts, syscall.EADDRINUSE},
		{"fixed port collides", busy.Addr().String(), TLSOff, 100, inUse, 1, syscall.EADDRINUSE},
		{"another error", "127.0.0.1:0", TLSOff, 100, syscall.EACCES, 1, syscall.EACCES},
		{"busy TLS address", "127.0.0.1:0", busy.Addr().String(), 0, nil, 1, syscall.EADDRINUSE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cfg := Config{Listen: tc.listen, TLSListen: tc.tlsListen, UDPSockets: 1, RelayBind: "127.0.0.1"}.WithDefaults()
			calls := 0
			var opened []Sockets
			socks, err := listen(ctx, cfg, func(ctx context.Context, cfg Config) (Sockets, error) {
				calls++
				if calls <= tc.fail {
					return Sockets{}, tc.failErr
				}
				s, err := listenPair(ctx, cfg)
				opened = append(opened, s)
				return s, err
			})
			if err == nil {
				defer socks.Close()
			}
			if calls != tc.wantCalls {
				t.Errorf("pair opened %d times, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil || len(socks.UDP) != 1 || len(socks.TCP) != 1 {
					t.Fatalf("Listen = %+v, %v", socks, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Listen error %v, want %v", err, tc.wantErr)
			}
			// A failed Listen leaves nothing open.
			for _, s := range opened {
				for _, c := range s.UDP {
					if _, err := c.WriteTo([]byte{0}, c.LocalAddr()); !errors.Is(err, net.ErrClosed) {
						t.Errorf("UDP socket %s left open after a failed Listen (%v)", c.LocalAddr(), err)
					}
				}
			}
		})
	}
}
