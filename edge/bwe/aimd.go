package bwe

import "math"

// AIMD rate control, draft-ietf-rmcat-gcc-02 section 5.5, with libwebrtc's
// refinements (AimdRateControl): the detector's signal drives a three-state
// machine (§5.5, table: over-use → Decrease; under-use → Hold; normal: Hold
// → Increase, Increase stays, Decrease → Hold). Far from the last point of
// congestion the rate grows multiplicatively (8 %/s); near it (the
// acknowledged rate within three deviations of the link capacity seen at
// decreases) additively, about one packet per response time. A decrease
// goes to β = 0.85 of the acknowledged rate, at most once per RTT while
// over-use lasts. The rate never grows past 1.5× the acknowledged rate
// (+10 kbit/s): what was never sent was never tested.

type rcState int8

const (
	rcHold rcState = iota
	rcIncrease
	rcDecrease
)

const (
	beta             = 0.85
	increasePerSec   = 1.08
	minIncrease      = 1000   // bits/s a step, multiplicative
	minAdditive      = 4000   // bits/s per second
	maxOverAcked     = 1.5    // the rate stays below 1.5× acknowledged ...
	overAckedSlack   = 10_000 // ... plus 10 kbit/s
	responseExtra    = 100e6  // ns added to the RTT: the response time
	decreaseMinGap   = 10e6   // reduce further at most every RTT, ≥ 10 ms ...
	decreaseMaxGap   = 200e6  // ... ≤ 200 ms
	assumedFrameRate = 30     // for the additive step's packet size
	mtuBits          = 1200 * 8
)

type aimd struct {
	rate       float64 // bits/s
	min, max   float64
	state      rcState
	lastChange int64 // ns, caller's clock
	changed    bool
	capacity   linkCapacity
	decreases  int
}

// update applies one detector signal with the acknowledged rate (bits/s, 0:
// unknown) at time now (ns); rtt is the feedback round trip (ns). It
// returns whether the rate was decreased.
func (a *aimd) update(u Usage, acked float64, now, rtt int64) bool {
	if !a.changed {
		a.lastChange, a.changed = now, true
	}
	switch u {
	case Overuse:
		if a.state == rcHold && !a.timeToReduce(acked, now, rtt) {
			return false
		}
		a.state = rcDecrease
	case Underuse:
		a.state = rcHold
	default:
		if a.state == rcHold {
			a.state, a.lastChange = rcIncrease, now
		}
	}
	decreased := false
	switch a.state {
	case rcIncrease:
		if acked > 0 && acked > a.capacity.upper() {
			a.capacity.reset() // far above the old capacity: it moved
		}
		dt := float64(now - a.lastChange)
		var next float64
		if a.capacity.known() {
			next = a.rate + a.additiveRate(rtt)*dt/1e9
		} else {
			next = a.rate + max(a.rate*(math.Pow(increasePerSec, min(dt, 1e9)/1e9)-1), minIncrease)
		}
		if acked > 0 {
			if limit := maxOverAcked*acked + overAckedSlack; next > limit {
				next = max(a.rate, limit)
			}
		}
		a.rate = next
		a.lastChange = now
	case rcDecrease:
		next := beta * a.rate
		if acked > 0 {
			next = beta * acked
			if next > a.rate && a.capacity.known() {
				next = beta * a.capacity.estimate
			}
		}
		if next < a.rate {
			a.rate = next
			decreased = true
			a.decreases++
		}
		if acked > 0 {
			if acked < a.capacity.lower() {
				a.capacity.reset()
			}
			a.capacity.sample(acked)
		}
		a.state = rcHold
		a.lastChange = now
	}
	a.rate = min(max(a.rate, a.min), a.max)
	return decreased
}

// timeToReduce: while over-use lasts, decrease again once an RTT has
// passed, or at once if what arrives is under half the rate.
func (a *aimd) timeToReduce(acked float64, now, rtt int64) bool {
	gap := min(max(float64(rtt), decreaseMinGap), decreaseMaxGap)
	if float64(now-a.lastChange) >= gap {
		return true
	}
	return acked > 0 && acked < 0.5*a.rate
}

// additiveRate is the additive increase, bits/s per second: one average
// packet of a 30 fps stream at the current rate per response time.
func (a *aimd) additiveRate(rtt int64) float64 {
	frame := a.rate / assumedFrameRate
	packets := math.Ceil(frame / mtuBits)
	avg := frame / max(packets, 1)
	return max(minAdditive, avg*1e9/(float64(rtt)+responseExtra))
}

// set moves the rate to r (a probe result or the start), leaving the state.
func (a *aimd) set(r float64, now int64) {
	a.rate = min(max(r, a.min), a.max)
	a.lastChange, a.changed = now, true
	if a.capacity.known() && r > a.capacity.upper() {
		a.capacity.reset()
	}
}

// linkCapacity is the running estimate of the rate at which over-use
// begins, sampled at each decrease (libwebrtc's LinkCapacityEstimator): an
// exponential average with a normalised variance, in kbit/s.
type linkCapacity struct {
	estimate  float64 // bits/s, 0: unknown
	deviation float64 // normalised variance, kbit/s
}

const (
	capAlpha  = 0.05
	devMin    = 0.4
	devMax    = 2.5
	devInit   = 0.4
	devFactor = 3
)

func (c *linkCapacity) known() bool { return c.estimate > 0 }
func (c *linkCapacity) reset()      { *c = linkCapacity{} }

func (c *linkCapacity) sample(bps float64) {
	k := bps / 1000
	if c.estimate == 0 {
		c.estimate, c.deviation = bps, devInit
		return
	}
	e := (1-capAlpha)*c.estimate/1000 + capAlpha*k
	err := e - k
	c.deviation = min(max((1-capAlpha)*c.deviation+capAlpha*err*err/max(e, 1), devMin), devMax)
	c.estimate = e * 1000
}

func (c *linkCapacity) spread() float64 {
	return devFactor * math.Sqrt(c.deviation*c.estimate/1000) * 1000
}

func (c *linkCapacity) upper() float64 {
	if !c.known() {
		return math.Inf(1)
	}
	return c.estimate + c.spread()
}

func (c *linkCapacity) lower() float64 {
	if !c.known() {
		return 0
	}
	return max(0, c.estimate-c.spread())
}
