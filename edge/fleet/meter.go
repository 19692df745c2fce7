package fleet

import (
	"net"
	"sync/atomic"
)

// MeteredConn counts the bytes an edge's media socket sends, for the
// bandwidth in the load it advertises. It adds one atomic add per packet
// to the socket's write path and changes nothing else.
type MeteredConn struct {
	net.PacketConn
	out atomic.Uint64
}

// Meter wraps pc.
func Meter(pc net.PacketConn) *MeteredConn { return &MeteredConn{PacketConn: pc} }

// WriteTo implements net.PacketConn.
func (m *MeteredConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := m.PacketConn.WriteTo(b, addr)
	m.out.Add(uint64(n))
	return n, err
}

// BytesOut is the total sent so far.
func (m *MeteredConn) BytesOut() uint64 { return m.out.Load() }
