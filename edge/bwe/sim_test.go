package bwe

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// A small deterministic link simulator: the edge's sink (media frames and
// audio drained in passes, probe padding asked for after each pass), a
// bottleneck queue (capacity, tail drop, random loss, propagation delay),
// pion's own TWCC receiver (twcc.Recorder) building feedback every 50 ms,
// marshalled to the wire and parsed back, and the feedback's way back.

const (
	simStep      = ms // the simulation's resolution
	simFrame     = 33_333_333
	simAudio     = 20 * ms
	simAudioSize = 100 // bytes: 40 kbit/s
	simMTU       = 1200
	simPadSize   = 280 // RTX padding packet: 255 bytes of padding + headers
	simFeedback  = 50 * ms
	simPoll      = 100 * ms // the allocator reads the estimate
	simSSRC      = 0x1234
)

// link is the bottleneck.
type link struct {
	capacity  func(at int64) float64 // bits/s
	delay     int64                  // one-way propagation, ns
	loss      float64                // random loss before the queue
	queueMax  int64                  // tail drop beyond this queueing delay, ns
	jitter    int64                  // extra delay, uniform in [0, jitter), order kept
	lastArr   int64
	rng       *rand.Rand
	busyUntil int64
	maxQueue  int64 // the largest queueing delay seen
	drops     int
	// burst > 0 makes the bottleneck a token bucket of that many bytes
	// (tc-tbf): after a quiet spell up to burst bytes pass at once, the
	// rest at the capacity, which a short probe cluster mistakes for
	// headroom.
	burst          int
	tokens, tokenT float64 // bytes in the bucket at time tokenT (ns)
	// stampEvery > 0: the receiver stamps arrivals only when it wakes,
	// every stampEvery ns (a CPU-starved browser reads its socket in
	// batches), so packets that arrived spread out look bunched.
	stampEvery int64
}

// send returns when the packet arrives, or false if the link loses it.
func (l *link) send(at int64, size int) (int64, bool) {
	if l.loss > 0 && l.rng.Float64() < l.loss {
		return 0, false
	}
	start := max(at, l.busyUntil)
	if start-at > l.queueMax {
		l.drops++
		return 0, false
	}
	l.maxQueue = max(l.maxQueue, start-at)
	if l.burst > 0 {
		// FIFO behind a token bucket: leave when the bucket holds the
		// packet's bytes.
		c := l.capacity(start)
		tk := min(float64(l.burst), l.tokens+(float64(start)-l.tokenT)*c/8e9)
		dep := float64(start)
		if tk < float64(size) {
			dep += (float64(size) - tk) * 8e9 / c
			tk = float64(size)
		}
		l.tokens, l.tokenT = tk-float64(size), dep
		l.busyUntil = int64(dep)
	} else {
		l.busyUntil = start + int64(float64(size*8)/l.capacity(start)*1e9)
	}
	at = l.busyUntil + l.delay
	if l.jitter > 0 {
		at = max(at+l.rng.Int64N(l.jitter), l.lastArr) // a Wi-Fi-like path: late, never reordered
	}
	l.lastArr = at
	return at, true
}

type arrival struct {
	at  int64
	seq uint16
}

type delivery struct {
	at int64
	b  []byte
}

// sample is the estimate as the allocator saw it.
type sample struct {
	at   int64
	est  Estimate
	sent float64 // the media rate chosen from it
}

type sim struct {
	t      testing.TB
	e      *Estimator
	link   *link
	rec    *twcc.Recorder
	demand func(at int64) float64
	layers []float64 // when set, the sender picks a layer as the allocator does
	layer  int
	// verify: before a move up, Fill up to the next layer for a second
	// and move only if the estimate still allows it (the room's up hold).
	verify bool
	// pace > 0 spreads a frame's packets that far apart (ns), as a
	// publisher's pacer does before the SFU forwards them as they come.
	pace                                   int64
	queued                                 []int
	nextPaced                              int64
	fillUntil                              int64   // 0: no fill under way
	timeAt                                 []int64 // ns spent at each layer
	start                                  int64
	now                                    int64
	seq                                    uint16
	rate                                   float64
	inflight                               []arrival
	fbs                                    []delivery
	samples                                []sample
	sentB                                  int64
	probeB                                 int64
	nextFrame, nextAudio, nextFB, nextPoll int64
}

func newSim(t testing.TB, cfg Config, l *link, demand func(int64) float64) *sim {
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.rng == nil {
		l.rng = rand.New(rand.NewPCG(1, 2))
	}
	start := int64(1_000_000_000)
	s := &sim{t: t, e: e, link: l, rec: twcc.NewRecorder(5678), demand: demand, start: start, now: start,
		nextFrame: start, nextAudio: start, nextFB: start + simFeedback, nextPoll: start}
	s.rate = float64(e.Estimate().Target)
	return s
}

// send hands one packet to the estimator and the link.
func (s *sim) send(size, probe int) {
	s.seq++
	s.e.Sent(s.seq, size, s.now, probe)
	s.sentB += int64(size)
	if at, ok := s.link.send(s.now, size+DefaultOverhead); ok { // the link carries IP, UDP and SRTP's tag too
		s.inflight = append(s.inflight, arrival{at, s.seq})
	}
}

// drainProbe is what the sink does after each drain pass.
func (s *sim) drainProbe() {
	p, ok := s.e.NextProbe(s.now)
	if !ok {
		return
	}
	n := max(p.Packets, (p.Bytes+simPadSize-1)/simPadSize)
	for i := range n {
		size := max(p.Bytes/n, 1)
		if i < p.Bytes%n {
			size++
		}
		s.send(size, p.Cluster)
		s.probeB += int64(size)
	}
}

// run advances the simulation by d (ns).
func (s *sim) run(d int64) {
	end := s.now + d
	for ; s.now < end; s.now += simStep {
		// Receiver: arrivals, and feedback every 50 ms.
		k := 0
		for _, a := range s.inflight {
			if a.at > s.now {
				s.inflight[k] = a
				k++
				continue
			}
			at := a.at
			if e := s.link.stampEvery; e > 0 {
				at = (at + e - 1) / e * e
			}
			s.rec.Record(simSSRC, a.seq, at/1000)
		}
		s.inflight = s.inflight[:k]
		if s.now >= s.nextFB {
			s.nextFB += simFeedback
			for _, p := range s.rec.BuildFeedbackPacket() {
				b, err := p.Marshal()
				if err != nil {
					s.t.Fatal(err)
				}
				s.fbs = append(s.fbs, delivery{s.now + s.link.delay, b})
			}
		}
		// Sender: feedback in, estimate read, media and probes out.
		k = 0
		for _, d := range s.fbs {
			if d.at > s.now {
				s.fbs[k] = d
				k++
				continue
			}
			var fb rtcp.TransportLayerCC
			if err := fb.Unmarshal(d.b); err != nil {
				s.t.Fatal(err)
			}
			if err := s.e.Feedback(&fb, s.now); err != nil {
				s.t.Fatal(err)
			}
		}
		s.fbs = s.fbs[:k]
		if s.now >= s.nextPoll {
			s.nextPoll += simPoll
			est := s.e.Estimate()
			want := s.demand(s.now)
			s.rate = min(float64(est.Target), want)
			if s.layers != nil {
				fits := 0 // the highest layer (plus audio) that fits
				for i, r := range s.layers {
					if r+40_000 <= float64(est.Target) {
						fits = i
					}
				}
				switch {
				case !s.verify || fits <= s.layer:
					s.layer, s.fillUntil = fits, 0
				case s.fillUntil == 0:
					s.e.Fill(uint64(s.layers[s.layer+1]+40_000), uint64(s.layers[s.layer]+40_000), time.Second, s.now)
					s.fillUntil = s.now + sec
				case s.now >= s.fillUntil:
					s.layer, s.fillUntil = s.layer+1, 0
				}
				if s.timeAt == nil {
					s.timeAt = make([]int64, len(s.layers))
				}
				s.timeAt[s.layer] += simPoll
				s.rate = s.layers[s.layer] + 40_000
				want = s.rate
				if s.layer+1 < len(s.layers) {
					want = s.layers[s.layer+1] + 40_000
				}
			}
			s.e.WantProbe(uint64(want), s.now)
			s.samples = append(s.samples, sample{s.now - s.start, est, s.rate})
		}
		if s.now >= s.nextAudio {
			s.nextAudio += simAudio
			s.send(simAudioSize, 0)
			s.drainProbe()
		}
		if s.now >= s.nextFrame {
			s.nextFrame += simFrame
			frame := int(max(s.rate-40_000, 0) / 8 / 30)
			for frame > 0 {
				n := min(frame, simMTU)
				if s.pace > 0 {
					s.queued = append(s.queued, n)
				} else {
					s.send(n, 0)
				}
				frame -= n
			}
			if s.pace == 0 {
				s.drainProbe()
			}
		}
		if len(s.queued) > 0 && s.now >= s.nextPaced {
			s.send(s.queued[0], 0)
			s.queued = s.queued[1:]
			s.nextPaced = s.now + s.pace
			if len(s.queued) == 0 {
				s.drainProbe()
			}
		}
	}
}

// over returns the samples taken in [from, to) (ns since the start).
func (s *sim) over(from, to int64) []sample {
	var out []sample
	for _, x := range s.samples {
		if x.at >= from && x.at < to {
			out = append(out, x)
		}
	}
	return out
}

func targets(xs []sample) (lo, hi, mean float64) {
	lo = 1e18
	for _, x := range xs {
		v := float64(x.est.Target)
		lo, hi = min(lo, v), max(hi, v)
		mean += v
	}
	return lo, hi, mean / float64(max(len(xs), 1))
}

// firstBelow is the first sample time at or after from whose target is below v.
func firstBelow(xs []sample, from int64, v float64) int64 {
	for _, x := range xs {
		if x.at >= from && float64(x.est.Target) < v {
			return x.at
		}
	}
	return -1
}

func firstAbove(xs []sample, from int64, v float64) int64 {
	for _, x := range xs {
		if x.at >= from && float64(x.est.Target) >= v {
			return x.at
		}
	}
	return -1
}

func constant(v float64) func(int64) float64 { return func(int64) float64 { return v } }

const sec = int64(1_000_000_000)

// steps is a capacity that changes at the given times (ns since start).
func steps(first float64, at []int64, to []float64) func(int64) float64 {
	return func(t int64) float64 {
		t -= sec // the simulation's start
		v := first
		for i, a := range at {
			if t >= a {
				v = to[i]
			}
		}
		return v
	}
}
