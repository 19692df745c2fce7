package turn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testSecret  = "0123456789abcdef-test-secret"
	otherSecret = "fedcba9876543210-other-secret"
)

// sentGuard records every peer the server sends to and stops any packet to
// a non-loopback address before it reaches the kernel: tests must never
// emit traffic outside 127.0.0.0/8, even if the policy were broken.
type sentGuard struct {
	mu      sync.Mutex
	blocked []netip.AddrPort
}

func (g *sentGuard) check(p netip.AddrPort) bool {
	if p.Addr().Unmap().IsLoopback() {
		return true
	}
	g.mu.Lock()
	g.blocked = append(g.blocked, p)
	g.mu.Unlock()
	return false
}

func (g *sentGuard) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.blocked)
}

type testServer struct {
	*Server
	udp, tcp, tls string
	guard         *sentGuard
}

// startServer runs a server on 127.0.0.1:0 sockets (2 UDP with
// SO_REUSEPORT, TCP, TLS with a self-signed certificate).
func startServer(t testing.TB, mutate func(*Config), secrets ...string) *testServer {
	t.Helper()
	return startServerOpts(t, mutate, nil, secrets...)
}

// onEveryPath runs test on each data path a server can serve UDP clients
// with: Linux's poller ("fast", skipped elsewhere) and pion's own loops
// ("portable", what other systems get). path is the Option that selects it.
func onEveryPath(t *testing.T, test func(t *testing.T, path Option)) {
	t.Run("fast", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("the fast data path (epoll, recvmmsg, sendmmsg) is Linux's")
		}
		test(t, func(*Server) {})
	})
	t.Run("portable", func(t *testing.T) { test(t, withPortablePath()) })
}

// startServerOpts is startServer with server options.
func startServerOpts(t testing.TB, mutate func(*Config), opts []Option, secrets ...string) *testServer {
	t.Helper()
	cfg := Config{
		Listen:      "127.0.0.1:0",
		TLSListen:   "127.0.0.1:0",
		UDPSockets:  2,
		RelayBind:   "127.0.0.1",
		Allow:       []string{"127.0.0.0/8"},
		MaxLifetime: time.Hour,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	cfg = cfg.WithDefaults()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	socks, err := Listen(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &sentGuard{}
	s, err := New(cfg, secrets, socks, append([]Option{withSendGuard(g.check)}, opts...)...)
	if err != nil {
		socks.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	ts := &testServer{Server: s, udp: socks.UDP[0].LocalAddr().String(), tcp: socks.TCP[0].Addr().String(), guard: g}
	if len(socks.TLS) > 0 {
		ts.tls = socks.TLS[0].Addr().String()
	}
	return ts
}

// rawClient speaks just enough TURN over UDP to test the server's answers.
type rawClient struct {
	t           testing.TB
	conn        *net.UDPConn
	stream      net.Conn // TCP instead of conn when set
	user, pass  string
	realm       string
	nonce       string
	relay       netip.AddrPort
	errorCode   stun.ErrorCode
	lastMessage *stun.Message
}

func newRawClient(t testing.TB, server, user, pass string) *rawClient {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, conn: c, user: user, pass: pass}
}

// request sends method with attrs (authenticating after the first 401) and
// returns the response, or nil if none came (timeout).
func (c *rawClient) request(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	for range 3 {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		setters = append(setters, attrs...)
		if c.nonce != "" {
			setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
				stun.NewLongTermIntegrity(c.user, c.realm, c.pass))
		}
		setters = append(setters, stun.Fingerprint)
		req := stun.MustBuild(setters...)
		resp := c.roundTrip(req)
		if resp == nil {
			return nil
		}
		c.lastMessage = resp
		c.errorCode = 0
		if resp.Type.Class == stun.ClassSuccessResponse {
			return resp
		}
		var ec stun.ErrorCodeAttribute
		_ = ec.GetFrom(resp)
		c.errorCode = ec.Code
		if (ec.Code == stun.CodeUnauthorized && c.nonce == "") || ec.Code == stun.CodeStaleNonce {
			var n stun.Nonce
			var r stun.Realm
			_ = n.GetFrom(resp)
			_ = r.GetFrom(resp)
			c.nonce, c.realm = n.String(), r.String()
			continue
		}
		return resp
	}
	return c.lastMessage
}

// newRawTCPClient speaks TURN over TCP.
func newRawTCPClient(t testing.TB, server, user, pass string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", server, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, stream: c, user: user, pass: pass}
}

func (c *rawClient) roundTripStream(req *stun.Message) *stun.Message {
	c.t.Helper()
	if _, err := c.stream.Write(req.Raw); err != nil {
		c.t.Fatal(err)
	}
	_ = c.stream.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		hdr := make([]byte, 20)
		if _, err := io.ReadFull(c.stream, hdr[:4]); err != nil {
			return nil
		}
		var body []byte
		if hdr[0]&0xc0 == 0x40 { // ChannelData, padded
			body = make([]byte, (int(hdr[2])<<8|int(hdr[3])+3)&^3)
			if _, err := io.ReadFull(c.stream, body); err != nil {
				return nil
			}
			continue
		}
		if _, err := io.ReadFull(c.stream, hdr[4:]); err != nil {
			return nil
		}
		body = make([]byte, int(hdr[2])<<8|int(hdr[3]))
		if _, err := io.ReadFull(c.stream, body); err != nil {
			return nil
		}
		m := &stun.Message{Raw: append(hdr, body...)}
		if m.Decode() == nil && m.TransactionID == req.TransactionID {
			return m
		}
	}
}

func (c *rawClient) roundTrip(req *stun.Message) *stun.Message {
	c.t.Helper()
	if c.stream != nil {
		return c.roundTripStream(req)
	}
	if _, err := c.conn.Write(req.Raw); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			c.t.Fatal(err)
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil || m.TransactionID != req.TransactionID {
			continue
		}
		return m
	}
}

func (c *rawClient) allocate() stun.ErrorCode {
	c.t.Helper()
	resp := c.request(stun.MethodAllocate, requestedUDP{})
	if resp == nil {
		c.t.Fatal("no answer to Allocate")
	}
	if resp.Type.Class == stun.ClassSuccessResponse {
		var ra stun.XORMappedAddress
		if err := ra.GetFromAs(resp, stun.AttrXORRelayedAddress); err != nil {
			c.t.Fatal(err)
		}
		ip, _ := netip.AddrFromSlice(ra.IP)
		c.relay = netip.AddrPortFrom(ip.Unmap(), uint16(ra.Port)) //nolint:gosec
		return 0
	}
	return c.errorCode
}

func (c *rawClient) peerRequest(method stun.Method, peer netip.AddrPort, extra ...stun.Setter) stun.ErrorCode {
	c.t.Helper()
	pa := &stun.XORMappedAddress{IP: peer.Addr().AsSlice(), Port: int(peer.Port())}
	resp := c.request(method, append([]stun.Setter{xorPeer{pa}}, extra...)...)
	if resp == nil {
		c.t.Fatalf("no answer to %v", method)
	}
	if resp.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	return c.errorCode
}

// sendData sends a Send indication (RFC 8656 §11) to peer.
func (c *rawClient) sendData(peer netip.AddrPort, data []byte) {
	c.t.Helper()
	pa := &stun.XORMappedAddress{IP: peer.Addr().AsSlice(), Port: int(peer.Port())}
	m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication), xorPeer{pa},
		stun.RawAttribute{Type: stun.AttrData, Value: data}, stun.Fingerprint)
	c.write(m.Raw)
}

// channelData sends a ChannelData message.
func (c *rawClient) channelData(ch uint16, data []byte) {
	c.t.Helper()
	b := append([]byte{byte(ch >> 8), byte(ch), byte(len(data) >> 8), byte(len(data))}, data...)
	if c.stream != nil {
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	c.write(b)
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	var err error
	if c.stream != nil {
		_, err = c.stream.Write(b)
	} else {
		_, err = c.conn.Write(b)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

type requestedUDP struct{}

func (requestedUDP) AddTo(m *stun.Message) error {
	m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
	return nil
}

type xorPeer struct{ a *stun.XORMappedAddress }

func (x xorPeer) AddTo(m *stun.Message) error { return x.a.AddToAs(m, stun.AttrXORPeerAddress) }

type channelNumber uint16

func (c channelNumber) AddTo(m *stun.Message) error {
	m.Add(stun.AttrChannelNumber, []byte{byte(c >> 8), byte(c), 0, 0})
	return nil
}

type lifetimeAttr time.Duration

func (l lifetimeAttr) AddTo(m *stun.Message) error {
	s := uint32(time.Duration(l) / time.Second) //nolint:gosec
	m.Add(stun.AttrLifetime, []byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
	return nil
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// udpPeer is a peer on 127.0.0.1 that records what it receives.
func udpPeer(t testing.TB) (*net.UDPConn, netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func readWithin(t *testing.T, c *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	return buf[:n], from, true
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
