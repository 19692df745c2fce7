package mmsg

import (
	"net/netip"

	"github.com/spacecast/spacecast/internal/udpbatch"
)

// Batch is a batch that one goroutine fills on its own, with no lock per
// packet and no copy: the caller writes each packet straight into the
// batch's slot (Next, then Commit), and Send sends what it holds. The
// edge's own SRTP path encrypts into these slots. A Batch is not safe for
// concurrent use; the packets of one destination keep their order, and
// Conn.WriteTo traffic (held or not) goes out independently of it.
//
// A Batch is meant to live as long as its goroutine: it takes slots from
// the Conn at its first Next and gives them back at Send.
type Batch struct {
	c  *Conn
	b  *udpbatch.Batch // nil between a Send and the next Next
	to netip.AddrPort  // the destination of the slot Next gave
}

// NewBatch returns an empty batch. It is nil when the Conn cannot send
// batches (its PacketConn is not a *net.UDPConn).
func (c *Conn) NewBatch() *Batch {
	if c.out == nil {
		return nil
	}
	return &Batch{c: c}
}

// Next returns the buffer for the next packet, to addr (len SlotSize, the
// most a slot holds). The packet counts once Commit gives its length; a
// Next without Commit is overwritten by the next one. When the batch is
// full, or nearly so and addr ends a run of one destination's packets,
// what it holds is sent first.
func (b *Batch) Next(addr netip.AddrPort) []byte {
	x := b.b
	if x == nil {
		b.c.mu.Lock()
		x = b.c.get()
		b.c.mu.Unlock()
		b.b = x
	}
	if leaveBefore(x, addr) {
		b.c.transmit(x)
	}
	b.to = addr
	return x.Next()[:maxPacket]
}

// Commit adds the packet the caller wrote into Next's buffer, n bytes.
func (b *Batch) Commit(n int) { b.b.Commit(n, b.to) }

// Len is the number of packets waiting.
func (b *Batch) Len() int {
	if b.b == nil {
		return 0
	}
	return b.b.Len()
}

// Send sends what the batch holds and gives its slots back to the Conn;
// the Batch stays usable.
func (b *Batch) Send() {
	if b.b == nil {
		return
	}
	if b.b.Len() > 0 {
		b.c.transmit(b.b)
	}
	b.c.put(b.b)
	b.b = nil
}
