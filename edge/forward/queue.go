package forward

import (
	"errors"
	"fmt"
	"sync"
)

// Queue defaults.
const (
	DefaultQueueSize = 256  // packets: ~0.25 s of 4 Mbit/s video
	DefaultMaxPacket = 1500 // bytes
)

// ErrConfig is returned for an invalid configuration.
var ErrConfig = errors.New("forward: invalid config")

// QueueConfig sizes a Queue. Zero values mean the defaults.
type QueueConfig struct {
	Size      int // packets
	MaxPacket int // bytes per packet; longer packets are dropped
}

// Validate checks the config.
func (c QueueConfig) Validate() error {
	if c.Size < 0 || c.Size > 1<<16 {
		return fmt.Errorf("%w: queue size %d", ErrConfig, c.Size)
	}
	if c.MaxPacket < 0 || c.MaxPacket > 1<<16 {
		return fmt.Errorf("%w: queue max packet %d", ErrConfig, c.MaxPacket)
	}
	return nil
}

// Queue is a bounded ring of packet buffers between forwarders
// (producers) and the goroutine that writes to one subscriber's transport
// (the consumer). A push to a full queue drops the packet and counts it.
// Every packet carries the Tag of the Forwarder that queued it, so one queue
// can serve all the tracks of a subscriber.
type Queue struct {
	mu       sync.Mutex
	slotSize int
	// slots are allocated on first use: a queue drained as fast as it
	// fills (the common case, see rewind) only ever allocates a few.
	slots   [][]byte
	lens    []int32
	tags    []uint32
	resent  []bool
	rtx     []bool
	head    uint64 // next to pop
	tail    uint64 // next to push
	pushed  uint64
	dropped uint64
	ready   chan struct{}
}

// NewQueue allocates a Queue.
func NewQueue(cfg QueueConfig) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Size == 0 {
		cfg.Size = DefaultQueueSize
	}
	if cfg.MaxPacket == 0 {
		cfg.MaxPacket = DefaultMaxPacket
	}
	return &Queue{
		slotSize: cfg.MaxPacket,
		slots:    make([][]byte, cfg.Size),
		lens:     make([]int32, cfg.Size),
		tags:     make([]uint32, cfg.Size),
		resent:   make([]bool, cfg.Size),
		rtx:      make([]bool, cfg.Size),
		ready:    make(chan struct{}, 1),
	}, nil
}

// Ready is signalled when a packet is pushed into an empty queue. The
// consumer pops until Pop reports false, then waits on Ready again.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// push writes the packet described by rw into the next slot and returns its
// length, or 0 (a counted drop) if the queue is full or the packet does not fit.
func (q *Queue) push(tag uint32, rw *rewrite) int {
	q.mu.Lock()
	if q.tail-q.head == uint64(len(q.lens)) {
		q.dropped++
		q.mu.Unlock()
		return 0
	}
	i := int(q.tail % uint64(len(q.lens)))
	if q.slots[i] == nil {
		q.slots[i] = make([]byte, q.slotSize)
	}
	n := rw.apply(q.slots[i])
	if n <= 0 {
		q.dropped++
		q.mu.Unlock()
		return 0
	}
	q.lens[i] = int32(n)
	q.tags[i] = tag
	q.resent[i] = rw.resend
	q.rtx[i] = rw.rtx
	wasEmpty := q.tail == q.head
	q.tail++
	q.pushed++
	q.mu.Unlock()
	if wasEmpty {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return n
}

// rewind starts an empty queue over at its first slot (q.mu held). A
// subscriber whose packets are sent as soon as they are queued then keeps
// reusing the first few slots, and the others are never allocated.
func (q *Queue) rewind() {
	if q.head == q.tail {
		q.head, q.tail = 0, 0
	}
}

// Item is a queued packet.
type Item struct {
	// Pkt is the rewritten RTP packet, in the queue's own slot: the
	// consumer may patch it in place until Advance (Next for a run).
	Pkt []byte
	// Tag is the Tag of the Forwarder that queued it.
	Tag uint32
	// Resend: a retransmission answering a NACK (RFC 4585 §6.2.1); RTX:
	// rewritten for the subscriber's RTX stream (RFC 4588).
	Resend, RTX bool
}

// Front returns the oldest packet without copying it. The slice stays valid
// (producers never overwrite it) until the consumer calls Advance; only the
// single consumer may call Front and Advance.
func (q *Queue) Front() (Item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == q.tail {
		return Item{}, false
	}
	i := int(q.head % uint64(len(q.lens)))
	l := int(q.lens[i])
	return Item{Pkt: q.slots[i][:l], Tag: q.tags[i], Resend: q.resent[i], RTX: q.rtx[i]}, true
}

// Pending is a run of queued packets, oldest first, that the consumer
// reads without the queue's lock: producers never overwrite them before
// the consumer moves past them (Queue.Next). One lock a run, not two a
// packet (Front, Advance), on every subscriber's share of every frame.
type Pending struct {
	q    *Queue
	head uint64
	n    int
}

// Len is the number of packets in the run.
func (p Pending) Len() int { return p.n }

// At returns the run's i-th packet (0 ≤ i < Len), as Front would.
func (p Pending) At(i int) Item {
	q := p.q
	j := int((p.head + uint64(i)) % uint64(len(q.lens)))
	return Item{Pkt: q.slots[j][:q.lens[j]], Tag: q.tags[j], Resend: q.resent[j], RTX: q.rtx[j]}
}

// Peek returns the packets queued now. Only the single consumer may call
// Peek and Next, and not mixed with Front and Advance on one run.
func (q *Queue) Peek() Pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending()
}

// Next removes the first n packets of the run Peek or Next returned
// (n ≤ its Len) and returns what is queued after them.
func (q *Queue) Next(n int) Pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.head += uint64(min(n, int(q.tail-q.head)))
	q.rewind()
	return q.pending()
}

// pending is the run from head to tail (q.mu held).
func (q *Queue) pending() Pending {
	return Pending{q: q, head: q.head, n: int(q.tail - q.head)}
}

// Advance removes the packet returned by Front.
func (q *Queue) Advance() {
	q.mu.Lock()
	if q.head != q.tail {
		q.head++
		q.rewind()
	}
	q.mu.Unlock()
}

// Len is the number of queued packets.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.tail - q.head)
}

// Cap is the queue's capacity in packets.
func (q *Queue) Cap() int { return len(q.lens) }

// QueueStats are a Queue's counters since it was made.
type QueueStats struct {
	Pushed  uint64 // packets queued
	Dropped uint64 // packets dropped because the queue was full
	Len     int    // packets waiting now
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueStats{Pushed: q.pushed, Dropped: q.dropped, Len: int(q.tail - q.head)}
}
