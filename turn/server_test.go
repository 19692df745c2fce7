package turn

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/internal/logging"
	"github.com/spacecast/spacecast/internal/turncred"
)

func creds(secret, identity string, ttl time.Duration) (string, string) {
	return turncred.Mint(secret, identity, time.Now().Add(ttl))
}

// TestPionClientRoundTrip relays both ways through our server with
// pion/turn's own client. (Over TCP, pion's v5 client does not deliver
// inbound ChannelData to its relay conn; coturn's uclient covers TCP/TLS.)
func TestPionClientRoundTrip(t *testing.T) { onEveryPath(t, testPionClientRoundTrip) }

func testPionClientRoundTrip(t *testing.T, path Option) {
	ts := startServerOpts(t, nil, []Option{path})
	for _, transport := range []string{"udp"} {
		t.Run(transport, func(t *testing.T) {
			var conn net.PacketConn
			if transport == "udp" {
				c, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				conn = c
			} else {
				c, err := net.DialTimeout("tcp", ts.tcp, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conn = pionturn.NewSTUNConn(c)
			}
			defer conn.Close()
			server := ts.udp
			if transport == "tcp" {
				server = ts.tcp
			}
			user, pass := creds(testSecret, "alice", time.Hour)
			client, err := pionturn.NewClient(&pionturn.ClientConfig{
				TURNServerAddr: server, STUNServerAddr: server,
				Username: user, Password: pass, Conn: conn, LoggerFactory: logging.Pion(discard()),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if err := client.Listen(); err != nil {
				t.Fatal(err)
			}
			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer relay.Close()
			peer, peerAddr := udpPeer(t)
			to := net.UDPAddrFromAddrPort(peerAddr)
			// The first writes create the permission and the channel.
			var got []byte
			var from netip.AddrPort
			for i := 0; i < 20 && got == nil; i++ {
				if _, err := relay.WriteTo([]byte("ping"), to); err != nil {
					t.Fatal(err)
				}
				got, from, _ = readWithin(t, peer, 200*time.Millisecond)
			}
			if string(got) != "ping" {
				t.Fatalf("peer got %q", got)
			}
			if _, err := peer.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			_ = relay.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _, err := relay.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "pong" {
				t.Fatalf("client got %q, %v", buf[:n], err)
			}
		})
	}
}

// TestChannelFastPath checks the zero-copy channel path both ways and that
// it is counted.
func TestChannelFastPath(t *testing.T) { onEveryPath(t, testChannelFastPath) }

func testChannelFastPath(t *testing.T, path Option) {
	ts := startServerOpts(t, nil, []Option{path})
	user, pass := creds(testSecret, "bob", time.Hour)
	c := newRawClient(t, ts.udp, user, pass)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	peer, peerAddr := udpPeer(t)
	if code := c.peerRequest(stun.MethodChannelBind, peerAddr, channelNumber(0x4001)); code != 0 {
		t.Fatalf("ChannelBind: %v", code)
	}
	before := ts.Stats()
	payload := bytes.Repeat([]byte("x"), 101)
	c.channelData(0x4001, payload)
	got, from, ok := readWithin(t, peer, 2*time.Second)
	if !ok || !bytes.Equal(got, payload) || from != c.relay {
		t.Fatalf("peer got %d bytes from %v (relay %v)", len(got), from, c.relay)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.conn.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte{0x40, 0x01, 0, 4, 'b', 'a', 'c', 'k'}) {
		t.Fatalf("client got % x, %v", buf[:n], err)
	}
	after := ts.Stats()
	if after.ToPeerPackets-before.ToPeerPackets != 1 || after.ToClientPackets-before.ToClientPackets != 1 ||
		after.ToPeerBytes-before.ToPeerBytes != 101 || after.Channels != 1 || after.Allocations != 1 {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
}

// TestDeniedPeers asks to relay to addresses the policy refuses, over UDP
// and TCP: the server answers 403 and sends nothing.
func TestDeniedPeers(t *testing.T) { onEveryPath(t, testDeniedPeers) }

func testDeniedPeers(t *testing.T, path Option) {
	ts := startServerOpts(t, func(c *Config) { c.Allow = nil }, []Option{path}) // loopback not opened
	user, pass := creds(testSecret, "mallory", time.Hour)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var c *rawClient
			if transport == "udp" {
				c = newRawClient(t, ts.udp, user, pass)
			} else {
				c = newRawTCPClient(t, ts.tcp, user, pass)
			}
			testDenied(t, ts, c)
		})
	}
	if n := ts.guard.count(); n != 0 {
		t.Fatalf("%d packets reached the send guard: the policy let them through", n)
	}
}

func testDenied(t *testing.T, ts *testServer, c *rawClient) {
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	tests := []struct {
		name string
		peer string
	}{
		{"loopback without allowlist", "127.0.0.1:9"},
		{"rfc1918", "10.0.0.1:9"},
		{"cloud metadata", "169.254.169.254:80"},
		{"alibaba metadata", "100.100.100.200:80"},
		{"unspecified", "0.0.0.0:9"},
		{"multicast", "224.0.0.1:9"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := netip.MustParseAddrPort(tt.peer)
			before := ts.Stats()
			if code := c.peerRequest(stun.MethodCreatePermission, peer); code != stun.CodeForbidden {
				t.Errorf("CreatePermission = %v, want 403", code)
			}
			if code := c.peerRequest(stun.MethodChannelBind, peer, channelNumber(0x4000+i)); code != stun.CodeForbidden {
				t.Errorf("ChannelBind = %v, want 403", code)
			}
			c.sendData(peer, []byte("knock"))
			c.channelData(uint16(0x4000+i), []byte("knock")) //nolint:gosec
			// A Binding round trip after the indications: the server has
			// handled them by the time it answers.
			if resp := c.request(stun.MethodBinding); resp == nil {
				t.Fatal("no Binding answer")
			}
			after := ts.Stats()
			if got := after.RefusedPeers - before.RefusedPeers; got < 2 {
				t.Errorf("refused peers +%d, want >= 2", got)
			}
			if after.ToPeerPackets != before.ToPeerPackets || after.Permissions != 0 || after.Channels != 0 {
				t.Errorf("something was relayed: before %+v after %+v", before, after)
			}
		})
	}
}

// TestUnpermittedPeerDropped: packets that reach a relay address from a
// peer without a permission are discarded (RFC 8656 §10.3), while a
// permitted peer's packets arrive as Data indications.
func TestUnpermittedPeerDropped(t *testing.T) { onEveryPath(t, testUnpermittedPeerDropped) }

func testUnpermittedPeerDropped(t *testing.T, path Option) {
	ts := startServerOpts(t, nil, []Option{path})
	user, pass := creds(testSecret, "grace", time.Hour)
	c := newRawClient(t, ts.udp, user, pass)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	permitted, permittedAddr := udpPeer(t)
	if code := c.peerRequest(stun.MethodCreatePermission, permittedAddr); code != 0 {
		t.Fatalf("CreatePermission: %v", code)
	}
	// Another loopback address: permissions are per IP (RFC 8656 §9).
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer stranger.Close()
	before := ts.Stats()
	for range 20 {
		if _, err := stranger.WriteToUDPAddrPort([]byte("junk"), c.relay); err != nil {
			t.Fatal(err)
		}
	}
	// The relay socket's packets are handled in order: once the permitted
	// peer's packet is at the client, the stranger's are settled.
	if _, err := permitted.WriteToUDPAddrPort([]byte("fine"), c.relay); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.conn.Read(buf)
		if err != nil {
			t.Fatalf("no Data indication from the permitted peer: %v", err)
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil || m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
			continue
		}
		data, err := m.Get(stun.AttrData)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) == "junk" {
			t.Fatal("a packet from a peer without permission reached the client")
		}
		if string(data) == "fine" {
			break
		}
	}
	if got := ts.Stats().ToClientPackets - before.ToClientPackets; got != 1 {
		t.Fatalf("counted %d packets to the client, want 1", got)
	}
}

func TestCredentials(t *testing.T) { onEveryPath(t, testCredentials) }

func testCredentials(t *testing.T, path Option) {
	// The server knows the new secret (signing) and the old one (rotation).
	ts := startServerOpts(t, nil, []Option{path}, otherSecret, testSecret)
	tests := []struct {
		name     string
		user     string
		pass     string
		wantCode stun.ErrorCode
	}{
		{"new secret", "", "", 0},
		{"old secret during rotation", "", "", 0},
		{"wrong secret", "", "", stun.CodeUnauthorized},
		{"expired", "", "", stun.CodeUnauthorized},
		{"tampered identity", "", "", stun.CodeUnauthorized},
		{"malformed username", "alice", "x", stun.CodeUnauthorized},
	}
	tests[0].user, tests[0].pass = creds(otherSecret, "n", time.Hour)
	tests[1].user, tests[1].pass = creds(testSecret, "o", time.Hour)
	tests[2].user, tests[2].pass = creds("not-a-secret-of-this-cluster", "w", time.Hour)
	tests[3].user, tests[3].pass = creds(testSecret, "e", -time.Minute)
	u, p := creds(testSecret, "t", time.Hour)
	tests[4].user, tests[4].pass = u+"x", p
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.Stats().AuthFailures
			c := newRawClient(t, ts.udp, tt.user, tt.pass)
			if code := c.allocate(); code != tt.wantCode {
				t.Fatalf("allocate = %v, want %v", code, tt.wantCode)
			}
			failed := ts.Stats().AuthFailures - before
			if (tt.wantCode != 0) != (failed > 0) {
				t.Fatalf("auth failures +%d", failed)
			}
		})
	}
	// Over TCP too (the stream is screened frame by frame).
	u, p = creds(testSecret, "tcp-old", time.Hour)
	if code := newRawTCPClient(t, ts.tcp, u, p).allocate(); code != 0 {
		t.Fatalf("old secret over TCP: %v", code)
	}
	// Rotation done: the old secret goes away.
	ts.SetSecrets([]string{otherSecret})
	u, p = creds(testSecret, "late", time.Hour)
	if code := newRawClient(t, ts.udp, u, p).allocate(); code != stun.CodeUnauthorized {
		t.Fatalf("old secret after rotation: %v, want 401", code)
	}
}

func TestQuota(t *testing.T) { onEveryPath(t, testQuota) }

func testQuota(t *testing.T, path Option) {
	ts := startServerOpts(t, func(c *Config) { c.UserQuota = 2 }, []Option{path})
	u, p := creds(testSecret, "carol", time.Hour)
	var clients []*rawClient
	for i, want := range []stun.ErrorCode{0, 0, stun.CodeAllocQuotaReached} {
		c := newRawClient(t, ts.udp, u, p)
		if code := c.allocate(); code != want {
			t.Fatalf("allocation %d = %v, want %v", i, code, want)
		}
		clients = append(clients, c)
	}
	// Another identity has its own quota.
	u2, p2 := creds(testSecret, "dave", time.Hour)
	if code := newRawClient(t, ts.udp, u2, p2).allocate(); code != 0 {
		t.Fatalf("other identity: %v", code)
	}
	c := newRawClient(t, ts.udp, u, p)
	if code := c.allocate(); code != stun.CodeAllocQuotaReached {
		t.Fatalf("still over quota: %v", code)
	}
	if ts.Stats().QuotaRejections < 2 {
		t.Fatalf("quota rejections = %d", ts.Stats().QuotaRejections)
	}
	// Freeing one (Refresh with lifetime 0, RFC 8656 §7.3) makes room again.
	if resp := clients[0].request(stun.MethodRefresh, lifetimeAttr(0)); resp == nil || resp.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("refresh to 0: %v", clients[0].errorCode)
	}
	eventually(t, "the freed allocation to end", func() bool { return ts.Stats().Allocations == 2 })
	if code := newRawClient(t, ts.udp, u, p).allocate(); code != 0 {
		t.Fatalf("allocation after freeing one = %v, want success", code)
	}
}

func TestMaxLifetime(t *testing.T) { onEveryPath(t, testMaxLifetime) }

func testMaxLifetime(t *testing.T, path Option) {
	ts := startServerOpts(t, func(c *Config) { c.MaxLifetime = time.Second }, []Option{path})
	u, p := creds(testSecret, "erin", time.Hour)
	c := newRawClient(t, ts.udp, u, p)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	// Refreshing asks for 10 more minutes; the limit ends it anyway.
	if resp := c.request(stun.MethodRefresh, lifetimeAttr(10*time.Minute)); resp == nil || resp.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("refresh failed: %v", c.errorCode)
	}
	eventually(t, "allocation to end", func() bool { return ts.Stats().Allocations == 0 })
}

func TestBandwidthCap(t *testing.T) { onEveryPath(t, testBandwidthCap) }

func testBandwidthCap(t *testing.T, path Option) {
	ts := startServerOpts(t, func(c *Config) { c.BandwidthBytes = 2000 }, []Option{path})
	u, p := creds(testSecret, "frank", time.Hour)
	c := newRawClient(t, ts.udp, u, p)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	peer, peerAddr := udpPeer(t)
	if code := c.peerRequest(stun.MethodChannelBind, peerAddr, channelNumber(0x4000)); code != 0 {
		t.Fatalf("ChannelBind: %v", code)
	}
	payload := make([]byte, 500)
	for range 40 { // 20 kB at once against a 2 kB/s cap
		c.channelData(0x4000, payload)
	}
	got := 0
	for {
		if _, _, ok := readWithin(t, peer, 300*time.Millisecond); !ok {
			break
		}
		got++
	}
	s := ts.Stats()
	if got == 0 || got > 8 || s.DroppedPackets == 0 {
		t.Fatalf("peer got %d of 40 packets, dropped %d", got, s.DroppedPackets)
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Listen: "127.0.0.1:0", TLSListen: TLSOff, UDPSockets: 1, RelayBind: "127.0.0.1"}.WithDefaults()
	socks, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, []string{testSecret}, socks, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if n := len(mfs); err != nil || n < 9 {
		t.Fatalf("gathered %d metric families, %v", len(mfs), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
	// Closed, it has left the registry: a new server registers there.
	socks, err = Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(cfg, []string{testSecret}, socks, WithRegisterer(reg))
	if err != nil {
		socks.Close()
		t.Fatalf("New on the registry of a closed server: %v", err)
	}
	_ = s2.Close()
}
