package turn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/internal/logging"
)

// Server errors.
var (
	ErrNoSockets = errors.New("turn: no sockets to serve")
	ErrNoSecrets = errors.New("turn: no TURN secret")
	ErrClosed    = errors.New("turn: server closed")
)

// AllocateListenerConfig and AllocateConnConfig are pion/turn's relay
// allocation parameters.
type (
	AllocateListenerConfig = pionturn.AllocateListenerConfig
	AllocateConnConfig     = pionturn.AllocateConnConfig
)

// Sockets are what the server serves on; the caller opens them (Listen does
// it from a Config) and the server owns them from New on: Close closes them.
type Sockets struct {
	UDP []*net.UDPConn // several, bound with SO_REUSEPORT, to use every core
	TCP []net.Listener // TURN over TCP
	TLS []net.Listener // TURN over TLS (already wrapped by crypto/tls)
}

// Close closes every socket.
func (k Sockets) Close() {
	for _, c := range k.UDP {
		_ = c.Close()
	}
	for _, l := range append(append([]net.Listener{}, k.TCP...), k.TLS...) {
		_ = l.Close()
	}
}

// Option tunes a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRegisterer registers the server's metrics on r.
func WithRegisterer(r prometheus.Registerer) Option { return func(s *Server) { s.reg = r } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithOwnAddrs adds addresses of this host that are not on its interfaces
// (an edge's public nodeIPs behind 1:1 NAT): relays refuse them as peers,
// as they refuse the interfaces' own.
func WithOwnAddrs(addrs ...netip.Addr) Option {
	return func(s *Server) { s.own = append(s.own, addrs...) }
}

// withInterfaceAddrs replaces the interfaces' addresses (tests).
func withInterfaceAddrs(addrs ...netip.Addr) Option {
	return func(s *Server) { s.ifaces = func() []netip.Addr { return addrs } }
}

// withSendGuard makes every packet to a peer ask ok first (tests: it keeps
// test traffic on loopback even if the policy were broken).
func withSendGuard(ok func(netip.AddrPort) bool) Option {
	return func(s *Server) { s.sendGuard = ok }
}

// Server is the TURN/STUN server (RFC 8656 over pion/turn).
type Server struct {
	cfg       Config
	socks     Sockets
	log       *slog.Logger
	reg       prometheus.Registerer
	now       func() time.Time
	sendGuard func(netip.AddrPort) bool
	policy    *policy
	peers     atomic.Pointer[peers]
	own       []netip.Addr
	ifaces    func() []netip.Addr
	keys      *keyring
	m         *metrics
	relayIP   netip.Addr
	relayBind netip.Addr
	portable  bool // serve on the portable data path even on Linux
	udp       []clientSock
	tcp       []*trackListener

	mu       sync.Mutex
	relays   map[netip.AddrPort]*relayConn
	quota    map[string]int
	total    int                     // allocations charged, all identities
	revoked  map[string]revokedCreds // by identity
	closed   bool
	running  bool
	rr       int
	stop     chan struct{}
	stopOnce sync.Once
}

// New checks cfg (after WithDefaults) and prepares a server on socks with the
// TURN secrets that verify credentials (the first one is the one that signs,
// see internal/turncred). It starts nothing.
func New(cfg Config, secrets []string, socks Sockets, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	if len(socks.UDP)+len(socks.TCP)+len(socks.TLS) == 0 {
		return nil, ErrNoSockets
	}
	s := &Server{
		cfg:     cfg,
		socks:   socks,
		log:     slog.New(slog.DiscardHandler),
		now:     time.Now,
		ifaces:  interfaceAddrs,
		m:       newMetrics(),
		relays:  map[netip.AddrPort]*relayConn{},
		quota:   map[string]int{},
		revoked: map[string]revokedCreds{},
		stop:    make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.peers.Store(newPeers(nil))
	own := append(append([]netip.Addr{}, s.own...), s.ifaces()...)
	for _, a := range []string{cfg.RelayIP, cfg.RelayBind} {
		if ip, err := netip.ParseAddr(a); err == nil {
			own = append(own, ip)
		}
	}
	for _, c := range socks.UDP {
		own = append(own, addrPortOf(c.LocalAddr()).Addr())
	}
	for _, l := range append(append([]net.Listener{}, socks.TCP...), socks.TLS...) {
		own = append(own, addrPortOf(l.Addr()).Addr())
	}
	pol, err := newPolicy(cfg.Deny, cfg.Allow, own...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s.policy = pol
	s.log = s.log.With("component", "turn")
	s.keys = newKeyring(secrets, s.now)
	if cfg.RelayIP != "" {
		s.relayIP = netip.MustParseAddr(cfg.RelayIP)
	}
	s.relayBind = netip.MustParseAddr(cfg.RelayBind)
	if len(socks.UDP) == 0 {
		return nil, fmt.Errorf("%w: at least one UDP socket is needed", ErrNoSockets)
	}
	for _, c := range socks.UDP {
		l, err := s.newClientSock(c)
		if err != nil {
			for _, l := range s.udp {
				_ = l.Close()
			}
			return nil, fmt.Errorf("turn: %w", err)
		}
		s.udp = append(s.udp, l)
	}
	for _, l := range append(append([]net.Listener{}, socks.TCP...), socks.TLS...) {
		s.tcp = append(s.tcp, &trackListener{Listener: l, s: s, conns: map[net.Conn]struct{}{}})
	}
	if s.reg != nil {
		if err := s.reg.Register(collector{s.m}); err != nil {
			return nil, fmt.Errorf("turn: register metrics: %w", err)
		}
	}
	return s, nil
}

// SetSecrets replaces the TURN secrets (rotation: add the new one first,
// keep the old one until its credentials have expired).
func (s *Server) SetSecrets(secrets []string) { s.keys.setSecrets(secrets) }

// Stats returns the server's counters.
func (s *Server) Stats() Stats { return s.m.stats() }

// Run serves until ctx ends or Close is called.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.running {
		s.mu.Unlock()
		return ErrClosed
	}
	s.running = true
	s.mu.Unlock()

	sc := pionturn.ServerConfig{
		Realm:             s.cfg.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.quotaOK,
		EventHandler:      s.events(),
		LoggerFactory:     logging.Pion(s.log),
		InboundMTU:        slotSize, // pion's buffer per UDP socket and per TCP connection
		PermissionTimeout: 0,
	}
	for _, l := range s.udp {
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn:            l,
			RelayAddressGenerator: &relayGen{s: s, turn: l},
			PermissionHandler:     s.permit,
		})
	}
	for _, l := range s.tcp {
		sc.ListenerConfigs = append(sc.ListenerConfigs, pionturn.ListenerConfig{
			Listener:              l,
			RelayAddressGenerator: &relayGen{s: s},
			PermissionHandler:     s.permit,
		})
	}
	var pollers sync.WaitGroup
	for _, l := range s.udp {
		l.start(&pollers)
	}
	srv, err := pionturn.NewServer(sc)
	if err != nil {
		s.closeSockets()
		pollers.Wait()
		return fmt.Errorf("turn: start: %w", err)
	}
	s.log.Info("TURN server running", "udp", len(s.udp), "tcp+tls", len(s.tcp), "realm", s.cfg.Realm)
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = srv.Close()
	s.closeSockets()
	pollers.Wait()
	s.closeRelays()
	if s.reg != nil {
		s.reg.Unregister(collector{s.m})
	}
	return nil
}

// Close stops Run. It is safe to call more than once, and before Run.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.mu.Lock()
		running := s.running
		s.closed = true
		s.mu.Unlock()
		if !running {
			s.closeSockets()
			// Run will not start, so it will not unregister the metrics.
			if s.reg != nil {
				s.reg.Unregister(collector{s.m})
			}
		}
	})
	return nil
}

// closeSockets closes the client sockets (and stops their pollers).
func (s *Server) closeSockets() {
	for _, l := range s.udp {
		_ = l.Close()
	}
	for _, l := range s.tcp {
		_ = l.Close()
	}
}

// nextSock picks the UDP socket whose data path serves the relay of a
// TCP/TLS client: each in turn.
func (s *Server) nextSock() clientSock {
	s.mu.Lock()
	s.rr++
	i := s.rr % len(s.udp)
	s.mu.Unlock()
	return s.udp[i]
}

// closeRelays closes every relay socket and waits (briefly) for pion to
// delete their allocations, so no goroutine outlives Run.
func (s *Server) closeRelays() {
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		rs := make([]*relayConn, 0, len(s.relays))
		for _, r := range s.relays {
			rs = append(rs, r)
		}
		s.mu.Unlock()
		for _, r := range rs {
			_ = r.Close()
		}
		if s.m.allocations.Load() <= 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) addRelay(r *relayConn) {
	s.mu.Lock()
	s.relays[r.key] = r
	s.mu.Unlock()
	s.m.track(&r.t)
}

func (s *Server) dropRelay(r *relayConn) {
	s.mu.Lock()
	if s.relays[r.key] == r {
		delete(s.relays, r.key)
	}
	s.mu.Unlock()
	if r.identity != "" {
		s.release(r.identity)
	}
	s.m.retire(&r.t)
}

func (s *Server) relayFor(a net.Addr) *relayConn {
	k := addrPortOf(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.relays[k]
}

// reserve charges one allocation to identity, within its quota and the
// server's.
func (s *Server) reserve(identity string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota[identity] >= s.cfg.UserQuota || s.total >= s.cfg.MaxAllocations {
		return false
	}
	s.quota[identity]++
	s.total++
	return true
}

func (s *Server) release(identity string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.quota[identity] <= 1 {
		delete(s.quota, identity)
		return
	}
	s.quota[identity]--
}

// quotaOK is pion's QuotaHandler: 486 Allocation Quota Reached (RFC 8656
// §7.2 step 7) once the identity holds UserQuota allocations, or the
// server MaxAllocations.
func (s *Server) quotaOK(identity, _ string, _ net.Addr) bool {
	s.mu.Lock()
	ok := s.quota[identity] < s.cfg.UserQuota && s.total < s.cfg.MaxAllocations
	s.mu.Unlock()
	if !ok {
		s.m.quotaRejections.Add(1)
	}
	return ok
}

// permit is pion's PermissionHandler: CreatePermission answers 403 for a
// denied peer (RFC 8656 §10.2).
func (s *Server) permit(_ net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if ok && s.ipAllowed(ip) {
		return true
	}
	s.m.refusedPeers.Add(1)
	return false
}

// SetPeers sets the media addresses of the fleet's edges (an edge's
// embedded TURN server learns them from gossip, its own included): a relay
// reaches exactly these endpoints even on private or own addresses, where
// it reaches nothing else. Safe for concurrent use.
func (s *Server) SetPeers(addrs []netip.AddrPort) { s.peers.Store(newPeers(addrs)) }

// ipAllowed decides a permission (per IP, RFC 8656 §9).
func (s *Server) ipAllowed(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if _, edge := s.peers.Load().ips[ip]; edge {
		return true
	}
	return s.policy.allowed(ip)
}

// peerAllowed decides a channel bind and every send: a fleet edge's media
// endpoint, or an address the policy allows.
func (s *Server) peerAllowed(ap netip.AddrPort) bool {
	ap = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	if _, edge := s.peers.Load().addrs[ap]; edge {
		return true
	}
	return s.policy.allowed(ap.Addr())
}

// interfaceAddrs lists the addresses of this host's interfaces.
func interfaceAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}

// authenticate is pion's AuthHandler for TURN REST credentials. The key it
// returns is the one screen found for this username; pion checks the
// message with it.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (string, []byte, bool) {
	identity, expiry, err := s.keys.check(ra.Username)
	switch {
	case errors.Is(err, ErrExpired):
		s.m.authExpired.Add(1)
		return "", nil, false
	case err != nil:
		s.m.authBad.Add(1)
		return "", nil, false
	case s.credentialRevoked(identity, expiry):
		s.m.authRevoked.Add(1)
		return "", nil, false
	}
	return identity, s.keys.key(ra.Username, ra.Realm), true
}

func (s *Server) events() pionturn.EventHandler {
	return pionturn.EventHandler{
		OnAuth: func(_, _ net.Addr, _, _, _, _ string, ok bool) {
			if !ok {
				s.m.authForged.Add(1)
			}
		},
		OnAllocationError: func(src, _ net.Addr, _, msg string) {
			s.log.Debug("request failed", "client", src.String(), "error", msg)
		},
		OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) {
			s.m.allocations.Add(1)
		},
		OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) {
			s.m.allocations.Add(-1)
		},
		OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.m.permissions.Add(1)
			if r := s.relayFor(relay); r != nil {
				ip, _ := netip.AddrFromSlice(peer)
				r.permission(ip.Unmap(), 1)
			}
		},
		OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.m.permissions.Add(-1)
			if r := s.relayFor(relay); r != nil {
				ip, _ := netip.AddrFromSlice(peer)
				r.permission(ip.Unmap(), -1)
			}
		},
		OnChannelCreated: func(src, _ net.Addr, _, _, _ string, relay, peer net.Addr, ch uint16) {
			s.m.channels.Add(1)
			r := s.relayFor(relay)
			if r == nil {
				return
			}
			client, p := addrPortOf(src), addrPortOf(peer)
			if !s.peerAllowed(p) {
				return // pion asked us first; never route to a denied peer
			}
			r.addChannel(client, p, ch)
			if r.turn != nil {
				r.turn.addRoute(routeKey{client, ch}, r, p)
			}
		},
		OnChannelDeleted: func(src, _ net.Addr, _, _, _ string, relay, peer net.Addr, ch uint16) {
			s.m.channels.Add(-1)
			r := s.relayFor(relay)
			if r == nil {
				return
			}
			r.removeChannel(addrPortOf(peer))
			if r.turn != nil {
				r.turn.removeRoute(routeKey{addrPortOf(src), ch})
			}
		},
	}
}

// slotSize is the buffer of one datagram (UDP TURN traffic is MTU-sized),
// pion's per UDP socket and per TCP connection included.
const slotSize = 2048

var _ io.Closer = (*Server)(nil)
