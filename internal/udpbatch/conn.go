package udpbatch

import (
	"fmt"
	"net"
	"sync/atomic"
)

// Conn sends Batches on one UDP socket. Safe for concurrent use (each
// goroutine with its own Batch). It does not own the socket.
type Conn struct {
	uc  *net.UDPConn
	gso atomic.Bool // the socket takes segmented writes
	// each makes Send write one datagram at a time, as off Linux (tests
	// of the portable path).
	each bool
	sys  sysConn
}

// NewConn returns a Conn that sends on uc.
func NewConn(uc *net.UDPConn) (*Conn, error) {
	c := &Conn{uc: uc}
	if err := c.sys.init(uc); err != nil {
		return nil, fmt.Errorf("udpbatch: %w", err)
	}
	c.gso.Store(c.sys.canSegment())
	return c, nil
}

// GSO reports whether Send makes segmented writes.
func (c *Conn) GSO() bool { return c.gso.Load() && !c.each }

// DisableGSO stops segmented writes (tests, and paths known not to take
// them).
func (c *Conn) DisableGSO() { c.gso.Store(false) }

// Batched reports whether one Send makes one system call for many
// datagrams (Linux), rather than one per datagram.
func (c *Conn) Batched() bool { return batched && !c.each }

// sendEach writes b's datagrams one at a time (the portable Send) and
// empties b.
func (c *Conn) sendEach(b *Batch) Result {
	var r Result
	c.sendRun(b, message{first: 0, count: b.n}, &r)
	b.Reset()
	return r
}

// sendRun writes the datagrams of m one at a time.
func (c *Conn) sendRun(b *Batch, m message, r *Result) {
	for i := m.first; i < m.first+m.count; i++ {
		n, err := c.uc.WriteToUDPAddrPort(b.slots[i][:b.lens[i]], b.to[i])
		r.Calls++
		if err != nil {
			r.Failed++
			continue
		}
		r.Packets++
		r.Bytes += uint64(n) //nolint:gosec // a length
	}
}
