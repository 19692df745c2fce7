package bwe

import "math"

// The loss-based controller, draft-ietf-rmcat-gcc-02 section 6: with the
// fraction of packets lost over the last reports above 10 % the rate
// decreases to rate·(1 − 0.5·loss); below 2 % it may grow by 8 %/s; in
// between it holds. Its rate only ever caps the delay-based one (the
// target is the minimum of the two, §6 "A_s = min(A_s, A_r)"), so while
// loss has not limited anything the cap is off. Loss is counted over a
// sliding window of about a second (four 250 ms bins) so that 5 % random
// loss does not read as 10 % for lack of samples; decisions are taken at
// most once a bin, on a full window (and so, downwards, at most once a
// second, from packets sent after the last decrease).

const (
	lossHigh        = 0.10
	lossLow         = 0.02
	lossBinNs       = 250_000_000
	lossBins        = 4
	lossMinPackets  = 20
	lossDecreaseGap = 300_000_000
)

type lossBased struct {
	cap      float64 // bits/s; 0: not limiting
	bins     [lossBins]struct{ lost, total int }
	cur      int   // bin being filled
	filled   int   // bins closed since the last decrease (or the start)
	binStart int64 // ns, caller's clock
	started  bool
	ratio    float64 // the last loss ratio computed
	lastDec  int64
	lastInc  int64
	decs     int
}

// add counts a feedback's newly reported packets: lost (net of packets
// reported lost before and received now) and total.
func (l *lossBased) add(lost, total int) {
	b := &l.bins[l.cur]
	b.lost = max(b.lost+lost, 0)
	b.total += total
}

// update closes the bin when its time is up and adjusts the cap; target is
// the current combined target, delay the delay-based rate. It returns
// whether the cap decreased.
func (l *lossBased) update(now, rtt int64, target, delay float64) bool {
	if !l.started {
		l.binStart, l.started, l.lastInc = now, true, now
	}
	if now-l.binStart < lossBinNs {
		return false
	}
	l.binStart = now
	lost, total := 0, 0
	for _, b := range l.bins {
		lost += b.lost
		total += b.total
	}
	l.cur = (l.cur + 1) % lossBins
	l.bins[l.cur] = struct{ lost, total int }{}
	l.filled = min(l.filled+1, lossBins)
	if total < lossMinPackets || l.filled < lossBins {
		return false // judge a whole window, never a few packets
	}
	l.ratio = float64(lost) / float64(total)
	switch {
	case l.ratio > lossHigh:
		if now-l.lastDec < lossDecreaseGap+rtt {
			return false
		}
		base := target
		if l.cap > 0 {
			base = min(base, l.cap)
		}
		l.cap = base * (1 - 0.5*l.ratio)
		l.lastDec, l.lastInc = now, now
		l.decs++
		// Decide next from packets sent after this decision.
		l.bins = [lossBins]struct{ lost, total int }{}
		l.filled = 0
		return true
	case l.ratio < lossLow:
		if l.cap > 0 {
			dt := float64(min(now-l.lastInc, 1e9)) / 1e9
			l.cap = l.cap*math.Pow(increasePerSec, dt) + minIncrease
			if l.cap >= delay {
				l.cap = 0 // far above the delay-based rate: not limiting
			}
		}
	}
	l.lastInc = now
	return false
}

// lift raises the cap to at least r (a successful probe).
func (l *lossBased) lift(r float64) {
	if l.cap > 0 && l.cap < r {
		l.cap = r
	}
}
