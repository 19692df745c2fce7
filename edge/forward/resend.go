package forward

import "sync"

// The retransmission budget. A subscriber behind a full bottleneck loses
// packets in bursts and NACKs every one of them, again each round trip
// while the first answers still wait in its queue; answered in full, the
// retransmissions alone run at several times the link's rate (2.6× was
// seen behind a 500 kbit/s cap) and turn a second of congestion into
// seconds of freeze. libwebrtc's pacer counts retransmissions in the
// send rate; the edge, which sends media at the publisher's pace, gives
// each subscriber's retransmissions a share of its bandwidth estimate
// instead: a token bucket refilled at resendShare of the estimate (at
// least resendFloor), holding resendBurst of it. A NACKed packet over the
// budget is not sent (the subscriber asks again, or for a keyframe).
// Without an estimator (REMB subscribers) there is no budget.

const (
	resendShare = 0.3
	resendFloor = 64_000      // bits/s
	resendBurst = 200_000_000 // ns of the refill rate the bucket holds
)

// resendBudget is a Sink's bucket. Safe for concurrent use: the RTCP
// readers of every Down of the sink answer NACKs.
type resendBudget struct {
	mu     sync.Mutex
	tokens float64 // bytes
	at     int64   // ns, the media clock
}

// allow takes size bytes from the bucket at now, refilled at rate bits/s,
// and reports whether they were there.
func (b *resendBudget) allow(size int, now int64, rate float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	full := rate / 8 * resendBurst / 1e9
	if b.at == 0 {
		b.tokens = full
	} else if now > b.at {
		b.tokens = min(full, b.tokens+rate/8*float64(now-b.at)/1e9)
	}
	b.at = now
	if b.tokens < float64(size) {
		return false
	}
	b.tokens -= float64(size)
	return true
}

// allowResend is the budget check the Sink's Downs make before sending a
// packet again (see resendBudget).
func (s *Sink) allowResend(size int, now int64) bool {
	if s.bwe == nil {
		return true
	}
	rate := max(resendShare*float64(s.bwe.Estimate().Target), resendFloor)
	return s.resends.allow(size, now, rate)
}
