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

	"golang.org/x/sys/unix"
)

// Relay errors.
var (
	ErrPeerDenied         = errors.New("turn: peer address denied by relay policy")
	ErrQuota              = errors.New("turn: allocation quota reached")
	ErrTCPRelayNotAllowed = errors.New("turn: TCP relay allocations (RFC 6062) are not offered")
	errNoRelayPort        = errors.New("turn: no free relay port")
)

// relayConn is one allocation's relayed transport address (RFC 8656 §2), a
// UDP socket read by its poller. pion/turn sees it as a net.PacketConn for
// Send and Data indications; channel traffic of allocations made over UDP
// never enters pion (see poller).
type relayConn struct {
	s          *Server
	fd         int
	family     int
	p          *poller
	advertised *net.UDPAddr
	key        netip.AddrPort // advertised, as the server's map key
	identity   string
	turn       *udpListener // the client's UDP socket; nil for TCP/TLS clients
	bucket     *bucket      // nil when there is no bandwidth cap
	t          traffic
	lifetime   *time.Timer // guarded by mu
	in         chan packet // non-channel peer traffic for pion
	done       chan struct{}
	fdDone     chan struct{} // closed with the socket

	mu       sync.RWMutex
	fdClosed bool
	client   netip.AddrPort
	peers    map[netip.AddrPort]uint16 // channel peer → channel number
	perms    map[netip.Addr]int        // permitted peer IPs (counted for metrics)

	closeOnce sync.Once
}

// ReadFrom gives pion the peer packets that are not channel traffic.
func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case pkt := <-r.in:
		return copy(p, pkt.data), net.UDPAddrFromAddrPort(pkt.from), nil
	case <-r.done:
		return 0, nil, net.ErrClosed
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
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !r.s.peerAllowed(ap) {
		r.s.m.refusedPeers.Add(1)
		return 0, fmt.Errorf("%w: %v", ErrPeerDenied, addr)
	}
	var sa unix.RawSockaddrInet6
	n := sockaddr(&sa, ap, r.family)
	if err := r.sendToPeer(p, ap, &sa, n, &r.t); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sendToPeer writes one payload to a peer whose sockaddr is sa (n bytes).
// t is the caller's counters.
func (r *relayConn) sendToPeer(p []byte, peer netip.AddrPort, sa *unix.RawSockaddrInet6, n uint32, t *traffic) error {
	if r.s.sendGuard != nil && !r.s.sendGuard(peer) {
		return fmt.Errorf("%w: %v (send guard)", ErrPeerDenied, peer)
	}
	if !r.bucket.take(len(p)) {
		t.dropped.Add(1)
		return nil
	}
	r.mu.RLock()
	if r.fdClosed {
		r.mu.RUnlock()
		return net.ErrClosed
	}
	err := sendto(r.fd, p, sa, n)
	r.mu.RUnlock()
	if err != nil {
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
	r.closeOnce.Do(func() {
		close(r.done)
		r.mu.Lock()
		if r.lifetime != nil {
			r.lifetime.Stop()
		}
		r.mu.Unlock()
		r.p.unregister(r)
		<-r.fdDone // the port is free again when Close returns
		r.s.dropRelay(r)
	})
	return nil
}

// closeFD closes the socket once; the poller calls it from its loop.
func (r *relayConn) closeFD() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.fdClosed {
		r.fdClosed = true
		_ = unix.Close(r.fd)
		close(r.fdDone)
	}
}

func (r *relayConn) LocalAddr() net.Addr              { return r.advertised }
func (r *relayConn) SetDeadline(time.Time) error      { return nil }
func (r *relayConn) SetReadDeadline(time.Time) error  { return nil }
func (r *relayConn) SetWriteDeadline(time.Time) error { return nil }

const channelHeader = 4

// relayGen is pion's RelayAddressGenerator for one client socket.
type relayGen struct {
	s    *Server
	turn *udpListener // nil for TCP/TLS listeners
}

func (g *relayGen) Validate() error { return nil }

// AllocatePacketConn binds a relay socket in the configured port range,
// after charging the identity's quota, and hands it to a poller.
func (g *relayGen) AllocatePacketConn(conf AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	s := g.s
	// pion probes for an even port (EVEN-PORT) with no user: not charged.
	if conf.UserID != "" && !s.reserve(conf.UserID) {
		return nil, nil, fmt.Errorf("%w for %q", ErrQuota, conf.UserID)
	}
	release := func() {
		if conf.UserID != "" {
			s.release(conf.UserID)
		}
	}
	fd, local, err := s.bindRelay(conf.Network, conf.RequestedPort)
	if err != nil {
		release()
		return nil, nil, err
	}
	adv := net.UDPAddrFromAddrPort(local)
	if s.relayIP.IsValid() {
		adv.IP = net.IP(s.relayIP.AsSlice())
	}
	fam := unix.AF_INET
	if !local.Addr().Is4() {
		fam = unix.AF_INET6
	}
	p := s.pollerFor(g.turn)
	r := &relayConn{
		s:          s,
		fd:         fd,
		family:     fam,
		p:          p,
		advertised: adv,
		key:        adv.AddrPort(),
		identity:   conf.UserID,
		turn:       g.turn,
		bucket:     newBucket(s.cfg.BandwidthBytes, s.now),
		peers:      map[netip.AddrPort]uint16{},
		perms:      map[netip.Addr]int{},
		in:         make(chan packet, 64),
		done:       make(chan struct{}),
		fdDone:     make(chan struct{}),
	}
	r.key = netip.AddrPortFrom(r.key.Addr().Unmap(), r.key.Port())
	if err := p.register(r); err != nil {
		_ = unix.Close(fd)
		release()
		return nil, nil, err
	}
	r.mu.Lock()
	r.lifetime = time.AfterFunc(s.cfg.MaxLifetime, func() { _ = r.Close() })
	r.mu.Unlock()
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

// bindRelay binds a non-blocking UDP socket on port, or on a random port of
// the relay range when port is 0.
func (s *Server) bindRelay(network string, port int) (int, netip.AddrPort, error) {
	bind := s.relayBind
	if network == "udp6" && bind.Is4() {
		return -1, netip.AddrPort{}, fmt.Errorf("%w: relayBind %v is IPv4", errNoRelayPort, bind)
	}
	if port != 0 && (port < s.cfg.RelayPortMin || port > s.cfg.RelayPortMax) {
		return -1, netip.AddrPort{}, fmt.Errorf("%w: port %d is outside the relay range", errNoRelayPort, port)
	}
	fam := unix.AF_INET
	if !bind.Is4() {
		fam = unix.AF_INET6
	}
	span := s.cfg.RelayPortMax - s.cfg.RelayPortMin + 1
	for range 64 {
		try := port
		if try == 0 {
			try = s.cfg.RelayPortMin + rand.IntN(span) //nolint:gosec // port choice, not a secret
		}
		fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, netip.AddrPort{}, fmt.Errorf("turn: relay socket: %w", err)
		}
		var sa unix.Sockaddr
		if fam == unix.AF_INET {
			sa = &unix.SockaddrInet4{Port: try, Addr: bind.As4()}
		} else {
			sa = &unix.SockaddrInet6{Port: try, Addr: bind.As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			_ = unix.Close(fd)
			if port != 0 {
				return -1, netip.AddrPort{}, fmt.Errorf("turn: relay bind: %w", err)
			}
			continue
		}
		return fd, netip.AddrPortFrom(bind, uint16(try)), nil //nolint:gosec
	}
	return -1, netip.AddrPort{}, fmt.Errorf("%w in %s:%d-%d", errNoRelayPort, s.cfg.RelayBind, s.cfg.RelayPortMin, s.cfg.RelayPortMax)
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
