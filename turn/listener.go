package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"
)

// routeKey names a channel of a client on one UDP socket.
type routeKey struct {
	client netip.AddrPort
	ch     uint16
}

// route is where a channel's data goes, with the peer's sockaddr ready.
type route struct {
	relay *relayConn
	peer  netip.AddrPort
	sa    unix.RawSockaddrInet6
	salen uint32
}

// udpListener is one of the server's UDP sockets as pion/turn sees it. Its
// poller reads the socket: channel data from clients (the bulk of the
// traffic) is relayed to peers there, with no allocation and without
// entering pion; STUN messages come out of ReadFrom, screened (credentials
// against every secret, relay policy for ChannelBind).
type udpListener struct {
	s    *Server
	conn *net.UDPConn
	p    *poller
	t    traffic

	mu     sync.RWMutex
	routes map[routeKey]*route

	started   atomic.Bool
	closeOnce sync.Once
}

func newUDPListener(s *Server, c *net.UDPConn) (*udpListener, error) {
	l := &udpListener{s: s, conn: c, routes: map[routeKey]*route{}}
	p, err := newPoller(l)
	if err != nil {
		return nil, err
	}
	l.p = p
	return l, nil
}

// start runs the poller; wg waits for it.
func (l *udpListener) start(wg *sync.WaitGroup) {
	l.started.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.p.run()
	}()
}

// ReadFrom returns the next STUN message for pion.
func (l *udpListener) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		select {
		case pkt := <-l.p.stun:
			from := pkt.from
			if !l.s.screen(pkt.data, pkt.from, func(b []byte) {
				_, _ = l.conn.WriteToUDPAddrPort(b, from)
			}) {
				continue
			}
			return copy(b, pkt.data), net.UDPAddrFromAddrPort(pkt.from), nil
		case <-l.p.done:
			return 0, nil, net.ErrClosed
		}
	}
}

// channelData relays one ChannelData message (RFC 8656 §12.4) from the
// poller; anything on an unbound channel is dropped, as pion would.
func (l *udpListener) channelData(b []byte, from netip.AddrPort) {
	ch := binary.BigEndian.Uint16(b[0:2])
	size := int(binary.BigEndian.Uint16(b[2:4]))
	if channelHeader+size > len(b) {
		return
	}
	l.mu.RLock()
	r := l.routes[routeKey{from, ch}]
	l.mu.RUnlock()
	if r == nil {
		return
	}
	_ = r.relay.sendToPeer(b[channelHeader:channelHeader+size], r.peer, &r.sa, r.salen, &l.t)
}

func (l *udpListener) addRoute(k routeKey, r *route) {
	r.salen = sockaddr(&r.sa, r.peer, r.relay.family)
	l.mu.Lock()
	l.routes[k] = r
	l.mu.Unlock()
}

func (l *udpListener) removeRoute(k routeKey) {
	l.mu.Lock()
	delete(l.routes, k)
	l.mu.Unlock()
}

func (l *udpListener) WriteTo(p []byte, addr net.Addr) (int, error) {
	return l.conn.WriteTo(p, addr)
}

// Close stops the poller, then closes the socket. Safe twice.
func (l *udpListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		if l.started.Load() {
			l.p.stop()
		} else {
			l.p.mu.Lock()
			l.p.stopped = true
			l.p.mu.Unlock()
			l.p.release()
			close(l.p.done)
		}
		err = l.conn.Close()
	})
	return err
}
func (l *udpListener) LocalAddr() net.Addr                { return l.conn.LocalAddr() }
func (l *udpListener) SetDeadline(t time.Time) error      { return nil }
func (l *udpListener) SetReadDeadline(t time.Time) error  { return nil }
func (l *udpListener) SetWriteDeadline(t time.Time) error { return nil }

// screen looks at a STUN message before pion does. It verifies credentials
// against every TURN secret (so that pion gets the right key) and answers a
// ChannelBind to a denied peer with 403 Forbidden itself (pion/turn v5
// answers 401 there). It reports whether pion should see the message.
// reply sends an answer to the client; with a nil reply the message is only
// checked.
func (s *Server) screen(b []byte, from netip.AddrPort, reply func([]byte)) bool {
	msg := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := msg.Decode(); err != nil {
		return true // pion decides what to do with garbage
	}
	if msg.Type.Class != stun.ClassRequest || !msg.Contains(stun.AttrMessageIntegrity) {
		return true
	}
	key, err := s.keys.verify(msg)
	if err != nil || msg.Type.Method != stun.MethodChannelBind || reply == nil {
		return true
	}
	var peer stun.XORMappedAddress // XOR-PEER-ADDRESS has the same layout
	if err := peer.GetFromAs(msg, stun.AttrXORPeerAddress); err != nil {
		return true
	}
	ip, ok := netip.AddrFromSlice(peer.IP)
	if ok && s.peerAllowed(netip.AddrPortFrom(ip, uint16(peer.Port))) { //nolint:gosec // a STUN port
		return true
	}
	s.m.refusedPeers.Add(1)
	resp, err := stun.Build(
		&stun.Message{TransactionID: msg.TransactionID},
		stun.NewType(stun.MethodChannelBind, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: stun.CodeForbidden},
		stun.MessageIntegrity(key),
		stun.Fingerprint,
	)
	if err == nil {
		reply(resp.Raw)
	}
	return false
}

// sniffConn wraps a TCP/TLS client connection: it cuts the stream into
// STUN and ChannelData frames (RFC 8656 §12.5: ChannelData over TCP is
// padded to 4 bytes) and screens each STUN frame as the UDP path does, so
// that credentials of every secret verify and a ChannelBind to a denied
// peer gets 403. pion reads the frames that pass.
type sniffConn struct {
	net.Conn
	s       *Server
	from    netip.AddrPort
	rbuf    []byte
	pending []byte // an incomplete frame
	ready   []byte // frames for pion
	err     error
	wmu     sync.Mutex
}

// maxFrame bounds the bytes held while a frame is incomplete.
const maxFrame = 0x10000 + 20

func (c *sniffConn) Read(p []byte) (int, error) {
	for {
		if len(c.ready) > 0 {
			n := copy(p, c.ready)
			c.ready = c.ready[n:]
			return n, nil
		}
		if c.err != nil {
			return 0, c.err
		}
		if c.rbuf == nil {
			c.rbuf = make([]byte, 4096)
		}
		n, err := c.Conn.Read(c.rbuf)
		c.feed(c.rbuf[:n])
		c.err = err
	}
}

func (c *sniffConn) reply(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = c.Conn.Write(b)
}

// feed parses complete frames out of the stream into ready.
func (c *sniffConn) feed(b []byte) {
	c.pending = append(c.pending, b...)
	if len(c.ready) == 0 {
		c.ready = c.ready[:0]
	}
	for {
		buf := c.pending
		if len(buf) < 4 {
			break
		}
		var size int
		if buf[0]&0xc0 == 0x40 {
			size = channelHeader + (int(binary.BigEndian.Uint16(buf[2:4]))+3)&^3
		} else {
			size = 20 + int(binary.BigEndian.Uint16(buf[2:4]))
		}
		if len(buf) < size {
			break
		}
		if buf[0]&0xc0 != 0 || c.s.screen(buf[:size], c.from, c.reply) {
			c.ready = append(c.ready, buf[:size]...)
		}
		c.pending = buf[size:]
	}
	if len(c.pending) > maxFrame {
		// Not TURN: hand it over, pion gives up on this stream.
		c.ready = append(c.ready, c.pending...)
		c.pending = nil
	}
	if len(c.pending) == 0 {
		c.pending = nil
	}
}

// trackListener hands sniffConns to pion and remembers them, so that Close
// ends every client connection (pion only closes the listener).
type trackListener struct {
	net.Listener
	s *Server

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (t *trackListener) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &sniffConn{Conn: c, s: t.s, from: addrPortOf(c.RemoteAddr())}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	t.conns[sc] = struct{}{}
	return &trackedConn{sniffConn: sc, t: t}, nil
}

func (t *trackListener) Close() error {
	err := t.Listener.Close()
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = map[net.Conn]struct{}{}
	t.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
	return err
}

type trackedConn struct {
	*sniffConn
	t *trackListener
}

func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c.sniffConn)
	c.t.mu.Unlock()
	return c.sniffConn.Close()
}
