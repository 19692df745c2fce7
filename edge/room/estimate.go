package room

import "github.com/spacecast/spacecast/edge/bwe"

// The subscriber's bandwidth, which layer choice divides among its tracks,
// comes from the edge's own send-side estimator (edge/bwe) once the
// client's transport-cc feedback arrives; a client that negotiated only
// REMB is followed by its REMB instead.

// newEstimator is a subscriber connection's estimator: bwe's defaults, a
// start at 600 kbit/s (a 360p layer and audio) that the start probes, at
// 1.8 and 3.6 Mbit/s, lift within the first round trips when the path
// allows (and lower when it carries less).
func newEstimator() (*bwe.Estimator, error) { return bwe.New(bwe.Config{}) }

// estimateDrop is the fall of the estimate, since layers were last chosen,
// that chooses them again at once rather than at the next tick.
const estimateDrop = 0.85

// transportFeedback feeds one transport-cc feedback packet of the
// subscriber to its estimator (pion's SRTCP goroutine of the connection).
// A large drop of the estimate wakes the layer choice.
func (p *Participant) transportFeedback(pkt []byte) {
	m := p.room.mgr
	if err := p.bwe.FeedbackBytes(pkt, m.now()); err != nil {
		m.metrics.feedbackMalformed.Inc()
		return
	}
	m.metrics.feedback.Inc()
	p.twcc.Store(true)
	if t := p.bwe.Estimate().Target; float64(t) < estimateDrop*float64(p.allocated.Load()) && p.reallocating.CompareAndSwap(false, true) {
		p.post(func() {
			p.reallocating.Store(false)
			p.allocate()
		})
	}
}

// bandwidth is the subscriber's estimate in bits/s for layer choice (0:
// unknown, no limit): the edge's own once transport-cc feedback arrived,
// else its start value while the subscriber negotiated transport-cc and
// nothing came back yet, else the client's REMB.
func (p *Participant) bandwidth() uint64 {
	if p.twcc.Load() || p.tcc.Load() {
		if t := p.bwe.Estimate().Target; t > 0 {
			return t
		}
		return bwe.DefaultInitial
	}
	return p.estimate.Load()
}
