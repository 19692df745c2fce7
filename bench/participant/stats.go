package participant

import (
	"math"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
)

// trackStats measures one received RTP stream. It belongs to the goroutine
// reading the track.
type trackStats struct {
	clockRate float64

	started     bool
	baseSeq     uint32 // extended sequence number of the first packet
	maxSeq      uint32 // highest extended sequence number
	cycles      uint32
	lastSeq     uint16
	received    uint64
	bytes       uint64
	jitter      float64 // RFC 3550 §6.4.1, in timestamp units
	lastTransit float64
	hasTransit  bool
	owd         *hist.Histogram

	// per-interval counters (reset by the agent's ticker)
	tickBytes    uint64
	tickPackets  uint64
	tickStartSeq uint32
}

func newTrackStats(clockRate uint32) *trackStats {
	return &trackStats{clockRate: float64(clockRate), owd: hist.New()}
}

// add counts one packet that arrived at now.
func (s *trackStats) add(seq uint16, ts uint32, size int, payload []byte, now time.Time) {
	if !s.started {
		s.started = true
		s.lastSeq = seq
		s.baseSeq = uint32(seq)
		s.maxSeq = uint32(seq)
		s.tickStartSeq = uint32(seq)
	} else {
		// RFC 3550 A.1: extend the 16-bit sequence number.
		if seq < s.lastSeq && s.lastSeq-seq > 0x8000 {
			s.cycles += 1 << 16
		}
		ext := s.cycles | uint32(seq)
		if seq > s.lastSeq && seq-s.lastSeq > 0x8000 {
			ext -= 1 << 16 // late packet from the previous cycle
		}
		if ext > s.maxSeq {
			s.maxSeq = ext
		}
		if seq-s.lastSeq < 0x8000 {
			s.lastSeq = seq
		}
	}
	s.received++
	s.tickPackets++
	s.bytes += uint64(size)
	s.tickBytes += uint64(size)
	arrival := float64(now.UnixNano()) / 1e9 * s.clockRate
	transit := arrival - float64(ts)
	if s.hasTransit {
		d := math.Abs(transit - s.lastTransit)
		s.jitter += (d - s.jitter) / 16
	}
	s.lastTransit, s.hasTransit = transit, true
	if sent, ok := readStamp(payload); ok {
		s.owd.RecordDuration(now.Sub(sent))
	}
}

// expected is the number of packets the sender sent in the span seen.
func (s *trackStats) expected() uint64 {
	if !s.started {
		return 0
	}
	return uint64(s.maxSeq-s.baseSeq) + 1
}

// lost is expected minus received (never negative: duplicates).
func (s *trackStats) lost() uint64 {
	if e := s.expected(); e > s.received {
		return e - s.received
	}
	return 0
}

// jitterMs is the interarrival jitter in milliseconds.
func (s *trackStats) jitterMs() float64 {
	if s.clockRate == 0 {
		return 0
	}
	return s.jitter / s.clockRate * 1000
}

// tick returns and resets the interval counters: bytes, packets received
// and packets expected in the interval.
func (s *trackStats) tick() (bytes, packets, expected uint64) {
	bytes, packets = s.tickBytes, s.tickPackets
	if s.started {
		expected = uint64(s.maxSeq + 1 - s.tickStartSeq)
		s.tickStartSeq = s.maxSeq + 1
	}
	s.tickBytes, s.tickPackets = 0, 0
	return bytes, packets, expected
}
