package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// routeKey names a channel of a client on one UDP socket.
type routeKey struct {
	client netip.AddrPort
	ch     uint16
}

type route struct {
	relay *relayConn
	peer  netip.AddrPort
}

// udpListener wraps one of the server's UDP sockets for pion/turn. Channel
// data from clients (the bulk of the traffic) is relayed to the peer right
// here, with no allocation and without entering pion; STUN messages are
// screened (credential check against every secret, relay policy for
// ChannelBind) and then handed to pion.
type udpListener struct {
	s    *Server
	conn *net.UDPConn
	t    traffic
	buf  []byte // owned by the ReadFrom goroutine

	mu     sync.RWMutex
	routes map[routeKey]route
}

func newUDPListener(s *Server, c *net.UDPConn) *udpListener {
	return &udpListener{s: s, conn: c, buf: make([]byte, maxDatagram), routes: map[routeKey]route{}}
}

// ReadFrom returns the next STUN message for pion and relays channel data
// on the way.
func (l *udpListener) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(l.buf)
		if err != nil {
			return 0, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		b := l.buf[:n]
		if n >= channelHeader && b[0]&0xc0 == 0x40 {
			l.channelData(b, from)
			continue
		}
		if !l.s.screen(b, from, l.conn) {
			continue
		}
		return copy(p, b), net.UDPAddrFromAddrPort(from), nil
	}
}

// channelData relays one ChannelData message (RFC 8656 §12.4); anything on
// an unbound channel is dropped, as pion would.
func (l *udpListener) channelData(b []byte, from netip.AddrPort) {
	ch := binary.BigEndian.Uint16(b[0:2])
	size := int(binary.BigEndian.Uint16(b[2:4]))
	if channelHeader+size > len(b) {
		return
	}
	l.mu.RLock()
	r, ok := l.routes[routeKey{from, ch}]
	l.mu.RUnlock()
	if !ok {
		return
	}
	_ = r.relay.sendToPeer(b[channelHeader:channelHeader+size], r.peer, &l.t)
}

func (l *udpListener) addRoute(k routeKey, r route) {
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
func (l *udpListener) Close() error                       { return l.conn.Close() }
func (l *udpListener) LocalAddr() net.Addr                { return l.conn.LocalAddr() }
func (l *udpListener) SetDeadline(t time.Time) error      { return l.conn.SetDeadline(t) }
func (l *udpListener) SetReadDeadline(t time.Time) error  { return l.conn.SetReadDeadline(t) }
func (l *udpListener) SetWriteDeadline(t time.Time) error { return l.conn.SetWriteDeadline(t) }

// screen looks at a STUN message before pion does. It verifies credentials
// against every TURN secret (so that pion gets the right key) and answers a
// ChannelBind to a denied peer with 403 Forbidden itself (pion/turn v5
// answers 401 there). It reports whether pion should see the message.
// reply is nil when no answer can be sent (TCP: pion answers).
func (s *Server) screen(b []byte, from netip.AddrPort, reply net.PacketConn) bool {
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
	if ok && s.policy.allowed(ip) {
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
		_, _ = reply.WriteTo(resp.Raw, net.UDPAddrFromAddrPort(from))
	}
	return false
}

// sniffConn wraps a TCP/TLS client connection: it passes the stream to pion
// unchanged, and screens each STUN frame on the way so that credentials
// signed by any TURN secret verify.
type sniffConn struct {
	net.Conn
	s       *Server
	from    netip.AddrPort
	pending []byte
}

// maxFrame bounds the bytes held while a frame is incomplete.
const maxFrame = 0x10000 + 20

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.feed(p[:n])
	}
	return n, err
}

// feed parses the stream into STUN and ChannelData frames (RFC 8656 §12.5:
// ChannelData over TCP is padded to 4 bytes).
func (c *sniffConn) feed(b []byte) {
	c.pending = append(c.pending, b...)
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
		if buf[0]&0xc0 == 0 {
			c.s.screen(buf[:size], c.from, nil)
		}
		c.pending = buf[size:]
	}
	if len(c.pending) > maxFrame {
		c.pending = nil // not TURN; pion will give up on this stream
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
