package bwe

import "math"

// Probing: short clusters of padding at a chosen rate whose arrival rate,
// read back from their feedback, tells whether the path carries more than
// the estimate (libwebrtc's ProbeController, BitrateProber and
// ProbeBitrateEstimator). The feedback side decides when and at what rate
// (prober, under Estimator.mu) and queues clusters; the sender side (pacer,
// touched only by Sent and NextProbe) hands their bytes out as bursts.

// Probe is one burst of probe padding that NextProbe asks the sender to
// send now.
type Probe struct {
	// Cluster is the id to pass to Sent with each packet of the burst.
	Cluster int
	// Bytes is how many bytes to send now (RTX padding or retransmissions
	// of recent packets), split into at least Packets packets.
	Bytes   int
	Packets int
	// Rate is the cluster's target rate, bits/s.
	Rate uint64
	// Until is when the cluster ends if paced at Rate (ns, the caller's
	// clock): a sender that can wake up may call NextProbe again until then
	// to pace the rest instead of sending it with its next drain.
	Until int64
}

// cluster is one probe cluster as queued for the sender.
type cluster struct {
	id      int
	rate    float64 // bits/s
	bytes   int     // at least this many bytes ...
	packets int     // ... in at least this many packets
	created int64   // ns; 0: queued before any clock was seen
}

const (
	maxPending      = 4
	startEpisode    = 1              // the start probes' episode
	probeShadow     = 500_000_000    // over-use on packets sent this soon after a probe's is the probe's
	liftConfirm     = 0.85           // acknowledged this share of a lifted estimate confirms it
	fillBeta        = 0.95           // over-use under a Fill: the estimate goes to this share of what was carried
	probeStats      = 8              // clusters remembered on the feedback side
	probeArrivals   = 64             // arrivals a cluster keeps for its second half
	minGap          = 1_000_000      // bounds of the sender's call cadence ...
	maxGap          = 20_000_000     // ... that sizes a burst
	probeMaxSpan    = 1_000_000_000  // a cluster is sent and received within 1 s
	pendingMaxAge   = 1_000_000_000  // a cluster not started within 1 s is dropped
	episodeTimeout  = 1_500_000_000  // an episode without results by then failed
	probeStable     = 1_000_000_000  // no decrease for this long before probing
	dropWindow      = 5_000_000_000  // probe back up within 5 s of a large drop
	dropRatio       = 0.66           // a fall below 2/3 is a large drop
	dropProbeFrac   = 0.85           // probe at 85 % of the rate before the drop
	probeContinue   = 0.7            // a result ≥ 70 % of the target probes further
	probeMinRecv    = 0.8            // 80 % of a cluster must arrive
	probeMaxRatio   = 2.0            // receive rate ≤ 2× send rate, else invalid
	probeSaturated  = 0.9            // receive < 90 % of send: the link is full ...
	probeUtilise    = 0.95           // ... so take 95 % of the receive rate
	probePadPacket  = 200            // bytes a packet when only packets are missing
	probeSlack      = 50             // bytes a cluster may fall short and be done
	startScaleLow   = 3.0            // the start probes: 3× and 6× Initial
	startScaleHigh  = 6.0            // (libwebrtc's)
	probeScaleLow   = 2.0            // later probes: 2× and 3× the estimate
	probeScaleHigh  = 3.0            //
	probeRaise      = 1.05           // a wish 5 % above the last is a new one
	probeOvershoot  = 1.1            // probe up to 10 % above the wish
	maxClusterID    = hProbeMask     // ids wrap within the history's field
	maxProbeRateBps = 10_000_000_000 // sanity bound
)

// pacer is the sender side: the clusters it has taken from the queue and
// the one it is sending.
type pacer struct {
	seen    uint32 // Estimator.queued when last pulled
	queue   [maxPending]cluster
	n       int
	act     cluster
	on      bool
	start   int64
	bytes   int
	packets int

	stopped  uint32 // Estimator.stop when last seen
	lastCall int64  // the last NextProbe, ns
	gap      int64  // the average time between NextProbe calls, ns
}

// count accounts one packet sent at time at and returns the cluster id to
// record it with. While a cluster is under way, its padding (probe is its
// id) counts towards its size, and media sent meanwhile (probe 0) is
// recorded as part of it without counting: the cluster's rate is measured
// on everything that crossed the path during it, as libwebrtc's pacer
// counts the media it sends during a probe, but the padding alone makes up
// the cluster's rate on top of the media.
func (p *pacer) count(size int, at int64, probe int) int {
	if !p.on || (probe != 0 && probe != p.act.id) {
		return probe
	}
	if at-p.start > probeMaxSpan {
		p.on = false
		return probe
	}
	if probe == 0 {
		return p.act.id
	}
	p.bytes += size
	p.packets++
	if p.bytes >= p.act.bytes-probeSlack && p.packets >= p.act.packets {
		p.on = false
	}
	return probe
}

// tick notes a NextProbe call at now: the sender's cadence, which sizes
// each burst to what is due until the next call.
func (p *pacer) tick(now int64) {
	if p.lastCall != 0 {
		g := min(max(now-p.lastCall, minGap), maxGap)
		p.gap += (g - p.gap) / 4
	}
	p.lastCall = now
}

// probeStat is what the feedback side knows of one cluster and has seen of
// its packets.
type probeStat struct {
	cluster
	episode             int
	used                bool
	firstSend, lastSend int64
	lastSendSize        int
	firstRecv, lastRecv int64
	firstRecvSize       int
	bytes, packets      int
	result              float64 // bits/s; 0: none yet
	// The cluster's first arrivals in the order reported (the order
	// they crossed a FIFO bottleneck), for the second half's rate.
	arr  [probeArrivals]probeArrival
	narr int
}

// probeArrival is one packet of a cluster as it arrived.
type probeArrival struct {
	at   int64
	size int
}

func (s *probeStat) add(p sent, arrival int64) {
	if s.packets == 0 {
		s.firstSend, s.lastSend, s.lastSendSize = p.at, p.at, p.size
		s.firstRecv, s.lastRecv, s.firstRecvSize = arrival, arrival, p.size
	} else {
		if p.at < s.firstSend {
			s.firstSend = p.at
		}
		if p.at >= s.lastSend {
			s.lastSend, s.lastSendSize = p.at, p.size
		}
		if arrival < s.firstRecv {
			s.firstRecv, s.firstRecvSize = arrival, p.size
		}
		s.lastRecv = max(s.lastRecv, arrival)
	}
	s.bytes += p.size
	s.packets++
	if s.narr < len(s.arr) {
		s.arr[s.narr] = probeArrival{at: arrival, size: p.size}
		s.narr++
	}
}

// secondHalf is the receive rate of the cluster's second half (by bytes,
// in the order the packets arrived), bits/s, or false when too few
// arrivals were kept to tell. A token bucket (a shaper's burst allowance)
// passes its bucketful at once and the rest at the link's rate: the second
// half of a cluster larger than the bucket arrives at the rate the path
// sustains, while the whole cluster's rate would read the burst as
// headroom.
func (s *probeStat) secondHalf() (float64, bool) {
	if s.narr < s.packets || s.narr < 4 {
		return 0, false
	}
	cum := 0
	for i := range s.narr {
		cum += s.arr[i].size
		if 2*cum < s.bytes {
			continue
		}
		// From the arrival that completed the first half to the last
		// (the span carries the bytes after it).
		span := s.lastRecv - s.arr[i].at
		if span <= 0 || i == s.narr-1 {
			return 0, false
		}
		return float64(s.bytes-cum) * 8e9 / float64(span), true
	}
	return 0, false
}

// estimate is the rate the cluster's packets show, as libwebrtc's
// ProbeBitrateEstimator reads it: most of the cluster must have arrived;
// the send rate leaves out the last packet sent and the receive rate the
// first received (each interval ends where that packet begins); the lower
// of the two counts, 95 % of the receive rate when it is clearly below the
// send rate (the link is saturated). A cluster sent in one burst (no send
// interval) is read by its receive rate alone. The result never exceeds the
// rate the cluster was meant to test.
func (s *probeStat) estimate() (float64, bool) {
	if float64(s.packets) < math.Ceil(probeMinRecv*float64(s.cluster.packets)) ||
		float64(s.bytes) < probeMinRecv*float64(s.cluster.bytes) {
		return 0, false
	}
	si := s.lastSend - s.firstSend
	ri := s.lastRecv - s.firstRecv
	if ri <= 0 || ri > probeMaxSpan || si < 0 || si > probeMaxSpan {
		return 0, false
	}
	recv := float64(s.bytes-s.firstRecvSize) * 8e9 / float64(ri)
	if r2, ok := s.secondHalf(); ok {
		recv = min(recv, r2)
	}
	send := math.Inf(1)
	if si > 0 {
		send = float64(s.bytes-s.lastSendSize) * 8e9 / float64(si)
	}
	if recv > probeMaxRatio*send {
		return 0, false
	}
	r := min(send, recv)
	if recv < probeSaturated*send {
		r = probeUtilise * recv
	}
	return min(r, s.rate), true
}

// prober is the feedback side's probe controller state.
type prober struct {
	nextID    int
	stats     [probeStats]probeStat
	episode   int     // the current or last episode
	active    bool    // an episode is in flight
	deadline  int64   // when the active episode is given up (0: not timed yet)
	top       float64 // highest target of the episode
	best      float64 // best result of the episode
	lastEnd   int64   // when the last episode ended
	interval  int64   // wait after the last episode before the next
	desired   float64 // what the caller wants, bits/s (0: nothing said)
	succeeded bool    // the last episode reached 70 % of its target

	// Large drops: dropRef is the target before the current run of
	// decreases; a fall below dropRatio of it is a large drop.
	inDrop      bool
	dropRef     float64
	dropFrom    float64
	dropAt      int64
	dropProbed  bool
	lastUnquiet int64 // last decrease or over-use
	quietKnown  bool

	// liftFrom is the estimate before the last probe lift while that
	// lift is unconfirmed (0: none), raised to what the path carries
	// without queueing while no probe is under way: over-use takes the
	// estimate back to it.
	liftFrom float64
	filling  bool // the active episode is a Fill
	// stoppedEpisode is the last episode whose padding was stopped.
	stoppedEpisode int
}

// stat returns the record of cluster id, if still held.
func (p *prober) stat(id int) *probeStat {
	s := &p.stats[id%probeStats]
	if !s.used || s.id != id {
		return nil
	}
	return s
}
