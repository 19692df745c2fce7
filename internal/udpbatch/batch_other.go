//go:build !linux

package udpbatch

import "net"

// Off Linux, Send writes one datagram at a time.
const batched = false

type sysConn struct{}

func (sysConn) init(*net.UDPConn) error { return nil }
func (sysConn) canSegment() bool        { return false }

type sysBatch struct{}

func (sysBatch) init(int) {}

// Send sends what b holds, one datagram at a time, and empties b. A
// datagram the system refuses is counted and does not stop the rest.
func (c *Conn) Send(b *Batch) Result { return c.sendEach(b) }
