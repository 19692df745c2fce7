package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/stun/v4"
)

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
