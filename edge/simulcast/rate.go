package simulcast

import (
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultRateWindow is the sliding window of a Rate.
const DefaultRateWindow = time.Second

const rateBuckets = 10

type rateBucket struct {
	epoch atomic.Int64 // bucket index (time / bucket width) + 1; 0 = unused
	bytes atomic.Uint64
}

// Rate measures a bitrate over a sliding window split into ten buckets. One
// goroutine may Add while others read Bitrate; nothing allocates or locks.
type Rate struct {
	width   int64 // bucket width, ns
	first   atomic.Int64
	buckets [rateBuckets]rateBucket
}

// NewRate builds a Rate over window (0: DefaultRateWindow).
func NewRate(window time.Duration) (*Rate, error) {
	if window < 0 {
		return nil, fmt.Errorf("%w: negative rate window", ErrConfig)
	}
	if window == 0 {
		window = DefaultRateWindow
	}
	w := int64(window) / rateBuckets
	if w <= 0 {
		return nil, fmt.Errorf("%w: rate window %v too short", ErrConfig, window)
	}
	return &Rate{width: w}, nil
}

// Add counts n bytes seen at now (nanoseconds, any monotonic origin >= 0).
// Only one goroutine may call Add.
func (r *Rate) Add(n int, now int64) {
	if r.first.Load() == 0 {
		r.first.Store(now + 1)
	}
	e := now/r.width + 1
	b := &r.buckets[e%rateBuckets]
	if b.epoch.Load() != e {
		b.bytes.Store(0)
		b.epoch.Store(e)
	}
	b.bytes.Add(uint64(n))
}

// Bitrate returns bits per second over the window ending at now.
func (r *Rate) Bitrate(now int64) uint64 {
	first := r.first.Load()
	if first == 0 {
		return 0
	}
	e := now/r.width + 1
	var sum uint64
	for i := range r.buckets {
		b := &r.buckets[i]
		be := b.epoch.Load()
		if be > e-rateBuckets && be <= e {
			sum += b.bytes.Load()
		}
	}
	// The window covers the current, partial bucket and the nine before
	// it, but no more than the time since the first byte.
	span := (rateBuckets-1)*r.width + now%r.width + 1
	if since := now - (first - 1); since < span {
		span = since
	}
	if span < r.width {
		span = r.width // avoid wild values during the first moments
	}
	return uint64(float64(sum*8) * 1e9 / float64(span))
}
