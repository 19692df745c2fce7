package relay

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
)

// Stream is one relayed layer as an RTP reader (forward.RTPReader): the
// link's reader pushes the packets that arrive for it, the layer's reader
// in edge/forward reads them, exactly as it reads a publisher's
// webrtc.TrackRemote. It holds a bounded number of packets; a push to a
// full stream drops the packet and counts it (a NACK repairs it). Nothing
// allocates after NewStream. Push may be called from any goroutine, Read
// and SetReadDeadline from one.
type Stream struct {
	mu    sync.Mutex
	slots [][]byte
	lens  []int
	head  int
	n     int

	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
	timer  *time.Timer // the read deadline (stopped: none)

	drops atomic.Uint64
}

// DefaultStreamSize is the packets a Stream holds by default: more than a
// keyframe of a high layer arriving at once.
const DefaultStreamSize = 256

// NewStream makes a Stream that holds size packets (0: DefaultStreamSize).
func NewStream(size int) *Stream {
	if size <= 0 {
		size = DefaultStreamSize
	}
	s := &Stream{slots: make([][]byte, size), lens: make([]int, size), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	for i := range s.slots {
		s.slots[i] = make([]byte, maxRTPSize)
	}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	return s
}

// Push queues a copy of pkt; it reports false (and counts a drop) when the
// stream is full, closed, or pkt too large.
func (s *Stream) Push(pkt []byte) bool {
	if len(pkt) > maxRTPSize {
		s.drops.Add(1)
		return false
	}
	s.mu.Lock()
	if s.n == len(s.slots) || s.isClosed() {
		s.mu.Unlock()
		s.drops.Add(1)
		return false
	}
	i := (s.head + s.n) % len(s.slots)
	s.lens[i] = copy(s.slots[i], pkt)
	s.n++
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// Drops is the number of packets refused by Push.
func (s *Stream) Drops() uint64 { return s.drops.Load() }

func (s *Stream) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Read copies the oldest packet into b. It waits for one until the read
// deadline (an error whose Timeout() is true: os.ErrDeadlineExceeded) or
// Close (io.EOF-like: ErrStreamClosed).
func (s *Stream) Read(b []byte) (int, interceptor.Attributes, error) {
	for {
		s.mu.Lock()
		if s.n > 0 {
			i := s.head
			n := copy(b, s.slots[i][:s.lens[i]])
			s.head = (s.head + 1) % len(s.slots)
			s.n--
			s.mu.Unlock()
			return n, nil, nil
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.closed:
			return 0, nil, ErrStreamClosed
		case <-s.timer.C:
			return 0, nil, os.ErrDeadlineExceeded
		}
	}
}

// SetReadDeadline bounds the wait of Read (the zero time: no bound).
func (s *Stream) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		s.timer.Stop()
		return nil
	}
	s.timer.Reset(max(time.Until(t), 0))
	return nil
}

// Close ends the stream: a waiting and every later Read fails.
func (s *Stream) Close() { s.once.Do(func() { close(s.closed) }) }
