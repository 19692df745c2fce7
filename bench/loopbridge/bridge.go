package loopbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the bridge's lifecycle.
var (
	ErrClosed      = errors.New("loopbridge: closed")
	ErrRunning     = errors.New("loopbridge: hosts are added before Run")
	ErrUnknownHost = errors.New("loopbridge: unknown host")
)

// Host is where the bridge listens: a network namespace (*netns.Host
// satisfies it). Its sockets must be made inside it, and its packet
// sockets must be UDP (*net.UDPConn).
type Host interface {
	ListenTCP(addr string) (net.Listener, error)
	ListenPacket(addr string) (net.PacketConn, error)
}

// Config is the bridge's settings; zero values mean the defaults.
type Config struct {
	// Addr is the loopback address the services listen on in the root
	// namespace, and where the bridge listens inside each host
	// (default 127.0.0.1).
	Addr netip.Addr
	// Ports are forwarded.
	Ports []Port
	// UDPIdle is how long a UDP flow may carry nothing, either way, before
	// its root-namespace socket is closed (default 1 minute; ICE consent
	// checks keep a live one busy every few seconds).
	UDPIdle time.Duration
	// MaxFlows bounds the UDP flows of one host (default 4096);
	// packets of new sources beyond it are dropped.
	MaxFlows int
	// DialTimeout bounds a TCP connection to the service (default 5 s).
	DialTimeout time.Duration
	// KeepSource binds each UDP flow's root-namespace socket to the
	// flow's source address and port inside the host, so that the
	// services see the very address the host's programs advertise (an
	// ICE host candidate then matches, instead of showing up as a
	// peer-reflexive one, which a controlling pion agent nominates only
	// after a second). The hosts' addresses must be local to the root
	// namespace (netns.Network.Mirror). Sources on loopback, and flows
	// whose address cannot be bound, get an ephemeral port on Addr.
	KeepSource bool
}

func (c Config) withDefaults() Config {
	if !c.Addr.IsValid() {
		c.Addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if c.UDPIdle == 0 {
		c.UDPIdle = time.Minute
	}
	if c.MaxFlows == 0 {
		c.MaxFlows = 4096
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if !c.Addr.Is4() || !c.Addr.IsLoopback() {
		errs = append(errs, fmt.Errorf("loopbridge: addr %s: want an IPv4 loopback address", c.Addr))
	}
	if len(c.Ports) == 0 {
		errs = append(errs, fmt.Errorf("loopbridge: no ports"))
	}
	for _, p := range c.Ports {
		if (p.Network != "tcp" && p.Network != "udp") || p.Port == 0 {
			errs = append(errs, fmt.Errorf("%w %v", ErrPort, p))
		}
	}
	if c.UDPIdle < 0 || c.MaxFlows < 0 || c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("loopbridge: negative limit"))
	}
	return errors.Join(errs...)
}

// Stats are the bridge's counters since New.
type Stats struct {
	TCPConns      uint64 // connections accepted in hosts
	TCPBytes      uint64 // bytes copied, both ways
	UDPFlows      uint64 // flows made (source addresses in hosts)
	Translated    uint64 // flows that could not keep their source (KeepSource)
	UDPPacketsIn  uint64 // packets from hosts to the services
	UDPPacketsOut uint64 // packets from the services to hosts
	UDPBytes      uint64 // bytes of those packets, both ways
	Dropped       uint64 // UDP packets dropped: paused host, flow limit, from a port not forwarded
	Errors        uint64 // failed dials to a service, socket errors
}

type counters struct {
	tcpConns, tcpBytes, udpFlows, translated, udpIn, udpOut, udpBytes, dropped, errors atomic.Uint64
}

// Bridge relays the ports of Config from inside the hosts to the root
// namespace's loopback.
type Bridge struct {
	cfg Config
	log *slog.Logger
	c   counters

	// now is a coarse clock (unix ns), advanced by reap on each tick: a
	// flow's idle time needs no finer grain, and the relay path then reads
	// no clock per packet.
	now atomic.Int64

	closing   chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	hosts   map[string]*host
	order   []*host
	running bool
	closed  bool
	wg      sync.WaitGroup
}

// host is one namespace's sockets and its pause switch.
type host struct {
	name  string
	gate  *gate
	tcp   []tcpPort
	udp   []*udpPort
	nat   *nat
	conns map[net.Conn]struct{} // live TCP connections, both ends (under Bridge.mu)
}

type tcpPort struct {
	ln     net.Listener
	target string
}

// New checks cfg. It opens nothing: Add opens the sockets in a host, Run
// relays. log may be nil.
func New(cfg Config, log *slog.Logger) (*Bridge, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg, log: log.With("component", "loopbridge"), closing: make(chan struct{}), hosts: map[string]*host{}}, nil
}

// Add opens every port's socket inside h (on the same loopback address as
// in the root namespace). name identifies the host for Pause. Hosts are
// added before Run.
func (b *Bridge) Add(name string, h Host) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.running:
		return ErrRunning
	case b.hosts[name] != nil:
		return fmt.Errorf("loopbridge: host %q added twice", name)
	}
	hs := &host{name: name, gate: newGate(), conns: map[net.Conn]struct{}{}}
	hs.nat = &nat{b: b, h: hs, flows: map[netip.AddrPort]*flow{}}
	for _, p := range b.cfg.Ports {
		addr := netip.AddrPortFrom(b.cfg.Addr, p.Port)
		switch p.Network {
		case "tcp":
			ln, err := h.ListenTCP(addr.String())
			if err != nil {
				hs.close()
				return fmt.Errorf("loopbridge: host %s, %v: %w", name, p, err)
			}
			hs.tcp = append(hs.tcp, tcpPort{ln: ln, target: addr.String()})
		case "udp":
			pc, err := h.ListenPacket(addr.String())
			if err != nil {
				hs.close()
				return fmt.Errorf("loopbridge: host %s, %v: %w", name, p, err)
			}
			uc, ok := pc.(*net.UDPConn)
			if !ok {
				_ = pc.Close()
				hs.close()
				return fmt.Errorf("loopbridge: host %s, %v: a %T, want *net.UDPConn", name, p, pc)
			}
			_ = uc.SetReadBuffer(4 << 20)
			_ = uc.SetWriteBuffer(4 << 20)
			hs.udp = append(hs.udp, &udpPort{h: hs, in: uc, target: addr})
		}
	}
	b.hosts[name] = hs
	b.order = append(b.order, hs)
	return nil
}

// Pause cuts a host off: its UDP packets are dropped both ways and its TCP
// bytes held, until Resume.
func (b *Bridge) Pause(name string) error { return b.setPaused(name, true) }

// Resume undoes Pause.
func (b *Bridge) Resume(name string) error { return b.setPaused(name, false) }

func (b *Bridge) setPaused(name string, paused bool) error {
	b.mu.Lock()
	h := b.hosts[name]
	b.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%w %q", ErrUnknownHost, name)
	}
	if paused {
		h.gate.pause()
	} else {
		h.gate.resume()
	}
	return nil
}

// Stats returns the counters.
func (b *Bridge) Stats() Stats {
	return Stats{
		TCPConns: b.c.tcpConns.Load(), TCPBytes: b.c.tcpBytes.Load(),
		UDPFlows: b.c.udpFlows.Load(), Translated: b.c.translated.Load(), UDPPacketsIn: b.c.udpIn.Load(), UDPPacketsOut: b.c.udpOut.Load(),
		UDPBytes: b.c.udpBytes.Load(), Dropped: b.c.dropped.Load(), Errors: b.c.errors.Load(),
	}
}

// Run relays until ctx ends or Close, then closes every socket and waits
// for its goroutines.
func (b *Bridge) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.running {
		b.mu.Unlock()
		return fmt.Errorf("loopbridge: Run called twice")
	}
	b.running = true
	for _, h := range b.order {
		for _, p := range h.tcp {
			b.wg.Add(1)
			go b.accept(ctx, h, p)
		}
		for _, p := range h.udp {
			b.wg.Add(1)
			go p.readHost()
		}
	}
	b.now.Store(time.Now().UnixNano())
	b.wg.Add(1)
	go b.reap()
	b.mu.Unlock()

	select {
	case <-ctx.Done():
	case <-b.closing:
	}
	b.shutdown()
	b.wg.Wait()
	return nil
}

// Close stops Run (or, before Run, closes the sockets Add opened). It is
// safe to call twice.
func (b *Bridge) Close() error {
	b.closeOnce.Do(func() { close(b.closing) })
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if !running {
		b.shutdown()
	}
	return nil
}

// shutdown closes every socket; the goroutines then end.
func (b *Bridge) shutdown() {
	b.closeOnce.Do(func() { close(b.closing) })
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, h := range b.order {
		h.close()
		for c := range h.conns {
			_ = c.Close()
		}
	}
}

// close closes the host's listening sockets and UDP flows.
func (h *host) close() {
	for _, p := range h.tcp {
		_ = p.ln.Close()
	}
	for _, p := range h.udp {
		_ = p.in.Close()
	}
	h.nat.close()
}

// reap forgets idle UDP flows.
func (b *Bridge) reap() {
	defer b.wg.Done()
	every := max(b.cfg.UDPIdle/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.closing:
			return
		case now := <-t.C:
			b.now.Store(now.UnixNano())
			b.mu.Lock()
			hosts := append([]*host(nil), b.order...)
			b.mu.Unlock()
			for _, h := range hosts {
				h.nat.expire(now.Add(-b.cfg.UDPIdle))
			}
		}
	}
}

// gate is a host's pause switch.
type gate struct {
	paused atomic.Bool
	mu     sync.Mutex
	open   chan struct{} // closed while not paused
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused.Load() {
		g.paused.Store(true)
		g.open = make(chan struct{})
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused.Load() {
		g.paused.Store(false)
		close(g.open)
	}
}

// wait blocks while the gate is paused; false when stop closed first.
func (g *gate) wait(stop <-chan struct{}) bool {
	if !g.paused.Load() {
		return true
	}
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-stop:
		return false
	}
}
