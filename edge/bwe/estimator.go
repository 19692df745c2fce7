package bwe

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// Estimate is the estimator's view of the path, as of the last feedback.
type Estimate struct {
	// Target is the bitrate to send at, bits/s: the lower of the
	// delay-based and the loss-based rate, within [Min, Max].
	Target uint64
	// DelayBased is the delay-based (AIMD) rate, LossBased the loss-based
	// cap (0: loss limits nothing), bits/s.
	DelayBased, LossBased uint64
	// Acked is the rate at which packets arrived (the acknowledged
	// bitrate) over the last half second, bits/s; 0 until 150 ms of
	// arrivals.
	Acked uint64
	// Usage is the over-use detector's last signal.
	Usage Usage
	// Loss is the fraction of packets lost over the last second or so.
	Loss float64
	// Congested: the path is over-used now (delay growing or loss above
	// 10 %).
	Congested bool
	// RTT is the feedback round trip: from sending a packet to receiving
	// the feedback that reports it (includes the receiver's feedback
	// interval).
	RTT time.Duration
	// Probing: a probe is queued or under way.
	Probing bool
}

// Stats counts what the estimator did (for tests and metrics).
type Stats struct {
	Feedbacks      uint64 // feedback packets taken
	Malformed      uint64 // feedback packets refused
	Received, Lost uint64 // packets newly reported
	Unknown        uint64 // reports of packets not (or no longer) in the history
	Duplicates     uint64 // reports of packets already reported received
	DelayDecreases uint64 // AIMD decreases
	LossDecreases  uint64 // loss-based decreases
	Probes         uint64 // probe clusters created
	ProbeLifts     uint64 // probe results that raised the estimate
	ProbesFailed   uint64 // probe episodes that ended without reaching 70 % of their target
	StartLowered   uint64 // start probe results that lowered the initial estimate
	ProbeOveruses  uint64 // over-use signals put down to a probe's queue (no decrease)
	ProbeReverts   uint64 // probe lifts taken back when the path queued before carrying them
	Fills          uint64 // sustained probes (Fill) started
	ProbesStopped  uint64 // probe padding stopped because the path queued
}

// Estimator is the send-side bandwidth estimator of one connection. See
// the package documentation for the model and the threading contract.
type Estimator struct {
	cfg  Config
	hist history

	// Sender side: Sent and NextProbe only.
	pace pacer

	// The probe queue from the feedback side to the sender.
	queued atomic.Uint32 // bumped under pmu when clusters are queued
	// stop is bumped by the feedback side when the path queues: the
	// sender drops the cluster it is sending and those it holds, so a
	// probe or a Fill stops filling a queue once it shows.
	stop     atomic.Uint32
	pmu      sync.Mutex
	pending  [maxPending]cluster
	npending int

	// Feedback side: everything below, under mu.
	mu    sync.Mutex
	fb    feedbackState
	ia    interArrival
	trend trendline
	acked rateWindow
	rc    aimd
	loss  lossBased
	probe prober
	rtt   int64
	// lastProbeSend is the newest send time of a probe packet reported
	// received (0: none yet): over-use on packets sent soon after it is
	// the probe's own queue (see endFeedback).
	lastProbeSend int64
	target        float64
	est           Estimate
	stats         Stats
	minB          float64
	maxB          float64
	visitor       fbVisitor
}

// feedbackState is the feedback side's per-packet memory (which packets
// were reported, and how) and the current feedback's tallies.
type feedbackState struct {
	// status[seq&mask] = 1<<31 | seq<<2 | st (st: 1 received, 2 lost)
	status   []uint32
	ref      int64 // unwrapped reference time of the last feedback, 64 ms units
	haveRef  bool
	at       int64 // arrival of the feedback being processed, caller's clock
	newRecv  int
	newLost  int
	regained int   // reported lost before, received now
	maxSend  int64 // newest send time acknowledged in this feedback
	anySend  bool
	probes   [probeStats]int // ids of clusters touched, 0: none
	nprobes  int
}

const (
	stReceived = 1
	stLost     = 2
	initialRTT = 100 * int64(time.Millisecond)
	rttAlpha   = 0.1
)

// New makes an Estimator. It starts nothing; the start probes (3× and 6×
// Initial) are queued for the first NextProbe.
func New(cfg Config) (*Estimator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Estimator{
		cfg:    cfg,
		hist:   newHistory(cfg.History),
		trend:  newTrendline(),
		rtt:    initialRTT,
		minB:   float64(cfg.Min),
		maxB:   float64(cfg.Max),
		target: float64(cfg.Initial),
	}
	e.fb.status = make([]uint32, cfg.History)
	e.rc = aimd{rate: float64(cfg.Initial), min: e.minB, max: e.maxB}
	e.pace.gap = 5 * int64(time.Millisecond)
	e.probe.interval = probeStable
	e.visitor.e = e
	if !cfg.NoProbe {
		e.probe.active = true
		e.probe.episode = startEpisode
		e.queueCluster(startScaleLow*e.target, 0)
		e.queueCluster(startScaleHigh*e.target, 0)
	}
	e.snapshot()
	return e, nil
}

// Sent records a packet the connection sent: seq is the transport-wide
// sequence number written in its transport-cc header extension
// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2), size its size
// in bytes (RTP header and payload; the estimator adds Config.Overhead for
// what lies below), at its send time (ns, the caller's monotonic clock) and
// probe the cluster id NextProbe gave for padding (0 for everything else;
// media sent while a cluster is under way is measured with it).
//
// Sender side: calls of Sent and NextProbe must not overlap (one goroutine,
// or one at a time with a happens-before edge between them, such as the
// sink's drain flag). It allocates nothing and takes no lock.
func (e *Estimator) Sent(seq uint16, size int, at int64, probe int) {
	size += e.cfg.Overhead // what the link carries
	e.hist.put(seq, size, at, e.pace.count(size, at, probe))
}

// NextProbe tells the sender whether to send probe padding now, and how
// much with which cluster id. Call it whenever the sender is about to go
// idle (after each drain of the subscriber's queue) and, if it can, again
// before Probe.Until; send the bytes at once (RTX padding, or
// retransmissions of recent packets) and report each packet with Sent.
//
// Sender side (see Sent). It takes a lock only when the feedback side has
// queued new clusters (a few times a second at most).
func (e *Estimator) NextProbe(now int64) (Probe, bool) {
	p := &e.pace
	p.tick(now)
	if s := e.stop.Load(); s != p.stopped {
		p.stopped = s
		p.on, p.n = false, 0
		if e.queued.Load() != p.seen {
			// Clusters queued before the stop are dropped with it.
			e.pmu.Lock()
			e.npending = 0
			p.seen = e.queued.Load()
			e.pmu.Unlock()
		}
	}
	for range maxPending + 1 {
		if !p.on {
			if p.n == 0 && !e.pull() {
				return Probe{}, false
			}
			if p.n == 0 {
				return Probe{}, false
			}
			c := p.queue[0]
			copy(p.queue[:], p.queue[1:p.n])
			p.n--
			if c.created != 0 && now-c.created > pendingMaxAge {
				continue
			}
			// A cluster spans at least two of the sender's calls, so that
			// what it measures is its rate, not one burst's.
			c.bytes = max(c.bytes, int(c.rate*float64(2*p.gap)/8e9))
			p.act, p.on, p.start, p.bytes, p.packets = c, true, now, 0, 0
		}
		if now-p.start > probeMaxSpan {
			p.on = false
			continue
		}
		c := &p.act
		remaining, pleft := c.bytes-p.bytes, c.packets-p.packets
		if remaining <= probeSlack && pleft <= 0 {
			p.on = false
			continue
		}
		until := p.start + int64(float64(c.bytes)*8e9/c.rate)
		if remaining <= probeSlack {
			return Probe{Cluster: c.id, Bytes: pleft * probePadPacket, Packets: pleft, Rate: uint64(c.rate), Until: until}, true
		}
		due := min(int(c.rate*float64(now-p.start+p.gap)/8e9)-p.bytes, remaining)
		if remaining-due < probePadPacket {
			due = remaining // no straggler of a few bytes a call later
		}
		if due <= 0 {
			return Probe{}, false
		}
		k := 1
		if pleft > 0 {
			k = max(1, (pleft*due+remaining-1)/remaining)
		}
		return Probe{Cluster: c.id, Bytes: due, Packets: k, Rate: uint64(c.rate), Until: until}, true
	}
	return Probe{}, false
}

// pull takes newly queued clusters into the pacer.
func (e *Estimator) pull() bool {
	p := &e.pace
	if e.queued.Load() == p.seen {
		return false
	}
	e.pmu.Lock()
	for i := range e.npending {
		if p.n < maxPending {
			p.queue[p.n] = e.pending[i]
			p.n++
		}
	}
	e.npending = 0
	p.seen = e.queued.Load()
	e.pmu.Unlock()
	return p.n > 0
}

// queueCluster creates a cluster at rate (bits/s) for the current episode
// and queues it for the sender. Feedback side (mu held, or in New).
func (e *Estimator) queueCluster(rate float64, now int64) {
	e.queueClusterFor(rate, e.cfg.ProbeMinDuration, now)
}

// queueClusterFor is queueCluster lasting d at its rate.
func (e *Estimator) queueClusterFor(rate float64, d time.Duration, now int64) {
	rate = min(rate, e.maxB, maxProbeRateBps)
	p := &e.probe
	p.nextID = p.nextID%maxClusterID + 1
	c := cluster{
		id:      p.nextID,
		rate:    rate,
		bytes:   int(rate * d.Seconds() / 8),
		packets: e.cfg.ProbeMinPackets,
		created: now,
	}
	c.bytes = max(c.bytes, c.packets*probePadPacket)
	p.stats[c.id%probeStats] = probeStat{cluster: c, episode: p.episode, used: true}
	p.top = max(p.top, rate)
	e.stats.Probes++
	e.pmu.Lock()
	if e.npending < maxPending {
		e.pending[e.npending] = c
		e.npending++
	}
	e.queued.Add(1)
	e.pmu.Unlock()
}

// Feedback takes one transport-cc feedback packet from the connection's
// receiver (as pion's rtcp package unmarshalled it) that arrived at time
// at (ns, the caller's clock), matches its reports with the send history
// and updates the estimate. Feedback that repeats, overlaps or arrives out
// of order is taken for what is new in it. A malformed packet changes
// nothing and returns an error wrapping ErrMalformed.
//
// Feedback side: safe for concurrent use with every other method.
func (e *Estimator) Feedback(fb *rtcp.TransportLayerCC, at int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.beginFeedback(at)
	if err := decodePion(fb, &e.visitor); err != nil {
		e.stats.Malformed++
		return err
	}
	e.endFeedback(at)
	return nil
}

// FeedbackBytes is Feedback for the wire form of one transport-cc packet
// (not a compound RTCP packet): it decodes b without allocating, for a
// caller that reads RTCP itself.
func (e *Estimator) FeedbackBytes(b []byte, at int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.beginFeedback(at)
	if err := decodeBytes(b, &e.visitor); err != nil {
		e.stats.Malformed++
		return err
	}
	e.endFeedback(at)
	return nil
}

// Estimate returns the estimate as of the last feedback. Safe for
// concurrent use; cheap (a lock and a copy).
func (e *Estimator) Estimate() Estimate {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.est
}

// Stats returns the counters. Safe for concurrent use.
func (e *Estimator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// WantProbe tells the estimator the rate the caller would send if the path
// allowed it (desired, bits/s: e.g. what the subscriber's next layers up
// need; 0: nothing more), at time now. While the estimate stays below it
// and stable, the estimator probes for it (see the package documentation);
// call it whenever the wish changes, and periodically (every estimate
// read). It returns whether a probe is queued or under way.
//
// Feedback side: safe for concurrent use with every other method.
func (e *Estimator) WantProbe(desired uint64, now int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &e.probe
	d := min(float64(desired), e.maxB)
	if d > p.desired*probeRaise {
		// A new wish: no backoff from old failures, and none at all right
		// after a success (the allocator climbs a layer at a time).
		p.interval = min(p.interval, probeStable)
		if p.succeeded {
			p.interval = 0
		}
	}
	p.desired = d
	e.probeTick(now)
	e.est.Probing = p.active
	return p.active
}

// Fill pads the connection up to rate (bits/s: padding at rate less
// what the caller sends, given as media) for d (at most a second), now,
// unless a probe is under way: a sustained probe that shows whether the
// path carries a higher allocation before the caller moves to it (a move
// up that fails costs a keyframe into a full queue: a freeze). A path
// that queues under it takes an unconfirmed lift back (see endFeedback),
// so the caller's move waits; one that carries it confirms the estimate.
// It returns whether the fill was queued.
//
// Feedback side: safe for concurrent use with every other method.
func (e *Estimator) Fill(rate, media uint64, d time.Duration, now int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &e.probe
	if e.cfg.NoProbe || p.active || rate <= media {
		return false
	}
	d = min(d, time.Duration(probeMaxSpan))
	pad := float64(rate - media)
	p.episode++
	p.active, p.deadline, p.top, p.best, p.filling = true, now+int64(d)+episodeTimeout, pad, 0, true
	e.queueClusterFor(pad, d, now)
	e.stats.Fills++
	e.est.Probing = true
	return true
}

// fbVisitor adapts the Estimator to the decoders' visitor without exposing
// its methods.
type fbVisitor struct{ e *Estimator }

func (v *fbVisitor) begin(_ uint16, ref uint32, _ uint8) int64 {
	f := &v.e.fb
	if !f.haveRef {
		f.ref, f.haveRef = int64(ref), true
	} else {
		d := (int64(ref) - f.ref) & refMask
		if d&refSign != 0 {
			d -= refWrap
		}
		f.ref += d
	}
	return f.ref * refUnit
}

func (v *fbVisitor) status(seq uint16, received bool, arrival int64) {
	e := v.e
	f := &e.fb
	p, ok := e.hist.get(seq, f.at)
	if !ok {
		e.stats.Unknown++
		return
	}
	i := int(seq & e.hist.mask)
	key := uint32(1)<<31 | uint32(seq)<<2
	prev := 0
	if f.status[i]&^3 == key {
		prev = int(f.status[i] & 3)
	}
	if !received {
		if prev == 0 {
			f.status[i] = key | stLost
			f.newLost++
		}
		return
	}
	switch prev {
	case stReceived:
		e.stats.Duplicates++
		return
	case stLost:
		f.regained++
	}
	f.status[i] = key | stReceived
	f.newRecv++
	if !f.anySend || p.at > f.maxSend {
		f.maxSend, f.anySend = p.at, true
	}
	e.acked.add(arrival, p.size)
	if sd, ad, at, ok := e.ia.add(p.at, arrival); ok {
		e.trend.update(sd, ad, at)
	}
	if p.probe != 0 {
		e.lastProbeSend = max(e.lastProbeSend, p.at)
		if s := e.probe.stat(p.probe); s != nil {
			s.add(p, arrival)
			if f.nprobes < len(f.probes) && (f.nprobes == 0 || f.probes[f.nprobes-1] != p.probe) {
				f.probes[f.nprobes] = p.probe
				f.nprobes++
			}
		}
	}
}

func (e *Estimator) beginFeedback(at int64) {
	f := &e.fb
	f.at, f.newRecv, f.newLost, f.regained, f.anySend, f.nprobes = at, 0, 0, 0, false, 0
}

// endFeedback runs the controllers on what one feedback packet brought.
func (e *Estimator) endFeedback(now int64) {
	f := &e.fb
	e.stats.Feedbacks++
	e.stats.Received += uint64(f.newRecv)
	e.stats.Lost += uint64(f.newLost)
	if f.anySend && now > f.maxSend {
		e.rtt = int64((1-rttAlpha)*float64(e.rtt) + rttAlpha*float64(now-f.maxSend))
	}
	prev := e.target
	decreased := false

	// Loss-based (§6): newly lost, net of packets reported lost before.
	e.loss.add(f.newLost-f.regained, f.newLost+f.newRecv-f.regained)
	if e.loss.update(now, e.rtt, e.target, e.rc.rate) {
		e.stats.LossDecreases++
		decreased = true
	}

	// Delay-based (§5.5), on feedback that brought arrivals.
	//
	// A probe lift is unconfirmed until the path has carried traffic
	// near it: over-use while it is takes the estimate back to where the
	// probe found it (the lift was the probe's burst read as headroom: a
	// shaper's bucket, a receiver that stamps arrivals in batches) rather
	// than cutting to a fraction of the media's rate. Over-use on packets
	// sent within probeShadow of a probe packet is the probe's own queue
	// (a probe goes above the path to find its edge; the media alone,
	// below the estimate, did not cause it): it holds the rate. Over-use
	// otherwise decreases as GCC does.
	acked := e.acked.bps()
	overuse := e.trend.state == Overuse
	if overuse && e.probe.active && e.probe.stoppedEpisode != e.probe.episode {
		// The path queues: no more of this episode's padding into it.
		e.probe.stoppedEpisode = e.probe.episode
		e.stop.Add(1)
		e.stats.ProbesStopped++
	}
	probeQueue := overuse && e.lastProbeSend != 0 && f.anySend && f.maxSend-e.lastProbeSend < probeShadow
	l := &e.probe
	switch {
	case overuse && l.liftFrom > 0:
		if e.rc.rate > l.liftFrom {
			e.rc.set(l.liftFrom, now)
			e.loss.lift(l.liftFrom)
			e.stats.ProbeReverts++
			decreased = true
		}
		l.liftFrom = 0
	case overuse && l.filling && acked > 0:
		// The path queues under a Fill: what it carried under the fill is
		// about its rate, and the move up that the fill checked does not
		// fit.
		if r := fillBeta * acked; r < e.rc.rate {
			e.rc.set(r, now)
			e.stats.DelayDecreases++
			decreased = true
		}
		l.filling = false
	case probeQueue:
		e.stats.ProbeOveruses++
	case f.newRecv > 0:
		if e.rc.update(e.trend.state, acked, now, e.rtt) {
			e.stats.DelayDecreases++
			decreased = true
		}
	}
	if l.liftFrom > 0 && !overuse && acked >= liftConfirm*e.rc.rate {
		l.liftFrom = 0 // carried: the lift was the path's
	}
	if l.liftFrom > 0 && !overuse && !l.active && acked > l.liftFrom {
		// A caller sending less than the lifted estimate (application
		// limited) never confirms it, but what the path carries without
		// queueing, no probe or fill under way, is the path's: a revert
		// goes no lower.
		l.liftFrom = min(acked, e.rc.rate)
	}
	e.combine()

	// Probe results: a cluster's rate above the estimate lifts it at once
	// unless the path is over-used (libwebrtc's DelayBasedBwe takes a probe
	// only then too); below, it changes nothing.
	for _, id := range f.probes[:f.nprobes] {
		if overuse {
			break
		}
		s := e.probe.stat(id)
		if s == nil {
			continue
		}
		r, ok := s.estimate()
		if !ok {
			continue
		}
		s.result = max(s.result, r)
		if s.episode == e.probe.episode {
			e.probe.best = max(e.probe.best, r)
		}
		switch {
		case r > e.target:
			if e.probe.liftFrom == 0 {
				e.probe.liftFrom = e.target
			}
			e.rc.set(r, now)
			e.loss.lift(r)
			e.combine()
			e.stats.ProbeLifts++
		case s.episode == startEpisode && e.stats.DelayDecreases+e.stats.LossDecreases+e.stats.ProbeLifts == 0:
			// The start probes saturated the path below the initial
			// estimate, which nothing has confirmed yet: the path's
			// rate is the better start (libwebrtc keeps its guess
			// until over-use, after layers above the path were
			// tried).
			e.rc.set(r, now)
			e.combine()
			e.stats.StartLowered++
		}
	}

	// Stability and large drops, for the probe controller.
	p := &e.probe
	if decreased || e.trend.state == Overuse || !p.quietKnown {
		p.lastUnquiet, p.quietKnown = now, true
	}
	if decreased {
		if !p.inDrop {
			p.inDrop, p.dropRef = true, prev
		}
		if e.target < dropRatio*p.dropRef {
			p.dropFrom, p.dropAt, p.dropProbed = p.dropRef, now, false
		}
	} else if now-p.lastUnquiet > probeStable {
		p.inDrop = false
	}
	e.probeTick(now)
	e.snapshot()
}

// combine sets the target from the delay- and loss-based rates (§6).
func (e *Estimator) combine() {
	t := e.rc.rate
	if e.loss.cap > 0 {
		t = min(t, e.loss.cap)
	}
	e.target = min(max(t, e.minB), e.maxB)
}

// probeTick ends the probe episode whose results are in (or whose time is
// up) and starts a new one when one is called for. mu held.
func (e *Estimator) probeTick(now int64) {
	if e.cfg.NoProbe {
		return
	}
	p := &e.probe
	if p.active {
		if p.deadline == 0 {
			p.deadline = now + episodeTimeout
		}
		done := true
		for i := range p.stats {
			if s := &p.stats[i]; s.used && s.episode == p.episode && s.result == 0 {
				done = false
			}
		}
		if !done && now < p.deadline {
			return
		}
		p.active, p.lastEnd, p.filling = false, now, false
		success := p.best >= probeContinue*p.top
		p.succeeded = success
		if !success {
			e.stats.ProbesFailed++
			p.interval = min(2*p.interval, int64(e.cfg.ProbeInterval))
			return
		}
		p.interval = probeStable
		p.dropFrom = 0
		// Probe further while the result says the path may carry what the
		// caller wants (libwebrtc's exponential probing).
		if p.desired > e.target && p.best >= e.target*0.95 {
			e.startEpisode(now, probeScaleLow*p.best, probeScaleHigh*p.best)
		}
		return
	}
	if p.desired <= e.target || now-p.lastUnquiet < probeStable {
		return
	}
	// Quickly back towards the rate before a large drop, once the path is
	// quiet again.
	if p.dropFrom > e.target*probeRaise && !p.dropProbed && now-p.dropAt <= dropWindow {
		p.dropProbed = true
		e.startEpisode(now, dropProbeFrac*p.dropFrom)
		return
	}
	if now-p.lastEnd >= p.interval {
		e.startEpisode(now, probeScaleLow*e.target, probeScaleHigh*e.target)
	}
}

// startEpisode queues one cluster a distinct rate, capped a little above
// what the caller wants (a result lands at or below the cluster's rate, and
// must clear the wish).
func (e *Estimator) startEpisode(now int64, rates ...float64) {
	p := &e.probe
	p.episode++
	p.active, p.deadline, p.top, p.best = true, now+episodeTimeout, 0, 0
	last := 0.0
	for _, r := range rates {
		r = min(r, p.desired*probeOvershoot)
		if r <= last*1.01 || r <= e.target {
			continue
		}
		e.queueCluster(r, now)
		last = r
	}
	if last == 0 {
		p.active = false
	}
}

// snapshot publishes the estimate. mu held.
func (e *Estimator) snapshot() {
	e.est = Estimate{
		Target:     uint64(e.target),
		DelayBased: uint64(e.rc.rate),
		LossBased:  uint64(e.loss.cap),
		Acked:      uint64(e.acked.bps()),
		Usage:      e.trend.state,
		Loss:       e.loss.ratio,
		Congested:  e.trend.state == Overuse || e.loss.ratio > lossHigh,
		RTT:        time.Duration(e.rtt),
		Probing:    e.probe.active,
	}
}
