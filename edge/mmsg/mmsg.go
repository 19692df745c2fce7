package mmsg

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
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
	pc    net.PacketConn
	batch *ipv4.PacketConn // nil when pc cannot send batches

	mu    sync.Mutex
	holds int
	cur   *batch
	free  []*batch

	gso atomic.Bool // the socket takes UDP_SEGMENT

	bytes   atomic.Uint64
	packets atomic.Uint64
	calls   atomic.Uint64
	failed  atomic.Uint64
	gsoOff  atomic.Uint64
	gsoPkts atomic.Uint64
}

type batch struct {
	n     int // packets held
	addrs []net.UDPAddr
	bufs  [][]byte
	iov   [][]byte // iov[i] is the packet in bufs[i]; a message's Buffers are a run of it

	// What send writes: each run of packets to one destination (one packet
	// without GSO) as one message.
	out  []ipv4.Message
	segs []int    // packets in out[i]
	oob  [][]byte // UDP_SEGMENT control message per out slot
}

func newBatch() *batch {
	b := &batch{
		addrs: make([]net.UDPAddr, Capacity),
		bufs:  make([][]byte, Capacity),
		iov:   make([][]byte, Capacity),
		out:   make([]ipv4.Message, 0, Capacity),
		segs:  make([]int, 0, Capacity),
		oob:   make([][]byte, Capacity),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, maxPacket)
		b.oob[i] = make([]byte, unix.CmsgSpace(2))
	}
	return b
}

// New wraps pc. Only a *net.UDPConn can batch; any other PacketConn is
// written packet by packet (and still counted).
func New(pc net.PacketConn) *Conn {
	c := &Conn{pc: pc}
	if u, ok := pc.(*net.UDPConn); ok {
		c.batch = ipv4.NewPacketConn(u)
		c.gso.Store(canSegment(u))
	}
	return c
}

// canSegment reports whether the kernel knows UDP_SEGMENT (Linux 4.18+).
func canSegment(u *net.UDPConn) bool {
	rc, err := u.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

// DisableGSO stops segmented writes (tests, and paths known not to take them).
func (c *Conn) DisableGSO() { c.gso.Store(false) }

// Hold starts holding writes back; every Hold needs one Release.
func (c *Conn) Hold() {
	if c.batch == nil {
		return
	}
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// Release ends one Hold; the last one sends what was held.
func (c *Conn) Release() {
	if c.batch == nil {
		return
	}
	c.mu.Lock()
	c.holds--
	var b *batch
	if c.holds == 0 && c.cur != nil && c.cur.n > 0 {
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
	if c.batch == nil || !ok || len(p) > maxPacket {
		return c.write(p, addr)
	}
	c.mu.Lock()
	if c.holds == 0 {
		c.mu.Unlock()
		return c.write(p, addr)
	}
	var ready, full *batch
	if b := c.cur; b != nil && b.leaveBefore(ua) {
		ready, c.cur = b, nil
	}
	if c.cur == nil {
		c.cur = c.get()
	}
	b := c.cur
	b.addrs[b.n] = *ua
	b.iov[b.n] = b.bufs[b.n][:copy(b.bufs[b.n], p)]
	b.n++
	if b.n == Capacity {
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
	c.bytes.Add(uint64(n))
	c.packets.Add(1)
	return n, nil
}

// send writes b with as few sendmmsg calls as the kernel allows and
// returns it to the free list.
func (c *Conn) send(b *batch) {
	c.transmit(b)
	c.put(b)
}

// transmit writes b with as few sendmmsg calls as the kernel allows and
// empties it.
func (c *Conn) transmit(b *batch) {
	ms, segs := b.coalesce(c.gso.Load())
	for i := 0; i < len(ms); {
		n, err := c.batch.WriteBatch(ms[i:], 0)
		c.calls.Add(1)
		for j := i; j < i+max(n, 0); j++ {
			c.sent(ms[j], segs[j])
		}
		if n > 0 && err == nil {
			i += n
			continue
		}
		// ms[i+max(n,0)] failed (a bad address, a full buffer, or a
		// device that cannot segment): count it and go on with the rest.
		i += max(n, 0)
		if segs[i] > 1 && (errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL)) {
			// The path cannot take segmented writes: stop making them and
			// send this run packet by packet.
			c.gso.Store(false)
			c.gsoOff.Add(1)
			for _, p := range ms[i].Buffers {
				_, _ = c.write(p, ms[i].Addr)
			}
		} else {
			c.failed.Add(uint64(segs[i]))
		}
		i++
	}
	b.reset()
}

// reset empties b for reuse.
func (b *batch) reset() {
	clear(b.addrs[:b.n])
	clear(b.iov[:b.n])
	clear(b.out)
	b.n, b.out, b.segs = 0, b.out[:0], b.segs[:0]
}

// put returns b, sent and empty, to the free list.
func (c *Conn) put(b *batch) {
	c.mu.Lock()
	c.free = append(c.free, b)
	c.mu.Unlock()
}

// get takes a batch from the free list (mu held).
func (c *Conn) get() *batch {
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return newBatch()
}

// sent counts a message of segs packets as sent.
func (c *Conn) sent(m ipv4.Message, segs int) {
	var bytes uint64
	for _, p := range m.Buffers {
		bytes += uint64(len(p))
	}
	c.bytes.Add(bytes)
	c.packets.Add(uint64(segs))
	if segs > 1 {
		c.gsoPkts.Add(uint64(segs))
	}
}

// coalesce makes b's messages. With gso, each run of packets to one
// destination whose sizes are equal (the last may be shorter) becomes one
// message with a UDP_SEGMENT control message: the kernel then walks its
// stack once for the run instead of once per packet. Every other packet
// is a message of its own.
func (b *batch) coalesce(gso bool) ([]ipv4.Message, []int) {
	for i := 0; i < b.n; {
		seg := len(b.iov[i])
		total := seg
		j := i + 1
		for gso && seg <= maxSegmentSize && j < b.n && j-i < maxSegments && sameAddr(&b.addrs[i], &b.addrs[j]) {
			l := len(b.iov[j])
			if l > seg || total+l > maxGSOBytes {
				break
			}
			total += l
			j++
			if l < seg {
				break // a shorter packet ends a run
			}
		}
		m := ipv4.Message{Buffers: b.iov[i:j:j], Addr: &b.addrs[i]}
		if j-i > 1 {
			o := b.oob[len(b.out)]
			h := (*unix.Cmsghdr)(unsafe.Pointer(&o[0]))
			h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(o[unix.CmsgLen(0):], uint16(seg))
			m.OOB = o
		}
		b.out = append(b.out, m)
		b.segs = append(b.segs, j-i)
		i = j
	}
	return b.out, b.segs
}

// The kernel's limits on one segmented write (UDP_MAX_SEGMENTS, and the
// largest UDP datagram).
const (
	maxSegments = 64
	maxGSOBytes = 65507
	// maxSegmentSize keeps segments within a 1500-byte MTU over IPv6 (the
	// kernel refuses a segment that would not fit the route's MTU, and a
	// refusal turns GSO off for the Conn); RTP packets are smaller.
	maxSegmentSize = 1500 - 40 - 8
)

// leaveBefore reports whether b must be sent before a packet to addr joins
// it: it is full, or nearly full and addr ends a run of one destination's
// packets (so that a run is not split between two writes).
func (b *batch) leaveBefore(addr *net.UDPAddr) bool {
	n := b.n
	return n == Capacity || n >= Capacity-runRoom && !sameAddr(&b.addrs[n-1], addr)
}

func sameAddr(a, b *net.UDPAddr) bool {
	return a.Port == b.Port && a.IP.Equal(b.IP) && a.Zone == b.Zone
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
