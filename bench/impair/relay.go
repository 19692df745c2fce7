package impair

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/internal/netns"
)

// delayClock decides when each datagram leaves: delay ± a uniform jitter
// after it came, never below zero, and never before the datagram before
// it (no reordering).
type delayClock struct {
	delay, jitter time.Duration
	rnd           *rand.Rand
	last          time.Time
}

// release is the departure of a datagram that came at now.
func (c *delayClock) release(now time.Time) time.Time {
	d := c.delay
	if c.jitter > 0 {
		d += time.Duration((c.rnd.Float64()*2 - 1) * float64(c.jitter))
	}
	t := now.Add(max(d, 0))
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}

// Class is what the relay does to the datagrams of some sources.
type Class struct {
	// Sources are the senders whose datagrams the class holds; none: every
	// sender (then it must be the only class).
	Sources []netip.Addr
	// Delay is how long each datagram is held, ± a uniform Jitter (never
	// reordered).
	Delay, Jitter time.Duration
}

// RelayStats are what a delay relay (or one of its classes) did.
type RelayStats struct {
	Relayed uint64 `json:"relayed"`
	// Overflow counts datagrams dropped because the class already held
	// its bound of them; Errors, reads and writes that failed.
	Overflow uint64 `json:"overflow"`
	Errors   uint64 `json:"errors"`
	// MeanDelayMs is the mean time a datagram was held.
	MeanDelayMs float64 `json:"meanDelayMs"`
}

// heldDatagram is one datagram waiting in the relay.
type heldDatagram struct {
	b        []byte
	from, to netip.AddrPort
	came, at time.Time
}

// class is a Class at work: its clock, its queue, its counters.
type class struct {
	clock delayClock
	queue chan heldDatagram
	// outs are the sockets that speak for the datagrams' sources; only
	// the class's sender uses them.
	outs map[netip.AddrPort]*net.UDPConn

	relayed, overflow, errs atomic.Uint64
	heldNs                  atomic.Int64
}

// DelayRelay holds the UDP datagrams coming into a host. NewDelayRelay sets
// it up; Run relays until its context ends and then closes every socket.
type DelayRelay struct {
	host     *netns.Host
	in       *net.UDPConn
	classes  []*class
	bySource map[netip.Addr]*class // nil: one class for every source
	unknown  atomic.Uint64         // datagrams of no class's source
}

// NewDelayRelay opens the relay's socket in h and installs the rules that
// send it the host's incoming UDP of each class's sources. The seed makes
// the jitter reproducible. A host has at most one relay.
func NewDelayRelay(ctx context.Context, h *netns.Host, classes []Class, seed uint64) (*DelayRelay, error) {
	if len(classes) == 0 {
		return nil, errors.New("impair: a delay relay without classes")
	}
	r := &DelayRelay{host: h}
	for i, c := range classes {
		if len(c.Sources) == 0 && len(classes) > 1 {
			return nil, errors.New("impair: a class for every source must be the only one")
		}
		if c.Delay < 0 || c.Jitter < 0 {
			return nil, fmt.Errorf("impair: class %d: negative delay or jitter", i)
		}
		s := seed + uint64(i)
		k := &class{
			clock: delayClock{delay: c.Delay, jitter: c.Jitter, rnd: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))},
			queue: make(chan heldDatagram, relayQueue),
			outs:  map[netip.AddrPort]*net.UDPConn{},
		}
		r.classes = append(r.classes, k)
		for _, a := range c.Sources {
			if r.bySource == nil {
				r.bySource = map[netip.Addr]*class{}
			}
			if r.bySource[a] != nil {
				return nil, fmt.Errorf("impair: source %s in two classes", a)
			}
			r.bySource[a] = k
		}
	}
	pc, err := h.ListenPacketConfig(transparent(true), "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("impair: delay relay: %w", err)
	}
	r.in = pc.(*net.UDPConn)
	_ = r.in.SetReadBuffer(4 << 20)
	port := uint16(r.in.LocalAddr().(*net.UDPAddr).Port)
	cmds := tproxySetup()
	for _, c := range classes {
		cmds = append(cmds, tproxyRule(port, c.Sources))
	}
	for _, c := range cmds {
		if err := inHost(ctx, h, c...); err != nil {
			_ = r.in.Close()
			return nil, err
		}
	}
	return r, nil
}

// Run relays until ctx ends, then closes the relay's sockets.
func (r *DelayRelay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { _ = r.in.Close() })
	defer stop()
	wg.Go(r.read)
	for _, k := range r.classes {
		wg.Go(func() { r.send(ctx, k) })
	}
	wg.Wait()
	for _, k := range r.classes {
		for _, o := range k.outs {
			_ = o.Close()
		}
	}
}

// read takes the datagrams off the transparent socket and queues them in
// their class with their departure times; it ends when the socket is
// closed, and closes the queues.
func (r *DelayRelay) read() {
	defer func() {
		for _, k := range r.classes {
			close(k.queue)
		}
	}()
	buf := make([]byte, 64<<10)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := r.in.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.classes[0].errs.Add(1)
			continue
		}
		k := r.classes[0]
		if r.bySource != nil {
			if k = r.bySource[from.Addr().Unmap()]; k == nil {
				r.unknown.Add(1)
				continue
			}
		}
		to, ok := origDst(oob[:oobn])
		if !ok {
			k.errs.Add(1)
			continue
		}
		now := time.Now()
		d := heldDatagram{b: append([]byte(nil), buf[:n]...), from: from, to: to, came: now, at: k.clock.release(now)}
		select {
		case k.queue <- d:
		default:
			k.overflow.Add(1)
		}
	}
}

// send lets each datagram of class k go at its time, from a socket bound
// to its original source.
func (r *DelayRelay) send(ctx context.Context, k *class) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for d := range k.queue {
		if wait := time.Until(d.at); wait > 0 && ctx.Err() == nil {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			continue // drain: the reader is closing the queue
		}
		out, err := r.out(k, d.from)
		if err != nil {
			k.errs.Add(1)
			continue
		}
		if _, err := out.WriteToUDPAddrPort(d.b, d.to); err != nil {
			k.errs.Add(1)
			continue
		}
		k.relayed.Add(1)
		k.heldNs.Add(int64(time.Since(d.came)))
	}
}

// out is the socket that speaks for src inside the host.
func (r *DelayRelay) out(k *class, src netip.AddrPort) (*net.UDPConn, error) {
	if o := k.outs[src]; o != nil {
		return o, nil
	}
	pc, err := r.host.ListenPacketConfig(transparent(false), src.String())
	if err != nil {
		return nil, err
	}
	o := pc.(*net.UDPConn)
	k.outs[src] = o
	return o, nil
}

// Stats is what the relay did so far, over every class; a datagram from
// a source of no class counts as an error.
func (r *DelayRelay) Stats() RelayStats {
	s := RelayStats{Errors: r.unknown.Load()}
	var held int64
	for _, k := range r.classes {
		s.Relayed += k.relayed.Load()
		s.Overflow += k.overflow.Load()
		s.Errors += k.errs.Load()
		held += k.heldNs.Load()
	}
	if s.Relayed > 0 {
		s.MeanDelayMs = float64(held) / float64(s.Relayed) / 1e6
	}
	return s
}

// ClassStats is what class i (in NewDelayRelay's order) did so far.
func (r *DelayRelay) ClassStats(i int) RelayStats {
	k := r.classes[i]
	s := RelayStats{Relayed: k.relayed.Load(), Overflow: k.overflow.Load(), Errors: k.errs.Load()}
	if s.Relayed > 0 {
		s.MeanDelayMs = float64(k.heldNs.Load()) / float64(s.Relayed) / 1e6
	}
	return s
}
