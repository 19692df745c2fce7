package gossip

import (
	"container/heap"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// Listen binds the UDP socket and the TCP listener gossip needs on one
// address; both must share the port, since memberlist advertises one. With
// port 0 the kernel picks the TCP port and the UDP socket takes the same one
// (retried a few times, as another process may hold it for UDP).
func Listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("gossip: listen %q: %w", addr, err)
	}
	tries := 1
	if port == 0 {
		tries = 10
	}
	for range tries {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, fmt.Errorf("gossip: listen tcp %s: %w", addr, err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		_ = ln.Close()
		if port != 0 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("gossip: listen udp %s: %w", addr, err)
		}
	}
	return nil, nil, fmt.Errorf("gossip: listen %s: no port free for both UDP and TCP", addr)
}

func splitHostPort(s string) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", ps, err)
	}
	return host, int(p), nil
}

// Traffic counts the bytes a node's gossip sent and received (UDP payloads
// and TCP stream bytes, after encryption).
type Traffic struct {
	SentBytes     uint64
	ReceivedBytes uint64
}

// udpPacketSize bounds a read; memberlist's packets fit in UDPBufferSize
// (1400) but a peer with a larger setting must not be truncated.
const udpPacketSize = 65536

// transport is a memberlist.NodeAwareTransport over sockets the caller bound.
// It counts bytes and applies Deps.Drop and Deps.Delay, which tests and
// benchmarks use to cut links (partitions) and give them latency without
// touching the network.
//
// The sockets live as long as the Node; a memberlist instance uses the
// transport while it is on (setOn), and a transport that is off drops what
// arrives, so that a WAN pool can be left and joined again on the same
// port. Memberlist's Shutdown does not close it (see mlTransport).
type transport struct {
	pc        net.PacketConn
	ln        net.Listener
	advertise *net.TCPAddr
	dialer    net.Dialer
	drop      func(peer string) bool
	delay     func(peer string) time.Duration

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	on       atomic.Bool

	delayMu   sync.Mutex
	delayed   delayQueue
	delayKick chan struct{}

	sent, recv atomic.Uint64
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

func newTransport(pc net.PacketConn, ln net.Listener, advertise *net.TCPAddr, drop func(string) bool, delay func(string) time.Duration) *transport {
	return &transport{
		pc:        pc,
		ln:        ln,
		advertise: advertise,
		drop:      drop,
		delay:     delay,
		packetCh:  make(chan *memberlist.Packet),
		streamCh:  make(chan net.Conn),
		done:      make(chan struct{}),
		delayKick: make(chan struct{}, 1),
	}
}

// start runs the read loops (and the delay line when delays are injected);
// Shutdown waits for them.
func (t *transport) start() {
	t.wg.Add(2)
	go t.readPackets()
	go t.accept()
	if t.delay != nil {
		t.wg.Add(1)
		go t.delayLine()
	}
}

// setOn switches delivery to memberlist on or off.
func (t *transport) setOn(on bool) { t.on.Store(on) }

// mlTransport is the transport as one memberlist instance sees it: its
// Shutdown only switches delivery off, the Node closes the sockets.
type mlTransport struct{ *transport }

// Shutdown implements memberlist.Transport.
func (m mlTransport) Shutdown() error {
	m.setOn(false)
	return nil
}

func (t *transport) readPackets() {
	defer t.wg.Done()
	for {
		buf := make([]byte, udpPacketSize)
		n, from, err := t.pc.ReadFrom(buf)
		ts := time.Now()
		if err != nil {
			if t.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 1 {
			continue
		}
		if (t.drop != nil && t.drop(from.String())) || !t.on.Load() {
			continue
		}
		t.recv.Add(uint64(n))
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf[:n], From: from, Timestamp: ts}:
		case <-t.done:
			return
		}
	}
}

func (t *transport) accept() {
	defer t.wg.Done()
	delay := 5 * time.Millisecond
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (EMFILE): back off, bounded.
			select {
			case <-time.After(delay):
			case <-t.done:
				return
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if !t.on.Load() {
			_ = c.Close() // nobody to talk to: fail fast rather than hang the dialer
			continue
		}
		select {
		case t.streamCh <- &countedConn{Conn: c, t: t}:
		case <-t.done:
			_ = c.Close()
			return
		}
	}
}

func (t *transport) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.advertise.IP, t.advertise.Port, nil
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.drop != nil && t.drop(a.Addr) {
		return time.Now(), nil // lost on the way, like any UDP packet
	}
	ua, err := net.ResolveUDPAddr("udp", a.Addr)
	if err != nil {
		return time.Time{}, err
	}
	if t.delay != nil {
		if d := t.delay(a.Addr); d > 0 {
			t.later(slices.Clone(b), ua, d)
			return time.Now(), nil
		}
	}
	n, err := t.pc.WriteTo(b, ua)
	t.sent.Add(uint64(n))
	return time.Now(), err
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// errDropped is what a dial across a cut link returns.
var errDropped = errors.New("gossip: link cut")

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.drop != nil && t.drop(a.Addr) {
		return nil, fmt.Errorf("dial %s: %w", a.Addr, errDropped)
	}
	var lag time.Duration
	if t.delay != nil {
		lag = t.delay(a.Addr)
	}
	d := t.dialer
	d.Timeout = timeout
	c, err := d.Dial("tcp", a.Addr)
	if err != nil {
		return nil, err
	}
	if lag > 0 {
		// The dialling side carries the link's latency both ways: the
		// connection takes a round trip, and every write and every read
		// waits one way.
		select {
		case <-time.After(2 * lag):
		case <-t.done:
		}
		return &countedConn{Conn: c, t: t, lag: lag}, nil
	}
	return &countedConn{Conn: c, t: t}, nil
}

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown implements memberlist.Transport: it closes the sockets and waits
// for the read loops.
func (t *transport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		_ = t.pc.Close()
		_ = t.ln.Close()
	})
	t.wg.Wait()
	return nil
}

func (t *transport) traffic() Traffic {
	return Traffic{SentBytes: t.sent.Load(), ReceivedBytes: t.recv.Load()}
}

// countedConn counts a stream's bytes into its transport, and waits lag
// (an injected one-way latency) before every write and after every read.
type countedConn struct {
	net.Conn
	t   *transport
	lag time.Duration
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.t.recv.Add(uint64(n))
	if n > 0 {
		c.wait()
	}
	return n, err
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.wait()
	n, err := c.Conn.Write(b)
	c.t.sent.Add(uint64(n))
	return n, err
}

func (c *countedConn) wait() {
	if c.lag <= 0 {
		return
	}
	select {
	case <-time.After(c.lag):
	case <-c.t.done:
	}
}

// delayed is one UDP packet waiting out its injected latency.
type delayed struct {
	due time.Time
	b   []byte
	to  *net.UDPAddr
}

// delayQueue is a min-heap of packets by due time.
type delayQueue []delayed

func (q delayQueue) Len() int           { return len(q) }
func (q delayQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q delayQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)        { *q = append(*q, x.(delayed)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// later queues b for to after d. Packets with different delays overtake
// each other, as they do on a jittery path.
func (t *transport) later(b []byte, to *net.UDPAddr, d time.Duration) {
	t.delayMu.Lock()
	heap.Push(&t.delayed, delayed{due: time.Now().Add(d), b: b, to: to})
	t.delayMu.Unlock()
	select {
	case t.delayKick <- struct{}{}:
	default:
	}
}

// delayLine sends delayed packets when they are due.
func (t *transport) delayLine() {
	defer t.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		t.delayMu.Lock()
		now := time.Now()
		var due []delayed
		for t.delayed.Len() > 0 && !t.delayed[0].due.After(now) {
			due = append(due, heap.Pop(&t.delayed).(delayed))
		}
		wait := time.Hour
		if t.delayed.Len() > 0 {
			wait = t.delayed[0].due.Sub(now)
		}
		t.delayMu.Unlock()
		for _, p := range due {
			n, _ := t.pc.WriteTo(p.b, p.to)
			t.sent.Add(uint64(n))
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-t.delayKick:
		case <-t.done:
			return
		}
	}
}
