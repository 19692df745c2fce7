package loopbridge

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpPort is one UDP port inside a host, on the service's address.
type udpPort struct {
	h      *host
	in     *net.UDPConn
	target netip.AddrPort
}

// nat is a host's UDP translation table: one root-namespace socket per
// source address inside the host, for every forwarded port (the mapping
// is endpoint-independent, as a well-behaved NAT's, so a source keeps one
// outside address whichever service it talks to). Only the services'
// ports may answer through it.
type nat struct {
	b *Bridge
	h *host

	mu    sync.Mutex
	flows map[netip.AddrPort]*flow
	shut  bool
}

// flow is one source inside a host and its socket in the root namespace.
type flow struct {
	src  netip.AddrPort
	out  *net.UDPConn
	last atomic.Int64 // Bridge.now at the last packet either way
}

// readHost relays packets from the host to the service.
func (p *udpPort) readHost() {
	b := p.h.nat.b
	defer b.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, src, err := p.in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.h.nat.closed() {
				return
			}
			b.c.errors.Add(1)
			continue
		}
		if p.h.gate.paused.Load() {
			b.c.dropped.Add(1)
			continue
		}
		f := p.h.nat.flow(src)
		if f == nil {
			b.c.dropped.Add(1)
			continue
		}
		f.last.Store(b.now.Load())
		if _, err := f.out.WriteToUDPAddrPort(buf[:n], p.target); err != nil {
			b.c.errors.Add(1)
			continue
		}
		b.c.udpIn.Add(1)
		b.c.udpBytes.Add(uint64(n))
	}
}

// flow returns src's flow, making it (and its reader) on its first packet;
// nil when the table is full or shut.
func (t *nat) flow(src netip.AddrPort) *flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.flows[src]; f != nil {
		return f
	}
	if t.shut || len(t.flows) >= t.b.cfg.MaxFlows {
		return nil
	}
	out, err := t.b.outside(src)
	if err != nil {
		t.b.c.errors.Add(1)
		return nil
	}
	_ = out.SetReadBuffer(1 << 20)
	f := &flow{src: src, out: out}
	f.last.Store(t.b.now.Load())
	t.flows[src] = f
	t.b.c.udpFlows.Add(1)
	t.b.wg.Add(1)
	go t.readService(f)
	return f
}

// outside opens a flow's root-namespace socket: on the source's own
// address with KeepSource (when it is not a loopback one), else on an
// ephemeral port of the services' address.
func (b *Bridge) outside(src netip.AddrPort) (*net.UDPConn, error) {
	if b.cfg.KeepSource && !src.Addr().IsLoopback() {
		out, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(src))
		if err == nil {
			return out, nil
		}
		b.c.translated.Add(1)
	}
	return net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.cfg.Addr, 0)))
}

// readService relays the services' packets back to the flow's source,
// through the host socket of the port they come from. It ends when the
// flow's socket is closed (expiry or shutdown).
func (t *nat) readService(f *flow) {
	b := t.b
	defer b.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := f.out.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.forget(f)
			return
		}
		p := t.h.udpFrom(from)
		if p == nil || t.h.gate.paused.Load() {
			b.c.dropped.Add(1)
			continue
		}
		f.last.Store(b.now.Load())
		if _, err := p.in.WriteToUDPAddrPort(buf[:n], f.src); err != nil {
			b.c.errors.Add(1)
			continue
		}
		b.c.udpOut.Add(1)
		b.c.udpBytes.Add(uint64(n))
	}
}

// udpFrom is the forwarded port a service packet comes from, or nil.
func (h *host) udpFrom(from netip.AddrPort) *udpPort {
	for _, p := range h.udp { // a handful
		if p.target == from {
			return p
		}
	}
	return nil
}

// forget removes f from the table (if still there) and closes its socket.
func (t *nat) forget(f *flow) {
	t.mu.Lock()
	if t.flows[f.src] == f {
		delete(t.flows, f.src)
	}
	t.mu.Unlock()
	_ = f.out.Close()
}

// expire closes the flows idle since before cutoff.
func (t *nat) expire(cutoff time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := cutoff.UnixNano()
	for src, f := range t.flows {
		if f.last.Load() < c {
			delete(t.flows, src)
			_ = f.out.Close()
		}
	}
}

// close shuts the table: every flow closed, no new one made.
func (t *nat) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.shut = true
	for src, f := range t.flows {
		delete(t.flows, src)
		_ = f.out.Close()
	}
}

func (t *nat) closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shut
}

// count is the number of live flows (tests).
func (t *nat) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.flows)
}
