package turn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"syscall"
	"time"
)

// Listen opens the sockets cfg asks for: UDPSockets UDP sockets sharing
// Listen with SO_REUSEPORT (the kernel spreads clients over them, so relaying
// uses every core), a TCP listener on Listen, and a TLS listener on TLSListen
// unless it is "off".
//
// With port 0 the UDP sockets get a free port and the TCP listener must
// take the same number, which another program may hold: then Listen tries
// that pair again with another port, a few times. The TLS listener has its
// own address and is opened once, after the pair.
func Listen(ctx context.Context, cfg Config) (Sockets, error) {
	return listen(ctx, cfg, listenPair)
}

// listenAttempts bounds the tries of an ephemeral UDP/TCP pair.
const listenAttempts = 8

// listen is Listen with the UDP/TCP pair opened by pair.
func listen(ctx context.Context, cfg Config, pair func(context.Context, Config) (Sockets, error)) (Sockets, error) {
	var tc *tls.Config
	if cfg.TLSListen != TLSOff {
		var err error
		if tc, err = TLSConfig(cfg); err != nil {
			return Sockets{}, err
		}
	}
	ephemeral := ephemeralPort(cfg.Listen)
	var socks Sockets
	var err error
	for attempt := 1; ; attempt++ {
		socks, err = pair(ctx, cfg)
		if err == nil || !ephemeral || attempt == listenAttempts || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil || tc == nil {
		return socks, err
	}
	l, err := (&net.ListenConfig{Control: reusePort}).Listen(ctx, "tcp", cfg.TLSListen)
	if err != nil {
		socks.Close()
		return Sockets{}, fmt.Errorf("turn: listen tls %s: %w", cfg.TLSListen, err)
	}
	socks.TLS = append(socks.TLS, tls.NewListener(l, tc))
	return socks, nil
}

// ephemeralPort reports whether addr asks for any free port.
func ephemeralPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// listenPair opens the UDP sockets and the TCP listener on cfg.Listen.
func listenPair(ctx context.Context, cfg Config) (Sockets, error) {
	var socks Sockets
	lc := net.ListenConfig{Control: reusePort}
	udpSockets := cfg.UDPSockets
	if !canReusePort {
		udpSockets = 1
	}
	for range udpSockets {
		pc, err := lc.ListenPacket(ctx, "udp", cfg.Listen)
		if err != nil {
			socks.Close()
			return Sockets{}, fmt.Errorf("turn: listen udp %s: %w", cfg.Listen, err)
		}
		uc, _ := pc.(*net.UDPConn)
		socks.UDP = append(socks.UDP, uc)
		// Room for bursts while a poller is descheduled (the kernel caps it
		// at net.core.rmem_max / wmem_max).
		_ = uc.SetReadBuffer(socketBuffer)
		_ = uc.SetWriteBuffer(socketBuffer)
		if ephemeralPort(cfg.Listen) {
			// An ephemeral port: the next sockets share the one just chosen.
			cfg.Listen = uc.LocalAddr().String()
		}
	}
	tl, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		socks.Close()
		return Sockets{}, fmt.Errorf("turn: listen tcp %s: %w", cfg.Listen, err)
	}
	socks.TCP = append(socks.TCP, tl)
	return socks, nil
}

// socketBuffer is the receive and send buffer asked for the server's UDP
// sockets.
const socketBuffer = 4 << 20

// ErrTLS marks an unusable certificate.
var ErrTLS = errors.New("turn: tls")

// TLSConfig is cfg.TLS when set; else it loads CertFile/KeyFile, or makes a
// self-signed certificate when both are empty (development: clients must be
// told not to verify it).
func TLSConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLS != nil {
		return cfg.TLS, nil
	}
	var cert tls.Certificate
	var err error
	if cfg.CertFile != "" {
		cert, err = tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	} else {
		cert, err = selfSigned(cfg.Realm)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
