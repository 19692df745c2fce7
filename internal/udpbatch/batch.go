package udpbatch

import (
	"net/netip"
)

// The kernel's limits on one segmented write (UDP_MAX_SEGMENTS, and the
// largest UDP datagram).
const (
	maxSegments = 64
	maxGSOBytes = 65507
	// MaxSegmentSize is the largest datagram that goes into a segmented
	// write: segments must fit a 1500-byte MTU over IPv6 (the kernel
	// refuses a segment that would not fit the route's MTU, and a refusal
	// turns segmentation off for the Conn). RTP packets are smaller.
	MaxSegmentSize = 1500 - 40 - 8
)

// Batch is a set of message slots, each holding one datagram and its
// destination, filled in place by one goroutine and sent by Conn.Send (or
// SendFD). It is not safe for concurrent use. The datagrams of one
// destination leave in the order they were committed.
type Batch struct {
	slots [][]byte // slot buffers, slotSize each
	lens  []int
	to    []netip.AddrPort
	n     int // slots committed

	// What a send writes: each run of slots to one destination (one slot
	// without segmentation) as one message.
	msgs []message
	sys  sysBatch
}

// message is a run of count slots from first, to to[first]; seg is the
// segment size of a segmented message (count > 1), else 0.
type message struct {
	first, count, seg int
}

// NewBatch returns an empty batch of slots slots of slotSize bytes.
func NewBatch(slots, slotSize int) *Batch {
	b := &Batch{
		slots: make([][]byte, slots),
		lens:  make([]int, slots),
		to:    make([]netip.AddrPort, slots),
		msgs:  make([]message, 0, slots),
	}
	for i := range b.slots {
		b.slots[i] = make([]byte, slotSize)
	}
	b.sys.init(slots)
	return b
}

// Cap is the number of slots.
func (b *Batch) Cap() int { return len(b.slots) }

// Len is the number of datagrams committed.
func (b *Batch) Len() int { return b.n }

// Full reports whether every slot holds a datagram.
func (b *Batch) Full() bool { return b.n == len(b.slots) }

// Next returns the buffer of the next slot, whole (the caller writes the
// datagram into it and calls Commit; a Next without Commit is overwritten
// by the next one). The batch must not be Full.
func (b *Batch) Next() []byte { return b.slots[b.n] }

// Commit adds the n bytes written into Next's buffer as a datagram to to.
func (b *Batch) Commit(n int, to netip.AddrPort) { b.CommitSlot(b.n, n, to) }

// Slot returns the buffer of slot i, which may be past Len: a caller that
// reads several datagrams at once straight into the free slots gives each
// its own and commits those it keeps with CommitSlot.
func (b *Batch) Slot(i int) []byte { return b.slots[i] }

// CommitSlot adds the n bytes in slot i (Len <= i < Cap) as the next
// datagram, to to. Slot i's buffer takes the place of the next slot's,
// so the slots between Len and i that were not committed are skipped
// without a copy (their buffers move to slot i).
func (b *Batch) CommitSlot(i, n int, to netip.AddrPort) {
	if i != b.n {
		b.slots[i], b.slots[b.n] = b.slots[b.n], b.slots[i]
	}
	b.lens[b.n] = n
	b.to[b.n] = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	b.n++
}

// To is the destination of datagram i (< Len).
func (b *Batch) To(i int) netip.AddrPort { return b.to[i] }

// Datagram returns datagram i (< Len).
func (b *Batch) Datagram(i int) []byte { return b.slots[i][:b.lens[i]] }

// Reset empties the batch (Send does, once it has sent).
func (b *Batch) Reset() {
	b.n = 0
	b.msgs = b.msgs[:0]
}

// coalesce makes b's messages. With gso, each run of datagrams to one
// destination whose sizes are equal (the last may be shorter) becomes one
// segmented message: the kernel then walks its stack once for the run
// instead of once per datagram. Every other datagram is a message of its
// own.
func (b *Batch) coalesce(gso bool) {
	b.msgs = b.msgs[:0]
	for i := 0; i < b.n; {
		seg := b.lens[i]
		total := seg
		j := i + 1
		for gso && seg <= MaxSegmentSize && j < b.n && j-i < maxSegments && b.to[j] == b.to[i] {
			l := b.lens[j]
			if l > seg || total+l > maxGSOBytes {
				break
			}
			total += l
			j++
			if l < seg {
				break // a shorter datagram ends a run
			}
		}
		m := message{first: i, count: j - i}
		if m.count > 1 {
			m.seg = seg
		}
		b.msgs = append(b.msgs, m)
		i = j
	}
}

// Result counts what one send did.
type Result struct {
	Packets uint64 // datagrams sent
	Bytes   uint64 // their bytes
	Calls   uint64 // system calls made to send them
	Failed  uint64 // datagrams the kernel refused
	// Segmented counts the datagrams sent inside segmented writes.
	Segmented uint64
	// GSOOff is set when the path refused a segmented write: the Conn
	// then stopped segmenting, and sent that run packet by packet.
	GSOOff bool
}

// sent counts message m as sent.
func (r *Result) sent(b *Batch, m message) {
	for i := m.first; i < m.first+m.count; i++ {
		r.Bytes += uint64(b.lens[i]) //nolint:gosec // a length
	}
	r.Packets += uint64(m.count) //nolint:gosec
	if m.count > 1 {
		r.Segmented += uint64(m.count) //nolint:gosec
	}
}
