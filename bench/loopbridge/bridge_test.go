package loopbridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHost stands for a namespace in tests without root: it listens on
// 127.0.0.1:0 whatever address it is asked for (the service holds that
// one), and remembers where, so the test can play the host's programs.
type fakeHost struct {
	mu   sync.Mutex
	tcp  map[string]string // asked -> got
	udp  map[string]string
	fail bool
}

func newFakeHost() *fakeHost {
	return &fakeHost{tcp: map[string]string{}, udp: map[string]string{}}
}

func (f *fakeHost) ListenTCP(addr string) (net.Listener, error) {
	if f.fail {
		return nil, errors.New("no namespace")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tcp[addr] = ln.Addr().String()
	return ln, nil
}

func (f *fakeHost) ListenPacket(addr string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.udp[addr] = pc.LocalAddr().String()
	return pc, nil
}

// inside is where the host's programs reach the service's address.
func (f *fakeHost) inside(t testing.TB, network, service string) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.tcp
	if network == "udp" {
		m = f.udp
	}
	a, ok := m[service]
	if !ok {
		t.Fatalf("no %s socket for %s in the host", network, service)
	}
	return a
}

// echoTCP is a service that echoes each connection, and answers "bye" and
// closes when the client half-closes. It stops when the test ends.
func echoTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
				_, _ = c.Write([]byte("bye"))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln
}

// echoUDP is a service answering each datagram with "<source> <payload>".
// It stops when the test ends.
func echoUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUDPAddrPort(append([]byte(from.String()+" "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc
}

func portOf(a net.Addr) uint16 {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Port()
}

// started makes a bridge with cfg and one fake host "a", and runs it until
// the test ends.
func started(t testing.TB, cfg Config) (*Bridge, *fakeHost) {
	t.Helper()
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHost()
	if err := b.Add("a", h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(running(t, b))
	return b, h
}

// running starts b.Run and returns a stop that waits for it.
func running(t testing.TB, b *Bridge) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}

// poll waits for cond with a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func udpClient(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg to addr from c and returns the answer ("" on timeout).
func exchange(t *testing.T, c *net.UDPConn, addr, msg string, wait time.Duration) string {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP([]byte(msg), ua); err != nil {
		t.Fatal(err)
	}
	return readUDP(c, wait)
}

func readUDP(c *net.UDPConn, wait time.Duration) string {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func TestTCP(t *testing.T) {
	svc := echoTCP(t)
	port := portOf(svc.Addr())
	b, h := started(t, Config{Ports: []Port{{"tcp", port}}})

	c, err := net.DialTimeout("tcp", h.inside(t, "tcp", svc.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("spacecast "), 10_000) // several reads' worth
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	// Half-close: the service sees the end, answers "bye" and closes; the
	// bridge passes both on.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(msg, "bye"...); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d (echo + bye)", len(got), len(want))
	}
	poll(t, "counters", func() bool {
		s := b.Stats()
		return s.TCPConns == 1 && s.TCPBytes == uint64(2*len(msg)+3)
	})
}

func TestUDP(t *testing.T) {
	svc := echoUDP(t)
	b, h := started(t, Config{Ports: []Port{{"udp", portOf(svc.LocalAddr())}}})
	in := h.inside(t, "udp", svc.LocalAddr().String())

	// Two sources inside the host are two peers to the service.
	c1, c2 := udpClient(t), udpClient(t)
	a1 := exchange(t, c1, in, "one", 5*time.Second)
	a2 := exchange(t, c2, in, "two", 5*time.Second)
	src1, msg1, _ := strings.Cut(a1, " ")
	src2, msg2, _ := strings.Cut(a2, " ")
	if msg1 != "one" || msg2 != "two" {
		t.Fatalf("answers %q, %q", a1, a2)
	}
	if src1 == src2 || !strings.HasPrefix(src1, "127.0.0.1:") {
		t.Fatalf("the service saw %s and %s: want two loopback peers", src1, src2)
	}
	// A flow keeps its source port.
	if again := exchange(t, c1, in, "one", 5*time.Second); !strings.HasPrefix(again, src1+" ") {
		t.Fatalf("second packet of a flow came from %q, first from %s", again, src1)
	}
	// The counters move just after the packets do.
	poll(t, "counters", func() bool {
		s := b.Stats()
		return s.UDPFlows == 2 && s.UDPPacketsIn == 3 && s.UDPPacketsOut == 3
	})
	if s := b.Stats(); s.Dropped != 0 || s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestUDPOneMapping: one source talking to two services keeps one
// outside address, each service's answers come back from its own port,
// and a packet from anywhere else is dropped.
func TestUDPOneMapping(t *testing.T) {
	s1 := echoUDP(t)
	s2 := echoUDP(t)
	b, h := started(t, Config{Ports: []Port{{"udp", portOf(s1.LocalAddr())}, {"udp", portOf(s2.LocalAddr())}}})
	c := udpClient(t)
	a1 := exchange(t, c, h.inside(t, "udp", s1.LocalAddr().String()), "one", 5*time.Second)
	in2 := h.inside(t, "udp", s2.LocalAddr().String())
	ua2, _ := net.ResolveUDPAddr("udp4", in2)
	if _, err := c.WriteToUDP([]byte("two"), ua2); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	p1, _, _ := strings.Cut(a1, " ")
	p2, msg, _ := strings.Cut(string(buf[:n]), " ")
	if p1 != p2 || msg != "two" {
		t.Fatalf("services saw %s and %s (%q): want one outside address", p1, p2, buf[:n])
	}
	if from.String() != in2 {
		t.Fatalf("second service's answer came from %v, want its own port %s", from, in2)
	}
	if s := b.Stats(); s.UDPFlows != 1 {
		t.Fatalf("flows = %d, want 1", s.UDPFlows)
	}
	// Something that is not a forwarded service writes to the outside
	// address: dropped.
	stray := udpClient(t)
	pa, _ := net.ResolveUDPAddr("udp4", p1)
	if _, err := stray.WriteToUDP([]byte("stray"), pa); err != nil {
		t.Fatal(err)
	}
	poll(t, "the stray packet dropped", func() bool { return b.Stats().Dropped == 1 })
	if got := readUDP(c, 100*time.Millisecond); got != "" {
		t.Fatalf("a stray packet reached the host: %q", got)
	}
}

func TestPause(t *testing.T) {
	usvc := echoUDP(t)
	tsvc := echoTCP(t)
	b, err := New(Config{Ports: []Port{{"udp", portOf(usvc.LocalAddr())}, {"tcp", portOf(tsvc.Addr())}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ha, hb := newFakeHost(), newFakeHost()
	if err := b.Add("a", ha); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("b", hb); err != nil {
		t.Fatal(err)
	}
	stop := running(t, b)
	defer stop()
	uin := ha.inside(t, "udp", usvc.LocalAddr().String())
	c := udpClient(t)
	first := exchange(t, c, uin, "hi", 5*time.Second)
	peer, _, _ := strings.Cut(first, " ")
	tc, err := net.DialTimeout("tcp", ha.inside(t, "tcp", tsvc.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	if err := b.Pause("a"); err != nil {
		t.Fatal(err)
	}
	// Host to service: dropped.
	if got := exchange(t, c, uin, "lost", 200*time.Millisecond); got != "" {
		t.Fatalf("a paused host got %q", got)
	}
	poll(t, "a drop", func() bool { return b.Stats().Dropped >= 1 })
	// Service to host: dropped too.
	pa, _ := net.ResolveUDPAddr("udp4", peer)
	if _, err := usvc.WriteToUDP([]byte("unsolicited"), pa); err != nil {
		t.Fatal(err)
	}
	poll(t, "a second drop", func() bool { return b.Stats().Dropped >= 2 })
	if got := readUDP(c, 100*time.Millisecond); got != "" {
		t.Fatalf("a paused host received %q", got)
	}
	// TCP bytes are held, not lost.
	if _, err := tc.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	_ = tc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := tc.Read(make([]byte, 16)); n != 0 {
		t.Fatal("TCP went through a paused host")
	}
	// The other host is not affected.
	cb := udpClient(t)
	if got := exchange(t, cb, hb.inside(t, "udp", usvc.LocalAddr().String()), "b", 5*time.Second); !strings.HasSuffix(got, " b") {
		t.Fatalf("host b while a is paused: %q", got)
	}

	if err := b.Resume("a"); err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, c, uin, "back", 5*time.Second); got != peer+" back" {
		t.Fatalf("after Resume: %q", got)
	}
	_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	if n, err := io.ReadFull(tc, buf[:4]); err != nil || string(buf[:n]) != "held" {
		t.Fatalf("held TCP bytes after Resume: %q, %v", buf[:n], err)
	}
	if err := b.Pause("nobody"); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("Pause of an unknown host: %v", err)
	}
}

func TestUDPFlowExpiry(t *testing.T) {
	svc := echoUDP(t)
	b, h := started(t, Config{Ports: []Port{{"udp", portOf(svc.LocalAddr())}}, UDPIdle: 300 * time.Millisecond})
	in := h.inside(t, "udp", svc.LocalAddr().String())
	c1 := udpClient(t)
	first := exchange(t, c1, in, "x", 5*time.Second)
	if first == "" {
		t.Fatal("no answer")
	}
	// Idle, the flow is forgotten; the next packet makes a new one.
	poll(t, "expiry", func() bool { return b.hosts["a"].nat.count() == 0 })
	second := exchange(t, c1, in, "x", 5*time.Second)
	p1, _, _ := strings.Cut(first, " ")
	p2, _, _ := strings.Cut(second, " ")
	if second == "" || p1 == p2 {
		t.Fatalf("after expiry: %q (before %q): want a new source port", second, first)
	}
	if s := b.Stats(); s.UDPFlows < 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFlowLimit(t *testing.T) {
	svc := echoUDP(t)
	b, h := started(t, Config{Ports: []Port{{"udp", portOf(svc.LocalAddr())}}, MaxFlows: 1})
	in := h.inside(t, "udp", svc.LocalAddr().String())
	if got := exchange(t, udpClient(t), in, "x", 5*time.Second); got == "" {
		t.Fatal("no answer")
	}
	if got := exchange(t, udpClient(t), in, "y", 200*time.Millisecond); got != "" {
		t.Fatalf("a source beyond the flow limit got %q", got)
	}
	poll(t, "the drop", func() bool { return b.Stats().Dropped == 1 })
}

func TestLifecycle(t *testing.T) {
	b, err := New(Config{Ports: []Port{{"tcp", 9}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add("a", &fakeHost{fail: true}); err == nil {
		t.Fatal("Add succeeded on a host that cannot listen")
	}
	h := newFakeHost()
	if err := b.Add("a", h); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("a", newFakeHost()); err == nil {
		t.Fatal("a host added twice")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	poll(t, "Run", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.running })
	if err := b.Add("b", newFakeHost()); !errors.Is(err, ErrRunning) {
		t.Fatalf("Add while running: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	cancel()
	if err := b.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	// The host's listener is closed.
	if c, err := net.DialTimeout("tcp", h.inside(t, "tcp", "127.0.0.1:9"), time.Second); err == nil {
		c.Close()
		t.Fatal("the host's socket outlived Close")
	}

	// Close before Run closes what Add opened.
	b2, _ := New(Config{Ports: []Port{{"tcp", 9}}}, nil)
	h2 := newFakeHost()
	if err := b2.Add("a", h2); err != nil {
		t.Fatal(err)
	}
	_ = b2.Close()
	if c, err := net.DialTimeout("tcp", h2.inside(t, "tcp", "127.0.0.1:9"), time.Second); err == nil {
		c.Close()
		t.Fatal("Close before Run left the host's socket open")
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Ports: []Port{{"tcp", 80}}}, true},
		{"other loopback", Config{Addr: netip.MustParseAddr("127.0.0.2"), Ports: []Port{{"udp", 80}}}, true},
		{"no ports", Config{}, false},
		{"not loopback", Config{Addr: netip.MustParseAddr("198.18.0.1"), Ports: []Port{{"tcp", 80}}}, false},
		{"ipv6", Config{Addr: netip.MustParseAddr("::1"), Ports: []Port{{"tcp", 80}}}, false},
		{"sctp", Config{Ports: []Port{{"sctp", 80}}}, false},
		{"port 0", Config{Ports: []Port{{"tcp", 0}}}, false},
		{"negative idle", Config{Ports: []Port{{"tcp", 80}}, UDPIdle: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("New = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in, want string // want "" = error
	}{
		{"tcp:7880,udp:7882,udp:3478,tcp:3478,tcp:5349", "[tcp:7880 udp:7882 udp:3478 tcp:3478 tcp:5349]"},
		{" tcp:1 , tcp:1,", "[tcp:1]"},
		{"", "[]"},
		{"7880", ""},
		{"http:80", ""},
		{"tcp:0", ""},
		{"udp:65536", ""},
		{"udp:x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePorts(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrPort) {
					t.Fatalf("ParsePorts(%q) = %v, %v; want ErrPort", tt.in, got, err)
				}
				return
			}
			if err != nil || fmtPorts(got) != tt.want {
				t.Fatalf("ParsePorts(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func fmtPorts(ps []Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp, up := portOf(ln.Addr()), portOf(pc.LocalAddr())
	if err := Probe(ctx, Config{Ports: []Port{{"tcp", tp}, {"udp", up}}}); err != nil {
		t.Fatalf("live ports: %v", err)
	}
	ln.Close()
	pc.Close()
	err = Probe(ctx, Config{Ports: []Port{{"tcp", tp}, {"udp", up}}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "tcp 127.0.0.1:") || !strings.Contains(err.Error(), "udp 127.0.0.1:") {
		t.Fatalf("closed ports: %v", err)
	}
}
