package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Relay errors.
var (
	ErrPeerDenied         = errors.New("turn: peer address denied by relay policy")
	ErrQuota              = errors.New("turn: allocation quota reached")
	ErrTCPRelayNotAllowed = errors.New("turn: TCP relay allocations (RFC 6062) are not offered")
	errNoRelayPort        = errors.New("turn: no free relay port")
)

// relayConn is one allocation's relayed transport address (RFC 8656 §2).
// pion/turn reads and writes it as a net.PacketConn for Send/Data
// indications; channel traffic of allocations made over UDP skips pion:
// client→peer in udpListener.ReadFrom, peer→client in ReadFrom here.
type relayConn struct {
	s          *Server
	conn       *net.UDPConn
	advertised *net.UDPAddr
	key        netip.AddrPort // advertised, as the server's map key
	identity   string
	turn       *udpListener // the client's UDP socket; nil for TCP/TLS clients
	bucket     *bucket      // nil when there is no bandwidth cap
	t          traffic
	lifetime   *time.Timer

	mu     sync.RWMutex
	client netip.AddrPort
	peers  map[netip.AddrPort]uint16 // channel peer → channel number
	perms  map[netip.Addr]int        // permitted peer IPs (counted for metrics)

	closed    atomic.Bool
	closeOnce sync.Once
	buf       []byte // owned by the ReadFrom goroutine
}

// ReadFrom serves pion's relay loop. Packets from channel peers are relayed
// to the client here, without allocating; others are handed to pion (Data
// indications, or dropped when there is no permission).
func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		// Read after a 4-byte gap so the ChannelData header (RFC 8656 §12.4)
		// goes in front of the payload without a copy.
		n, from, err := r.conn.ReadFromUDPAddrPort(r.buf[channelHeader:])
		if err != nil {
			return 0, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !r.bucket.take(n) {
			r.t.dropped.Add(1)
			continue
		}
		if r.turn != nil {
			r.mu.RLock()
			ch, ok := r.peers[from]
			client := r.client
			r.mu.RUnlock()
			if ok {
				binary.BigEndian.PutUint16(r.buf[0:2], ch)
				binary.BigEndian.PutUint16(r.buf[2:4], uint16(n)) //nolint:gosec // n < len(buf) <= 64 KiB
				if _, err := r.turn.conn.WriteToUDPAddrPort(r.buf[:channelHeader+n], client); err == nil {
					r.t.toClientPackets.Add(1)
					r.t.toClientBytes.Add(uint64(n)) //nolint:gosec
				}
				continue
			}
		}
		// Not a channel peer: pion sends a Data indication if the peer has
		// a permission, and drops it otherwise.
		r.mu.RLock()
		permitted := r.perms[from.Addr()] > 0
		r.mu.RUnlock()
		if permitted {
			r.t.toClientPackets.Add(1)
			r.t.toClientBytes.Add(uint64(n)) //nolint:gosec
		}
		return copy(p, r.buf[channelHeader:channelHeader+n]), net.UDPAddrFromAddrPort(from), nil
	}
}

// WriteTo is pion's path to the peer (Send indications, and ChannelData from
// TCP/TLS clients). The policy is checked again here: whatever pion decided,
// no packet leaves for a denied peer.
func (r *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("%w: %v", ErrPeerDenied, addr)
	}
	ap := ua.AddrPort()
	if !r.s.policy.allowed(ap.Addr()) {
		r.s.m.refusedPeers.Add(1)
		return 0, fmt.Errorf("%w: %v", ErrPeerDenied, addr)
	}
	if err := r.sendToPeer(p, ap, &r.t); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sendToPeer writes one payload to a peer. t is the caller's counters.
func (r *relayConn) sendToPeer(p []byte, peer netip.AddrPort, t *traffic) error {
	if r.s.sendGuard != nil && !r.s.sendGuard(peer) {
		return fmt.Errorf("%w: %v (send guard)", ErrPeerDenied, peer)
	}
	if !r.bucket.take(len(p)) {
		t.dropped.Add(1)
		return nil
	}
	if _, err := r.conn.WriteToUDPAddrPort(p, peer); err != nil {
		return fmt.Errorf("turn: relay write: %w", err)
	}
	t.toPeerPackets.Add(1)
	t.toPeerBytes.Add(uint64(len(p)))
	return nil
}

func (r *relayConn) addChannel(client, peer netip.AddrPort, ch uint16) {
	r.mu.Lock()
	r.client = client
	r.peers[peer] = ch
	r.mu.Unlock()
}

func (r *relayConn) permission(ip netip.Addr, delta int) {
	r.mu.Lock()
	if r.perms[ip] += delta; r.perms[ip] <= 0 {
		delete(r.perms, ip)
	}
	r.mu.Unlock()
}

func (r *relayConn) removeChannel(peer netip.AddrPort) {
	r.mu.Lock()
	delete(r.peers, peer)
	r.mu.Unlock()
}

// Close releases the relay socket; pion then deletes the allocation. It is
// also how MaxLifetime ends an allocation.
func (r *relayConn) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.lifetime.Stop()
		err = r.conn.Close()
		r.s.dropRelay(r)
	})
	return err
}

func (r *relayConn) LocalAddr() net.Addr                { return r.advertised }
func (r *relayConn) SetDeadline(t time.Time) error      { return r.conn.SetDeadline(t) }
func (r *relayConn) SetReadDeadline(t time.Time) error  { return r.conn.SetReadDeadline(t) }
func (r *relayConn) SetWriteDeadline(t time.Time) error { return r.conn.SetWriteDeadline(t) }

const channelHeader = 4

// relayGen is pion's RelayAddressGenerator for one client socket.
type relayGen struct {
	s    *Server
	turn *udpListener // nil for TCP/TLS listeners
}

func (g *relayGen) Validate() error { return nil }

// AllocatePacketConn binds a relay socket in the configured port range,
// after charging the identity's quota.
func (g *relayGen) AllocatePacketConn(conf AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	s := g.s
	// pion probes for an even port (EVEN-PORT) with no user: not charged.
	if conf.UserID != "" && !s.reserve(conf.UserID) {
		return nil, nil, fmt.Errorf("%w for %q", ErrQuota, conf.UserID)
	}
	conn, err := s.bindRelay(conf.Network, conf.RequestedPort)
	if err != nil {
		if conf.UserID != "" {
			s.release(conf.UserID)
		}
		return nil, nil, err
	}
	local, _ := conn.LocalAddr().(*net.UDPAddr)
	adv := &net.UDPAddr{IP: local.IP, Port: local.Port}
	if s.relayIP.IsValid() {
		adv.IP = net.IP(s.relayIP.AsSlice())
	}
	r := &relayConn{
		s:          s,
		conn:       conn,
		advertised: adv,
		key:        adv.AddrPort(),
		identity:   conf.UserID,
		turn:       g.turn,
		bucket:     newBucket(s.cfg.BandwidthBytes, s.now),
		peers:      map[netip.AddrPort]uint16{},
		perms:      map[netip.Addr]int{},
		buf:        make([]byte, channelHeader+maxDatagram),
	}
	r.key = netip.AddrPortFrom(r.key.Addr().Unmap(), r.key.Port())
	r.lifetime = time.AfterFunc(s.cfg.MaxLifetime, func() { _ = r.Close() })
	s.addRelay(r)
	return r, adv, nil
}

func (g *relayGen) AllocateListener(AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPRelayNotAllowed
}

func (g *relayGen) AllocateConn(AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPRelayNotAllowed
}

const maxDatagram = 65535

// bindRelay binds a UDP socket on port, or on a random port of the relay
// range when port is 0.
func (s *Server) bindRelay(network string, port int) (*net.UDPConn, error) {
	if port != 0 {
		if port < s.cfg.RelayPortMin || port > s.cfg.RelayPortMax {
			return nil, fmt.Errorf("%w: port %d is outside the relay range", errNoRelayPort, port)
		}
		return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.relayBind, uint16(port)))) //nolint:gosec
	}
	span := s.cfg.RelayPortMax - s.cfg.RelayPortMin + 1
	for range 64 {
		port := s.cfg.RelayPortMin + rand.IntN(span)                                                             //nolint:gosec // port choice, not a secret
		c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.relayBind, uint16(port)))) //nolint:gosec
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w in %s:%d-%d", errNoRelayPort, s.cfg.RelayBind, s.cfg.RelayPortMin, s.cfg.RelayPortMax)
}

// bucket is a token bucket in bytes: rate per second, one second of burst.
type bucket struct {
	rate int64
	now  func() time.Time

	mu     sync.Mutex
	tokens int64
	last   time.Time
}

func newBucket(rate int64, now func() time.Time) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, now: now, tokens: rate, last: now()}
}

// take reports whether n bytes may pass. A nil bucket has no cap.
func (b *bucket) take(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.rate, b.tokens+int64(float64(b.rate)*el.Seconds()))
		b.last = now
	}
	if b.tokens < int64(n) {
		return false
	}
	b.tokens -= int64(n)
	return true
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return netip.AddrPort{}
	}
	port, _ := strconv.Atoi(p)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)) //nolint:gosec
}
