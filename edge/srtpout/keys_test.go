package srtpout

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// runHandshake runs a pion/dtls server (reporting to k) and client on
// loopback and returns both ends' connection states.
func runHandshake(t *testing.T, k *Keys, suite dtls.CipherSuiteID, profile dtls.SRTPProtectionProfile, ems dtls.ExtendedMasterSecretType) (server, client dtls.State) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	sc, cc := listen(), listen()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	common := []dtls.Option{
		dtls.WithCertificates(cert), dtls.WithCipherSuites(suite),
		dtls.WithSRTPProtectionProfiles(profile),
		dtls.WithExtendedMasterSecret(ems), dtls.WithInsecureSkipVerify(true),
	}
	srvOpts := []dtls.ServerOption{
		dtls.WithKeyLogWriter(k), dtls.WithServerHelloMessageHook(k.ServerHello),
		dtls.WithClientAuth(dtls.RequireAnyClientCert),
	}
	cliOpts := []dtls.ClientOption{}
	for _, o := range common {
		srvOpts = append(srvOpts, o)
		cliOpts = append(cliOpts, o)
	}
	srv, err := dtls.ServerWithOptions(sc, cc.LocalAddr(), srvOpts...)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := dtls.ClientWithOptions(cc, sc.LocalAddr(), cliOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(); _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- srv.HandshakeContext(ctx) }()
	go func() { errs <- cli.HandshakeContext(ctx) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("handshake: %v", err)
		}
	}
	s, ok1 := srv.ConnectionState()
	c, ok2 := cli.ConnectionState()
	if !ok1 || !ok2 {
		t.Fatal("no connection state")
	}
	return s, c
}

// The keying material Keys derives from the hooks is the connection's own
// (both ends'), for every suite pion offers with an ECDSA certificate
// (SHA-256 and SHA-384 PRFs), with and without the extended master secret,
// and the context it builds encrypts what the client's SRTP decrypts.
func TestKeysMatchTheConnectionsExporter(t *testing.T) {
	cases := []struct {
		name    string
		suite   dtls.CipherSuiteID
		profile dtls.SRTPProtectionProfile
		srtp    srtp.ProtectionProfile
		ems     dtls.ExtendedMasterSecretType
	}{
		{"aes128gcm-sha256/gcm", dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.SRTP_AEAD_AES_128_GCM, srtp.ProtectionProfileAeadAes128Gcm, dtls.RequireExtendedMasterSecret},
		{"aes256gcm-sha384/gcm", dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.SRTP_AEAD_AES_128_GCM, srtp.ProtectionProfileAeadAes128Gcm, dtls.RequestExtendedMasterSecret},
		{"aes256cbc/hmac80", dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.SRTP_AES128_CM_HMAC_SHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80, dtls.DisableExtendedMasterSecret},
		{"chacha20/gcm256", dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, dtls.SRTP_AEAD_AES_256_GCM, srtp.ProtectionProfileAeadAes256Gcm, dtls.RequestExtendedMasterSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var k Keys
			if _, err := k.Context(); !errors.Is(err, ErrNotReady) {
				t.Fatalf("context before the handshake: %v, want ErrNotReady", err)
			}
			server, client := runHandshake(t, &k, tc.suite, tc.profile, tc.ems)
			const label, n = "EXTRACTOR-dtls_srtp", 2 * (32 + 14)
			want, err := server.ExportKeyingMaterial(label, nil, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.ExportKeyingMaterial(label, nil, n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("keying material differs from the server's exporter")
			}
			if theirs, _ := client.ExportKeyingMaterial(label, nil, n); !bytes.Equal(got, theirs) {
				t.Fatalf("keying material differs from the client's exporter")
			}
			if k.Profile() != tc.srtp {
				t.Fatalf("profile %v, want %v", k.Profile(), tc.srtp)
			}

			enc, err := k.Context()
			if err != nil {
				t.Fatal(err)
			}
			dec := clientDecrypter(t, &client, tc.srtp)
			pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, Timestamp: 9, SSRC: 0x1234}, Payload: []byte("frame data")}).Marshal()
			ct, err := enc.EncryptRTP(nil, pkt, nil)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := dec.DecryptRTP(nil, ct, nil)
			if err != nil {
				t.Fatalf("client cannot decrypt the edge's packet: %v", err)
			}
			if !bytes.Equal(pt, pkt) {
				t.Fatalf("decrypted %x, want %x", pt, pkt)
			}
		})
	}
}

// clientDecrypter is the context a DTLS client decrypts the server's SRTP
// with: the remote (server write) keys of its own export.
func clientDecrypter(t *testing.T, client *dtls.State, profile srtp.ProtectionProfile) *srtp.Context {
	t.Helper()
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(client, true); err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

func TestKeysWriteKeepsOnlyWellFormedLines(t *testing.T) {
	var k Keys
	random := bytes.Repeat([]byte("ab"), 32)
	in := "garbage\nCLIENT_RANDOM zz 00\nCLIENT_HANDSHAKE_TRAFFIC_SECRET " + string(random) + " 0102\nCLIENT_RANDOM " + string(random) + " 0102\n"
	if n, err := k.Write([]byte(in)); n != len(in) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(k.master) != 2 || k.master[1] != 2 || len(k.clientRandom) != 32 {
		t.Fatalf("kept master %x random %x", k.master, k.clientRandom)
	}
	// Without the ServerHello, nothing can be derived.
	if _, err := k.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 60); !errors.Is(err, ErrNotReady) {
		t.Fatalf("export without a ServerHello: %v", err)
	}
}
