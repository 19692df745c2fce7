package loopbridge

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpPort is one UDP port inside a host, and its NAT table: one
// root-namespace socket per source address inside the host.
type udpPort struct {
	b      *Bridge
	h      *host
	in     *net.UDPConn // inside the host, on the service's address
	target netip.AddrPort

	mu    sync.Mutex
	flows map[netip.AddrPort]*flow
	shut  bool
}

// flow is one source inside a host and its socket in the root namespace.
type flow struct {
	src  netip.AddrPort
	out  *net.UDPConn
	last atomic.Int64 // unix ns of the last packet either way
}

// readHost relays packets from the host to the service.
func (p *udpPort) readHost() {
	b := p.b
	defer b.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, src, err := p.in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.closed() {
				return
			}
			b.c.errors.Add(1)
			continue
		}
		if p.h.gate.paused.Load() {
			b.c.dropped.Add(1)
			continue
		}
		f := p.flow(src)
		if f == nil {
			b.c.dropped.Add(1)
			continue
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := f.out.WriteToUDPAddrPort(buf[:n], p.target); err != nil {
			b.c.errors.Add(1)
			continue
		}
		b.c.udpIn.Add(1)
		b.c.udpBytes.Add(uint64(n))
	}
}

// flow returns src's flow, making it (and its reader) on its first packet;
// nil when the table is full or the port is shut.
func (p *udpPort) flow(src netip.AddrPort) *flow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.flows[src]; f != nil {
		return f
	}
	if p.shut || len(p.flows) >= p.b.cfg.MaxFlows {
		return nil
	}
	out, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.target.Addr(), 0)))
	if err != nil {
		p.b.c.errors.Add(1)
		return nil
	}
	_ = out.SetReadBuffer(1 << 20)
	f := &flow{src: src, out: out}
	f.last.Store(time.Now().UnixNano())
	p.flows[src] = f
	p.b.c.udpFlows.Add(1)
	p.b.wg.Add(1)
	go p.readService(f)
	return f
}

// readService relays the service's packets back to the flow's source. It
// ends when the flow's socket is closed (expiry or shutdown).
func (p *udpPort) readService(f *flow) {
	b := p.b
	defer b.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := f.out.ReadFromUDPAddrPort(buf)
		if err != nil {
			p.forget(f)
			return
		}
		if from != p.target || p.h.gate.paused.Load() {
			b.c.dropped.Add(1)
			continue
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := p.in.WriteToUDPAddrPort(buf[:n], f.src); err != nil {
			b.c.errors.Add(1)
			continue
		}
		b.c.udpOut.Add(1)
		b.c.udpBytes.Add(uint64(n))
	}
}

// forget removes f from the table (if still there) and closes its socket.
func (p *udpPort) forget(f *flow) {
	p.mu.Lock()
	if p.flows[f.src] == f {
		delete(p.flows, f.src)
	}
	p.mu.Unlock()
	_ = f.out.Close()
}

// expire closes the flows idle since before cutoff.
func (p *udpPort) expire(cutoff time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := cutoff.UnixNano()
	for src, f := range p.flows {
		if f.last.Load() < c {
			delete(p.flows, src)
			_ = f.out.Close()
		}
	}
}

// closeFlows shuts the table: every flow closed, no new one made.
func (p *udpPort) closeFlows() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut = true
	for src, f := range p.flows {
		delete(p.flows, src)
		_ = f.out.Close()
	}
}

func (p *udpPort) closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shut
}

// flowCount is the number of live flows (tests).
func (p *udpPort) flowCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.flows)
}
