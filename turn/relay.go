package turn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
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
// pion/turn sees it as a net.PacketConn for Send and Data indications; its
// socket and how packets cross it are its data path's (relaySock): on
// Linux the poller relays channel traffic of allocations made over UDP
// without entering pion (poller_linux.go); elsewhere pion's loop reads the
// socket (portable.go).
type relayConn struct {
	s          *Server
	sock       relaySock
	advertised *net.UDPAddr
	key        netip.AddrPort // advertised, as the server's map key
	identity   string
	turn       clientSock // the client's UDP socket; nil for TCP/TLS clients
	bucket     *bucket    // nil when there is no bandwidth cap
	t          traffic
	lifetime   *time.Timer // guarded by mu
	done       chan struct{}

	mu     sync.RWMutex
	client netip.AddrPort
	peers  map[netip.AddrPort]uint16 // channel peer → channel number
	perms  map[netip.Addr]int        // permitted peer IPs (counted for metrics)

	closeOnce sync.Once
}

// relaySock is the socket of a relay and the data path that moves its
// packets.
type relaySock interface {
	// readFrom returns the next peer packet for pion (permitted, within
	// the bandwidth cap, counted).
	readFrom(r *relayConn, p []byte) (int, netip.AddrPort, error)
	// writeTo sends p to peer (already checked and charged).
	writeTo(p []byte, peer netip.AddrPort) error
	// close closes the socket; the port is free when it returns.
	close()
}

// ReadFrom gives pion the peer packets that are not relayed without it.
func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := r.sock.readFrom(r, p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteTo is pion's path to the peer (Send indications, and ChannelData
// that pion relays). The policy is checked again here: whatever pion
// decided, no packet leaves for a denied peer.
func (r *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("%w: %v", ErrPeerDenied, addr)
	}
	ap := ua.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !r.s.peerAllowed(ap) {
		r.s.m.refusedPeers.Add(1)
		return 0, fmt.Errorf("%w: %v", ErrPeerDenied, addr)
	}
	send, err := r.admit(p, ap, &r.t)
	if err != nil || !send {
		return len(p), err
	}
	if err := r.sock.writeTo(p, ap); err != nil {
		return 0, err
	}
	r.t.sentToPeer(len(p))
	return len(p), nil
}

// admit applies the checks of every packet to a peer: the send guard
// (tests) and the bandwidth cap, whose drops count in t. It reports
// whether p may leave.
func (r *relayConn) admit(p []byte, peer netip.AddrPort, t *traffic) (bool, error) {
	if r.s.sendGuard != nil && !r.s.sendGuard(peer) {
		return false, fmt.Errorf("%w: %v (send guard)", ErrPeerDenied, peer)
	}
	if !r.bucket.take(len(p)) {
		t.dropped.Add(1)
		return false, nil
	}
	return true, nil
}

// fromPeer applies the checks of a packet from a peer for the client (the
// bandwidth cap, then the client's permissions, RFC 8656 §10.3: without
// one the packet is discarded) and counts it. It reports whether the
// packet goes on.
func (r *relayConn) fromPeer(size int, from netip.AddrPort) bool {
	if !r.bucket.take(size) {
		r.t.dropped.Add(1)
		return false
	}
	r.mu.RLock()
	permitted := r.perms[from.Addr()] > 0
	r.mu.RUnlock()
	if !permitted {
		return false
	}
	r.t.sentToClient(size)
	return true
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
	r.closeOnce.Do(func() {
		close(r.done)
		r.mu.Lock()
		if r.lifetime != nil {
			r.lifetime.Stop()
		}
		r.mu.Unlock()
		r.sock.close() // the port is free again when Close returns
		r.s.dropRelay(r)
	})
	return nil
}

func (r *relayConn) LocalAddr() net.Addr              { return r.advertised }
func (r *relayConn) SetDeadline(time.Time) error      { return nil }
func (r *relayConn) SetReadDeadline(time.Time) error  { return nil }
func (r *relayConn) SetWriteDeadline(time.Time) error { return nil }

const channelHeader = 4

// relayGen is pion's RelayAddressGenerator for one client socket.
type relayGen struct {
	s    *Server
	turn clientSock // nil for TCP/TLS listeners
}

func (g *relayGen) Validate() error { return nil }

// AllocatePacketConn binds a relay socket in the configured port range,
// after charging the identity's quota, on the data path of the client's
// socket (for TCP/TLS clients, of the UDP sockets in turn).
func (g *relayGen) AllocatePacketConn(conf AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	s := g.s
	// pion probes for an even port (EVEN-PORT) with no user: not charged.
	if conf.UserID != "" && !s.reserve(conf.UserID) {
		return nil, nil, fmt.Errorf("%w for %q", ErrQuota, conf.UserID)
	}
	r := &relayConn{
		s:        s,
		identity: conf.UserID,
		turn:     g.turn,
		bucket:   newBucket(s.cfg.BandwidthBytes, s.now),
		peers:    map[netip.AddrPort]uint16{},
		perms:    map[netip.Addr]int{},
		done:     make(chan struct{}),
	}
	path := g.turn
	if path == nil {
		path = s.nextSock()
	}
	sock, local, err := path.relay(r, conf.Network, conf.RequestedPort)
	if err != nil {
		if conf.UserID != "" {
			s.release(conf.UserID)
		}
		return nil, nil, err
	}
	r.sock = sock
	r.advertised = net.UDPAddrFromAddrPort(local)
	if s.relayIP.IsValid() {
		r.advertised.IP = net.IP(s.relayIP.AsSlice())
	}
	ap := r.advertised.AddrPort()
	r.key = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	r.mu.Lock()
	r.lifetime = time.AfterFunc(s.cfg.MaxLifetime, func() { _ = r.Close() })
	r.mu.Unlock()
	s.addRelay(r)
	return r, r.advertised, nil
}

func (g *relayGen) AllocateListener(AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, ErrTCPRelayNotAllowed
}

func (g *relayGen) AllocateConn(AllocateConnConfig) (net.Conn, error) {
	return nil, ErrTCPRelayNotAllowed
}

// bindRelay binds a relay socket with bind on port, or on a random port of
// the relay range when port is 0 (a port that fails to bind, most likely
// taken, is then tried again with another). bind opens one socket on one
// port.
func bindRelay[T any](s *Server, network string, port int, bind func(netip.AddrPort) (T, error)) (T, netip.AddrPort, error) {
	var none T
	addr := s.relayBind
	if network == "udp6" && addr.Is4() {
		return none, netip.AddrPort{}, fmt.Errorf("%w: relayBind %v is IPv4", errNoRelayPort, addr)
	}
	if port != 0 && (port < s.cfg.RelayPortMin || port > s.cfg.RelayPortMax) {
		return none, netip.AddrPort{}, fmt.Errorf("%w: port %d is outside the relay range", errNoRelayPort, port)
	}
	span := s.cfg.RelayPortMax - s.cfg.RelayPortMin + 1
	for range 64 {
		try := port
		if try == 0 {
			try = s.cfg.RelayPortMin + rand.IntN(span) //nolint:gosec // port choice, not a secret
		}
		local := netip.AddrPortFrom(addr, uint16(try)) //nolint:gosec // within the relay range
		sock, err := bind(local)
		if err == nil {
			return sock, local, nil
		}
		if port != 0 {
			return none, netip.AddrPort{}, fmt.Errorf("turn: relay bind %v: %w", local, err)
		}
	}
	return none, netip.AddrPort{}, fmt.Errorf("%w in %s:%d-%d", errNoRelayPort, s.cfg.RelayBind, s.cfg.RelayPortMin, s.cfg.RelayPortMax)
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
