package mmsg

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/internal/udpbatch"
)

// Capacity is the most packets one batch holds before it is sent.
const Capacity = 128

// runRoom is how close to Capacity a batch may fill before it is sent at
// the next change of destination, so that a run of packets to one
// destination (one subscriber's share of a frame) is not split between two
// batches, and so between two writes.
const runRoom = 16

// maxPacket is the largest packet a batch slot holds; a bigger one is sent
// on its own.
const maxPacket = 1500

// SlotSize is the most a Batch slot (Batch.Next) holds.
const SlotSize = maxPacket

// Conn is a net.PacketConn whose writes between Hold and Release leave
// together. Safe for concurrent use.
type Conn struct {
	pc  net.PacketConn
	out *udpbatch.Conn // nil when pc cannot send batches

	mu    sync.Mutex
	holds int
	cur   *udpbatch.Batch
	free  []*udpbatch.Batch

	bytes   atomic.Uint64
	packets atomic.Uint64
	calls   atomic.Uint64
	failed  atomic.Uint64
	gsoOff  atomic.Uint64
	gsoPkts atomic.Uint64
}

// New wraps pc. Only a *net.UDPConn can batch; any other PacketConn is
// written packet by packet (and still counted).
func New(pc net.PacketConn) *Conn {
	c := &Conn{pc: pc}
	if u, ok := pc.(*net.UDPConn); ok {
		if out, err := udpbatch.NewConn(u); err == nil {
			c.out = out
		}
	}
	return c
}

// DisableGSO stops segmented writes (tests, and paths known not to take them).
func (c *Conn) DisableGSO() {
	if c.out != nil {
		c.out.DisableGSO()
	}
}

// Hold starts holding writes back; every Hold needs one Release.
func (c *Conn) Hold() {
	if c.out == nil {
		return
	}
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// Release ends one Hold; the last one sends what was held.
func (c *Conn) Release() {
	if c.out == nil {
		return
	}
	c.mu.Lock()
	c.holds--
	var b *udpbatch.Batch
	if c.holds == 0 && c.cur != nil && c.cur.Len() > 0 {
		b, c.cur = c.cur, nil
	}
	c.mu.Unlock()
	if b != nil {
		c.send(b)
	}
}

// WriteTo implements net.PacketConn. While a Hold is in force it copies p
// into the current batch and reports success; the send's errors are then
// counted (Stats) rather than returned, as for any lost datagram.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if c.out == nil || !ok || len(p) > maxPacket {
		return c.write(p, addr)
	}
	to := ua.AddrPort()
	c.mu.Lock()
	if c.holds == 0 {
		c.mu.Unlock()
		return c.write(p, addr)
	}
	var ready, full *udpbatch.Batch
	if b := c.cur; b != nil && leaveBefore(b, to) {
		ready, c.cur = b, nil
	}
	if c.cur == nil {
		c.cur = c.get()
	}
	b := c.cur
	b.Commit(copy(b.Next(), p), to)
	if b.Full() {
		full, c.cur = b, nil
	}
	c.mu.Unlock()
	if ready != nil {
		c.send(ready)
	}
	if full != nil {
		c.send(full)
	}
	return len(p), nil
}

func (c *Conn) write(p []byte, addr net.Addr) (int, error) {
	n, err := c.pc.WriteTo(p, addr)
	c.calls.Add(1)
	if err != nil {
		c.failed.Add(1)
		return n, err
	}
	c.bytes.Add(uint64(n)) //nolint:gosec // a length
	c.packets.Add(1)
	return n, nil
}

// send sends b and returns it to the free list.
func (c *Conn) send(b *udpbatch.Batch) {
	c.transmit(b)
	c.put(b)
}

// transmit sends b (it is then empty) and counts what happened.
func (c *Conn) transmit(b *udpbatch.Batch) {
	r := c.out.Send(b)
	c.bytes.Add(r.Bytes)
	c.packets.Add(r.Packets)
	c.calls.Add(r.Calls)
	if r.Failed > 0 {
		c.failed.Add(r.Failed)
	}
	if r.Segmented > 0 {
		c.gsoPkts.Add(r.Segmented)
	}
	if r.GSOOff {
		c.gsoOff.Add(1)
	}
}

// put returns b, sent and empty, to the free list.
func (c *Conn) put(b *udpbatch.Batch) {
	c.mu.Lock()
	c.free = append(c.free, b)
	c.mu.Unlock()
}

// get takes a batch from the free list (mu held).
func (c *Conn) get() *udpbatch.Batch {
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return udpbatch.NewBatch(Capacity, maxPacket)
}

// leaveBefore reports whether b must be sent before a packet to addr joins
// it: it is full, or nearly full and addr ends a run of one destination's
// packets (so that a run is not split between two writes).
func leaveBefore(b *udpbatch.Batch, to netip.AddrPort) bool {
	n := b.Len()
	return n == Capacity || n >= Capacity-runRoom && b.To(n-1) != unmap(to)
}

// unmap is to as a Batch keeps it (IPv4 unmapped).
func unmap(to netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
}

// Stats are a Conn's counters.
type Stats struct {
	Bytes   uint64 // sent
	Packets uint64 // sent
	Calls   uint64 // system calls made to send them
	Failed  uint64 // packets the kernel refused
	// Segmented counts the packets sent inside segmented (GSO) writes.
	Segmented uint64
	// GSOOff counts segmented writes the path refused (after the first,
	// the Conn sends packet by packet).
	GSOOff uint64
}

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	return Stats{Bytes: c.bytes.Load(), Packets: c.packets.Load(), Calls: c.calls.Load(), Failed: c.failed.Load(), Segmented: c.gsoPkts.Load(), GSOOff: c.gsoOff.Load()}
}

// BytesOut is the bytes sent so far.
func (c *Conn) BytesOut() uint64 { return c.bytes.Load() }

// ReadFrom implements net.PacketConn.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) { return c.pc.ReadFrom(p) }

// Close implements net.PacketConn.
func (c *Conn) Close() error { return c.pc.Close() }

// LocalAddr implements net.PacketConn.
func (c *Conn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline implements net.PacketConn.
func (c *Conn) SetDeadline(t time.Time) error { return c.pc.SetDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// SetWriteDeadline implements net.PacketConn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }
