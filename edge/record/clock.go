package record

// ntpEpochOffset is the seconds from the NTP epoch (1900) to the Unix
// epoch (1970).
const ntpEpochOffset = 2208988800

// maxSkew is how far a stream's first sender report may put its
// publisher's clock from where the participant's earlier reports put it
// before the stream is taken to come from another clock (another device
// under the same identity), pinned on its own.
const maxSkew int64 = 2e9

// maxReportGap is how far (in media time) a sender report's RTP timestamp
// may lie from the newest packet of the stream it is taken for; a report
// farther off belongs to another stream (a previous SSRC of the layer).
const maxReportGap = 10 // seconds

// ntpNanos converts a 64-bit NTP timestamp (RFC 5905 §6: 32.32 fixed
// point seconds since 1900) to Unix nanoseconds.
func ntpNanos(ntp uint64) int64 {
	sec := int64(ntp>>32) - ntpEpochOffset
	frac := int64((ntp & 0xffffffff) * 1e9 >> 32)
	return sec*1e9 + frac
}

// participantClock pins one publisher's NTP clock to the edge's wall
// clock: offset is wall minus NTP, measured once, when the participant's
// first sender report arrives (it includes that report's network delay,
// the same for all the participant's tracks, so their lip sync holds).
type participantClock struct {
	offset int64
	ok     bool
}

// mapping times one stream's RTP timestamps on the wall clock: the latest
// sender report's (NTP, RTP) pair, plus the stream's clock offset. A
// stream timed by arrival has ntp as the arrival of the frame whose RTP
// timestamp is rtp, and offset 0.
type mapping struct {
	ok      bool
	arrival bool // timed by arrival, not by reports
	ntp     int64
	rtp     uint32
	offset  int64
	rate    int64
}

// wall returns the Unix nanoseconds of RTP timestamp ts.
func (m *mapping) wall(ts uint32) int64 {
	return m.ntp + int64(int32(ts-m.rtp))*1e9/m.rate + m.offset
}

// report takes a sender report of the stream that arrived at arrival (Unix
// nanoseconds): the first one pins the stream's offset (the participant's
// clock, measured now if not yet), later ones only move the reference
// pair, following the publisher's clock drift.
func (m *mapping) report(c *participantClock, ntp uint64, rtpTS uint32, arrival int64, rate uint32) {
	n := ntpNanos(ntp)
	if !m.ok || m.arrival {
		implied := arrival - n
		if !c.ok {
			c.offset, c.ok = implied, true
		}
		m.offset = c.offset
		if d := implied - c.offset; d > maxSkew || d < -maxSkew {
			m.offset = implied
		}
	}
	m.ok, m.arrival, m.ntp, m.rtp, m.rate = true, false, n, rtpTS, int64(rate)
}

// byArrival times a stream with no sender report: ts happened at arrival.
func (m *mapping) byArrival(ts uint32, arrival int64, rate uint32) {
	*m = mapping{ok: true, arrival: true, ntp: arrival, rtp: ts, rate: int64(rate)}
}
