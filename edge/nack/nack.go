package nack

import (
	"errors"
	"fmt"
	"time"
)

// Defaults.
const (
	DefaultInterval = 100 * time.Millisecond
	DefaultTries    = 10
	DefaultMaxAge   = time.Second
	DefaultCapacity = 256
)

// ErrConfig is returned by New for an invalid Config.
var ErrConfig = errors.New("nack: invalid config")

// Config tunes a Requester. Zero values mean the defaults.
type Config struct {
	// Interval is the least time between two requests for one packet; the
	// round-trip time replaces it when longer (SetRTT).
	Interval time.Duration
	// Tries is how many times one packet is asked for.
	Tries int
	// MaxAge is how long after it was missed a packet is still asked for:
	// beyond it the receivers' jitter buffers have given up on it.
	MaxAge time.Duration
	// Capacity bounds the packets missing at once; a larger gap is not
	// worth repairing packet by packet (Received reports it).
	Capacity int
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Interval < 0 || c.MaxAge < 0 || c.Tries < 0 || c.Tries > 255 {
		return fmt.Errorf("%w: interval %v, tries %d, max age %v", ErrConfig, c.Interval, c.Tries, c.MaxAge)
	}
	if c.Capacity < 0 || c.Capacity > 1<<15 {
		return fmt.Errorf("%w: capacity %d not in [0, 32768]", ErrConfig, c.Capacity)
	}
	return nil
}

type entry struct {
	ext   uint64 // extended sequence number
	first int64  // when it was found missing
	last  int64  // when it was last asked for (0: never)
	tries uint8
}

// Requester tracks the missing packets of one RTP stream. See the package
// documentation.
type Requester struct {
	interval, rtt, maxAge int64
	tries                 uint8

	started bool
	highest uint64 // extended sequence number of the newest packet
	// missing holds the outstanding entries in sequence order: a ring of
	// len(missing) slots, head..head+n.
	missing []entry
	head, n int
	nextDue int64 // no entry is due before this (manager clock)

	stats Stats
}

// Stats are a Requester's counters.
type Stats struct {
	Missed    uint64 // sequence numbers found missing
	Recovered uint64 // of those, arrived later
	Requested uint64 // requests sent (one per number per try)
	GaveUp    uint64 // numbers dropped: too old, asked too often, or the list was full
}

// New makes a Requester.
func New(cfg Config) (*Requester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Tries == 0 {
		cfg.Tries = DefaultTries
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	return &Requester{
		interval: int64(cfg.Interval), maxAge: int64(cfg.MaxAge), tries: uint8(cfg.Tries),
		missing: make([]entry, cfg.Capacity),
	}, nil
}

// SetRTT sets the round-trip time to the sender: a packet is not asked for
// again before one round trip has passed.
func (r *Requester) SetRTT(rtt time.Duration) { r.rtt = int64(rtt) }

// Stats returns the counters.
func (r *Requester) Stats() Stats { return r.stats }

// Missing is the number of packets outstanding.
func (r *Requester) Missing() int { return r.n }

// unwrapBase keeps extended numbers of packets older than the first positive.
const unwrapBase = 1 << 32

// Received records the arrival of seq at now (nanoseconds on any monotonic
// clock, the same for every call). It reports gapTooLarge when the packets
// it reveals missing (together with those outstanding) do not fit the
// list: they are not asked for, and the caller should ask for a keyframe.
func (r *Requester) Received(seq uint16, now int64) (gapTooLarge bool) {
	if !r.started {
		r.started = true
		r.highest = unwrapBase + uint64(seq)
		return false
	}
	ext := r.highest + uint64(int64(int16(seq-uint16(r.highest))))
	switch {
	case ext == r.highest+1:
		r.highest = ext
	case ext > r.highest:
		gap := int(ext - r.highest - 1)
		if r.n+gap > len(r.missing) {
			r.stats.GaveUp += uint64(r.n + gap)
			r.n = 0
			r.highest = ext
			return true
		}
		for e := r.highest + 1; e < ext; e++ {
			r.missing[(r.head+r.n)%len(r.missing)] = entry{ext: e, first: now}
			r.n++
		}
		r.stats.Missed += uint64(gap)
		r.highest = ext
		r.nextDue = min(r.nextDue, now) // the new entries are due at once
	default: // late: a reordered or repaired packet
		r.clear(ext)
	}
	return false
}

// clear removes ext from the missing list if it is there.
func (r *Requester) clear(ext uint64) {
	if r.n == 0 {
		return
	}
	first := r.missing[r.head].ext
	if ext < first || ext > r.missing[(r.head+r.n-1)%len(r.missing)].ext {
		return
	}
	// Entries are in sequence order with no duplicates: find by search.
	lo, hi := 0, r.n
	for lo < hi {
		mid := (lo + hi) / 2
		if r.missing[(r.head+mid)%len(r.missing)].ext < ext {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == r.n || r.missing[(r.head+lo)%len(r.missing)].ext != ext {
		return
	}
	r.stats.Recovered++
	for i := lo; i > 0; i-- { // close the hole from the front: the ring's head moves
		r.missing[(r.head+i)%len(r.missing)] = r.missing[(r.head+i-1)%len(r.missing)]
	}
	r.head = (r.head + 1) % len(r.missing)
	r.n--
}

// Due appends to dst the sequence numbers to ask for at now, marks them
// asked, drops the entries that are too old or were asked for often
// enough, and returns dst. It costs one comparison when nothing is due.
func (r *Requester) Due(now int64, dst []uint16) []uint16 {
	if r.n == 0 || now < r.nextDue {
		return dst
	}
	every := max(r.interval, r.rtt)
	next := int64(1<<63 - 1)
	// Expired entries are the oldest: drop them from the front first.
	for r.n > 0 {
		e := &r.missing[r.head]
		if now-e.first < r.maxAge && e.tries < r.tries {
			break
		}
		r.stats.GaveUp++
		r.head = (r.head + 1) % len(r.missing)
		r.n--
	}
	for i := 0; i < r.n; i++ {
		e := &r.missing[(r.head+i)%len(r.missing)]
		if e.tries >= r.tries || now-e.first >= r.maxAge {
			continue // dropped once it reaches the front
		}
		if e.tries == 0 || now-e.last >= every {
			dst = append(dst, uint16(e.ext))
			e.tries++
			e.last = now
			r.stats.Requested++
		}
		// Its next request, or (after the last one) when it is given up.
		next = min(next, e.last+every, e.first+r.maxAge)
	}
	r.nextDue = next
	return dst
}
