package forward

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/codec"
)

// Writer is where a subscriber's packets for one track go. pion's
// webrtc.TrackLocalWriter (TrackLocalContext.WriteStream() in Bind)
// satisfies it; WriteRTP runs the subscriber's interceptors (TWCC,
// sender reports, NACK bookkeeping) and SRTP.
type Writer interface {
	WriteRTP(header *rtp.Header, payload []byte) (int, error)
}

// Sender drains one Queue into the Writers of its tracks, chosen by the
// packet's Tag. It is the consumer goroutine of a subscriber: run one per
// Queue. This is the only file of the package that knows pion (its header
// type), and only to hand packets over without allocating.
type Sender struct {
	q       *Queue
	mu      sync.Mutex
	writers atomic.Pointer[map[uint32]Writer] // copy on write

	hdr rtp.Header // consumer-owned scratch; reused so nothing escapes per packet

	written  atomic.Uint64
	failed   atomic.Uint64
	unrouted atomic.Uint64
}

// NewSender builds a Sender for q. It starts nothing: call Run.
func NewSender(q *Queue) *Sender {
	s := &Sender{q: q}
	m := map[uint32]Writer{}
	s.writers.Store(&m)
	return s
}

// SetWriter routes packets tagged tag to w; a nil w removes the route (its
// packets are then discarded and counted as unrouted). Safe at any time.
func (s *Sender) SetWriter(tag uint32, w Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.writers.Load()
	m := make(map[uint32]Writer, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if w == nil {
		delete(m, tag)
	} else {
		m[tag] = w
	}
	s.writers.Store(&m)
}

// Run writes queued packets until ctx ends, then returns nil. Write errors
// are counted, not returned: one failed packet must not stop a subscriber.
func (s *Sender) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.q.Ready():
		}
		s.drain()
	}
}

// Flush writes what is queued now, without waiting; for tests and for a
// caller that runs its own loop on Queue.Ready. Never call it while Run runs.
func (s *Sender) Flush() { s.drain() }

func (s *Sender) drain() {
	hdr := &s.hdr
	writers := *s.writers.Load()
	for {
		it, ok := s.q.Front()
		if !ok {
			return
		}
		pkt, tag := it.Pkt, it.Tag
		w := writers[tag]
		if w == nil {
			s.unrouted.Add(1)
		} else if s.write(w, hdr, pkt) {
			s.written.Add(1)
		} else {
			s.failed.Add(1)
		}
		s.q.Advance()
	}
}

func (s *Sender) write(w Writer, hdr *rtp.Header, pkt []byte) bool {
	h, err := codec.ParseRTP(pkt)
	if err != nil {
		return false
	}
	if _, err := hdr.Unmarshal(pkt); err != nil {
		return false
	}
	// pion writes the padding itself from PaddingSize; hand it the payload
	// without padding (RFC 3550 §5.1, P bit).
	hdr.PaddingSize = byte(len(pkt) - h.PayloadEnd)
	_, err = w.WriteRTP(hdr, pkt[h.PayloadOffset:h.PayloadEnd])
	return err == nil
}

// SenderStats are a Sender's counters.
type SenderStats struct {
	Written  uint64 // packets handed to a Writer
	Failed   uint64 // packets the Writer refused
	Unrouted uint64 // packets whose tag had no Writer
}

// Stats returns the sender's counters.
func (s *Sender) Stats() SenderStats {
	return SenderStats{Written: s.written.Load(), Failed: s.failed.Load(), Unrouted: s.unrouted.Load()}
}
