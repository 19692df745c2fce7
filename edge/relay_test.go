package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/turn"
)

// The relay tests run a call whose SDK participants are forced to relay-only
// ICE (iceTransportPolicy: relay) through the built-in TURN server (package
// turn): the edge hands out the TURN URL with credentials derived from the
// cluster's TURN secret in JoinResponse.ice_servers, exactly as in
// production. The participants live in a namespace; the edge and the TURN
// server listen on the bridge's address in the test's namespace, and the
// TURN relay sockets are bound there too, so every packet stays on the
// test's own 198.18.0.0/15 network. That network is denied by the TURN relay
// policy by default (RFC 2544 benchmarking range), so the server's allowlist
// opens exactly the test's /24.

// relayTURN is a running turn.Server on the fixture's bridge address.
type relayTURN struct {
	reg    *prometheus.Registry
	udp    string // host:port of TURN over UDP and TCP
	tls    string // host:port of TURN over TLS
	caFile string // the server's self-signed certificate, for SSL_CERT_FILE
}

type relayTURNOpts struct {
	secrets []string // default: the cluster's TURN secrets
	allow   []string // default: the fixture network's /24
	noAllow bool     // no allowlist at all (the default relay policy)
}

// startTURN starts a TURN server for f on its network's gateway address and
// stops it (waiting for Run) when the test ends.
func startTURN(t *testing.T, f *fixture, o relayTURNOpts) *relayTURN {
	t.Helper()
	gw := f.net.Gateway().String()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "turn.crt"), filepath.Join(dir, "turn.key")
	writeCert(t, gw, certFile, keyFile)
	cfg := turn.Config{
		Listen:     net.JoinHostPort(gw, "0"),
		TLSListen:  net.JoinHostPort(gw, "0"),
		CertFile:   certFile,
		KeyFile:    keyFile,
		UDPSockets: 2,
		RelayBind:  gw,
		Allow:      o.allow,
	}
	if cfg.Allow == nil && !o.noAllow {
		cfg.Allow = []string{f.net.Prefix().String()}
	}
	cfg = cfg.WithDefaults()
	secrets := o.secrets
	if secrets == nil {
		secrets = f.cluster.TURNSecrets
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	socks, err := turn.Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, err := turn.New(cfg, secrets, socks, turn.WithRegisterer(reg))
	if err != nil {
		socks.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("turn Run() = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("TURN server did not stop")
		}
	})
	return &relayTURN{reg: reg, udp: socks.UDP[0].LocalAddr().String(), tls: socks.TLS[0].Addr().String(), caFile: certFile}
}

// writeCert writes a self-signed certificate for ip (the TURN server's
// address: pion verifies turns: servers against the URL's host) and its key.
func writeCert(t *testing.T, ip, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "spacecast relay test"},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// metric sums the samples of a family whose labels include want.
func (r *relayTURN) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// relayEnv is the environment of a relay-only participant.
func relayEnv(token string, turnSrv *relayTURN, connectTimeout time.Duration) []string {
	return []string{
		"SC_TOKEN=" + token,
		"SC_ICE_POLICY=relay",
		"SC_CONNECT_TIMEOUT=" + connectTimeout.String(),
		"SSL_CERT_FILE=" + turnSrv.caFile, // trust the test's turns: certificate
	}
}

func TestRelayOnlyCall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	for _, tc := range []struct {
		name          string
		url           func(*relayTURN) string
		relayProtocol string // what the participants' relay candidates use to reach TURN
	}{
		{"udp", func(r *relayTURN) string { return "turn:" + r.udp + "?transport=udp" }, "udp"},
		{"tcp", func(r *relayTURN) string { return "turn:" + r.udp + "?transport=tcp" }, "tcp"},
		{"tls", func(r *relayTURN) string { return "turns:" + r.tls + "?transport=tcp" }, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// In parallel: most of each call is pion's wait before it
			// nominates a relay pair (2 s per connection), not work.
			t.Parallel()
			var ts *relayTURN
			f := newFixture(t, fixtureOpts{netns: true, setup: func(f *fixture, cfg *Config) {
				ts = startTURN(t, f, relayTURNOpts{})
				cfg.TURNURLs = []string{tc.url(ts)}
			}})
			g := joinGrant("relay-" + tc.name)
			pub := f.spawnEnv("alice", relayEnv(f.token("alice", g, time.Minute), ts, 15*time.Second)...)
			pub.waitFor("connected", 25*time.Second, pub.ev("connected"))
			sub := f.spawnEnv("bob", relayEnv(f.token("bob", g, time.Minute), ts, 15*time.Second)...)
			sub.waitFor("connected", 25*time.Second, sub.ev("connected"))

			pub.send("publish")
			video := pub.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
			audio := pub.waitFor("audio published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "audio" })
			for range 2 {
				sub.waitFor("subscriptions", 20*time.Second, sub.ev("subscribed"))
			}
			rep := sub.stats("50 video and 50 audio packets", 20*time.Second, func(r map[string]trackReport) bool {
				return r[video.SID].Packets >= 50 && r[audio.SID].Packets >= 50
			})

			// Both participants' media connections are relayed by our TURN
			// server, over the transport the URL names, to the edge.
			edgeAddr := f.edge.udp.LocalAddr().String()
			for _, c := range []struct {
				p  *proc
				pc string // the connection carrying this participant's media
			}{{pub, "publisher"}, {sub, "subscriber"}} {
				c.p.send("ice")
				pairs := c.p.waitFor("ice", 10*time.Second, c.p.ev("ice")).Pairs
				got := pairs[c.pc]
				if got.Local != "relay" || got.RelayProtocol != tc.relayProtocol || got.RemoteAddr != edgeAddr {
					t.Errorf("%s: %s pair = %+v, want a relay candidate over %s to the edge at %s", c.p.identity, c.pc, got, tc.relayProtocol, edgeAddr)
				}
				for name, p := range pairs {
					if p.Local != "" && p.Local != "relay" {
						t.Errorf("%s: %s pair = %+v with relay-only ICE", c.p.identity, name, p)
					}
				}
			}

			// The TURN server's own counters saw the call: an allocation per
			// relayed connection, and at least every media packet bob
			// received went edge -> relay -> bob (to_client) after alice
			// sent it alice -> relay -> edge (to_peer).
			received := float64(rep[video.SID].Packets + rep[audio.SID].Packets)
			if a := ts.metric(t, "spacecast_turn_allocations", nil); a < 2 {
				t.Errorf("spacecast_turn_allocations = %v during the call, want >= 2", a)
			}
			if p := ts.metric(t, "spacecast_turn_permissions", nil); p < 2 {
				t.Errorf("spacecast_turn_permissions = %v during the call, want >= 2", p)
			}
			for _, dir := range []string{"to_peer", "to_client"} {
				if n := ts.metric(t, "spacecast_turn_relayed_packets_total", map[string]string{"direction": dir}); n < received {
					t.Errorf("relayed packets %s = %v, want >= the %v media packets bob received", dir, n, received)
				}
			}
			if n := ts.metric(t, "spacecast_turn_auth_failures_total", nil); n != 0 {
				t.Errorf("auth failures = %v with the edge's credentials", n)
			}
			if n := ts.metric(t, "spacecast_turn_refused_peers_total", nil); n != 0 {
				t.Errorf("refused peers = %v with the test network allowed", n)
			}
			final := sub.quit()
			pub.quit()
			for sid, kind := range map[string]string{video.SID: "video", audio.SID: "audio"} {
				t.Logf("%s over TURN/%s: %d packets, %d gaps", kind, tc.name, final[sid].Packets, final[sid].Gaps)
			}
		})
	}
}

// TestRelayOnlyRefused shows that the call above depends on the TURN server:
// with credentials it does not accept, or with the edge's network outside
// its relay policy, a relay-only participant cannot connect at all.
func TestRelayOnlyRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	for _, tc := range []struct {
		name   string
		opts   relayTURNOpts
		metric string // the TURN counter that must count the refusal
	}{
		{"credentials of another secret", relayTURNOpts{secrets: []string{"not-the-cluster-turn-secret-0123456789"}}, "spacecast_turn_auth_failures_total"},
		{"edge address not allowed", relayTURNOpts{noAllow: true}, "spacecast_turn_refused_peers_total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ts *relayTURN
			f := newFixture(t, fixtureOpts{netns: true, setup: func(f *fixture, cfg *Config) {
				ts = startTURN(t, f, tc.opts)
				cfg.TURNURLs = []string{"turn:" + ts.udp + "?transport=udp"}
			}})
			p := f.spawnEnv("carol", relayEnv(f.token("carol", joinGrant("refused"), time.Minute), ts, 4*time.Second)...)
			e := p.waitFor("connect failure", 30*time.Second, func(e event) bool { return e.Ev == "connected" || e.Ev == "error" })
			if e.Ev != "error" || !strings.HasPrefix(e.Msg, "connect:") {
				t.Fatalf("relay-only participant: %+v, want a connect error", e)
			}
			if n := ts.metric(t, tc.metric, nil); n == 0 {
				t.Errorf("%s = 0, want the refusal counted", tc.metric)
			}
			if n := ts.metric(t, "spacecast_turn_relayed_packets_total", nil); n != 0 {
				t.Errorf("relayed packets = %v, want none", n)
			}
		})
	}
}
