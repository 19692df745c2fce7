package forward

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// ErrLayer is returned for a layer outside the Source's layers.
var ErrLayer = errors.New("forward: layer out of range")

// Config describes one subscriber's copy of a Source.
type Config struct {
	Source *Source // required
	Queue  *Queue  // required; may be shared by all tracks of a subscriber
	// SSRC is the subscriber-side SSRC written into every packet.
	SSRC uint32
	// PayloadType is the subscriber-side payload type; 0 keeps the
	// publisher's (WebRTC video and Opus never use static type 0).
	PayloadType uint8
	// Tag is queued with every packet so a shared Queue's consumer knows
	// which track it belongs to.
	Tag uint32
	// Layer is the initial target layer; -1 starts paused.
	Layer int
	// KeepExtensions forwards the publisher's RTP header extensions as they
	// are. By default they are stripped (see rewrite.apply).
	KeepExtensions bool
}

// Verdict says what Forward did with a packet.
type Verdict uint8

// Verdicts.
const (
	// Sent: rewritten and queued.
	Sent Verdict = iota + 1
	// Filtered: not for this subscriber (another layer, waiting for a
	// keyframe, paused, a duplicate, or older than the current segment).
	Filtered
	// Dropped: the subscriber's queue was full (counted).
	Dropped
)

// Result is the outcome of Forward.
type Result struct {
	Verdict Verdict
	// Switched: this packet started a new segment (first packet, a layer
	// switch or a resume).
	Switched bool
	// KeyframeLayer >= 0: the forwarder waits for a keyframe on that layer.
	// Pass it to Source.RequestKeyframe, which rate-limits, and send a PLI
	// to that layer's SSRC when it reports true.
	KeyframeLayer int8
}

// segHistory is how many segments (stretches of packets forwarded from one
// layer with one set of offsets) are kept for mapping NACKs.
const segHistory = 32

// maxJump is the largest sequence number jump within one layer taken as
// loss or reordering; a larger one is a restarted stream.
const maxJump = 3000

// extBase is where extended outgoing sequence numbers start.
const extBase = 1 << 32

// segment is a run of packets from one layer forwarded with fixed offsets:
// out seq = outStart + (src seq - srcStart), out ts = src ts + tsOffset,
// VP8 fields out = src - offset.
type segment struct {
	outStart     uint64
	srcStart     uint16
	layer        int8
	tsOffset     uint32
	picOffset    uint16
	tl0Offset    uint8
	keyIdxOffset uint8
	// cont: the segment continues the one before it (same layer, same
	// offsets) past a padding-only packet; a late packet may belong to
	// either.
	cont bool
}

// Forwarder rewrites one Source's packets for one subscriber. See the package
// documentation.
type Forwarder struct {
	src     *Source
	q       *Queue
	tag     uint32
	keepExt bool

	// The subscriber's side (SetOutput), guarded by mu: its SSRC and
	// payload type, its RTX stream's and that stream's next sequence
	// number, and whether RED goes out as plain Opus.
	ssrc, rtxSSRC uint32
	pt, rtxPT     uint8
	rtxSeq        uint16
	redToOpus     bool
	ext           extIDs

	target  atomic.Int32
	current atomic.Int32
	// temporal is the highest VP8 temporal layer to forward (SetTemporal).
	temporal atomic.Int32

	mu      sync.Mutex
	cur     int8
	started bool
	segs    [segHistory]segment
	nsegs   int

	lastOut uint64 // extended outgoing seq of the newest forwarded packet
	// sent has bit i set when lastOut-i was queued: a late packet is
	// forwarded only once.
	sent        uint64
	lastSrcSeq  uint16
	lastLayer   int8
	lastSrcTS   uint32
	lastOutTS   uint32
	lastArrival int64
	lastPic     uint16
	lastTl0     uint8
	lastKeyIdx  uint8

	// Temporal layers (temporal.go): the highest one forwarded now, since
	// when a higher one is wanted (+1; 0: not), and the picture id of the
	// last picture dropped (dropped: there was one).
	tCur       int8
	tUpSince   int64
	droppedPic uint16
	dropped    bool
	// pics are the source timestamps of the newest pictures forwarded
	// (a ring; npics counts them all), so that a late packet of a
	// forwarded picture is sent whatever its temporal layer.
	pics  [picHistory]uint32
	npics int

	resends [resendSlots]resend // see mayResend

	stats Stats
}

// New builds a Forwarder.
func New(cfg Config) (*Forwarder, error) {
	if cfg.Source == nil || cfg.Queue == nil {
		return nil, fmt.Errorf("%w: Source and Queue are required", ErrConfig)
	}
	if cfg.Layer >= cfg.Source.nlayers {
		return nil, fmt.Errorf("%w: %d of %d", ErrLayer, cfg.Layer, cfg.Source.nlayers)
	}
	f := &Forwarder{
		src:     cfg.Source,
		q:       cfg.Queue,
		ssrc:    cfg.SSRC,
		pt:      cfg.PayloadType,
		tag:     cfg.Tag,
		keepExt: cfg.KeepExtensions,
		cur:     -1,
		tCur:    simulcast.AllTemporal,
	}
	t := max(cfg.Layer, -1)
	f.target.Store(int32(t))
	f.current.Store(-1)
	f.temporal.Store(simulcast.AllTemporal)
	return f, nil
}

// SetTarget selects the layer to forward (-1 pauses). Layers above the
// Source's are clamped. The switch happens at the next keyframe of that
// layer; until then the current layer keeps flowing. It reports whether a
// keyframe is needed: the caller should then call
// Source.RequestKeyframe(layer, now).
func (f *Forwarder) SetTarget(layer int) (needKeyframe bool) {
	layer = min(max(layer, -1), f.src.nlayers-1)
	f.target.Store(int32(layer))
	return layer >= 0 && int32(layer) != f.current.Load() && f.src.kind.IsVideo()
}

// SetOutput sets the subscriber's side of every packet from now on: the
// SSRC and payload type (0 keeps the publisher's), the RTX stream that
// retransmissions go on (none when its SSRC is 0), and RED reduced to its
// primary encoding. The edge learns them when the subscriber's connection
// negotiates the track (pion's Bind).
func (f *Forwarder) SetOutput(o Output) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ssrc, f.pt = o.SSRC, o.PayloadType
	if o.RTXSSRC != f.rtxSSRC {
		f.rtxSeq = uint16(rand.Uint32()) // RFC 3550 §5.1: a random start
	}
	f.rtxSSRC, f.rtxPT = o.RTXSSRC, o.RTXPayloadType
	f.redToOpus = o.REDToOpus
	f.ext = extIDs{abs: o.AbsSendTimeID, tcc: o.TransportCCID}
}

// Target is the selected layer (-1: paused).
func (f *Forwarder) Target() int { return int(f.target.Load()) }

// Current is the layer being forwarded (-1: none).
func (f *Forwarder) Current() int { return int(f.current.Load()) }

// Forward rewrites and queues p if this subscriber should get it. It never
// allocates. See Result for what the caller must do afterwards.
func (f *Forwarder) Forward(p *Packet) Result {
	t := int8(f.target.Load())
	res := Result{KeyframeLayer: -1}
	if c := int8(f.current.Load()); p.Layer != t && p.Layer != c {
		// Fast path, no lock: a layer this subscriber neither gets nor
		// waits for (two of three simulcast layers). Not counted.
		if t >= 0 && t != c {
			res.KeyframeLayer = t
		}
		res.Verdict = Filtered
		return res
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switched := false
	if p.Layer != f.cur {
		if t < 0 || p.Layer != t {
			if t >= 0 && t != f.cur {
				res.KeyframeLayer = t
			}
			return f.filter(res)
		}
		if !p.Keyframe {
			res.KeyframeLayer = t
			return f.filter(res)
		}
		f.startSegment(p)
		switched = true
	} else if t < 0 {
		f.cur = -1 // pause now: the subscriber asked for nothing
		f.current.Store(-1)
		return f.filter(res)
	}
	if t != f.cur && t >= 0 {
		res.KeyframeLayer = t
	}
	d := int16(p.Header.Seq - f.lastSrcSeq)
	if !switched && (d > maxJump || d < -maxJump) {
		// The publisher restarted the stream (a new encoder, an ICE
		// restart): start a new segment at its next keyframe so the
		// subscriber sees neither a jump nor a stall.
		if !p.Keyframe {
			res.KeyframeLayer = p.Layer
			return f.filter(res)
		}
		f.startSegment(p)
		switched = true
		d = 1
	}
	seg := &f.segs[(f.nsegs-1)%segHistory]
	if p.Header.PayloadLen() == 0 && !switched {
		if d > 0 {
			f.skip(p, d, seg, 0)
		}
		return f.filter(res)
	}
	if p.HasVP8 && f.dropTemporal(p, d, seg, switched) {
		f.stats.TemporalDrops++
		if d < 0 {
			return f.fillHole(p, res)
		}
		res.Verdict = Filtered
		return res
	}
	var out uint64
	if d > 0 {
		out = f.lastOut + uint64(d)
	} else if d == 0 {
		return f.filter(res) // duplicate
	} else if out, seg = f.placeLate(p.Header.Seq); seg == nil {
		return f.filter(res) // belongs before this run of the layer
	} else if f.wasSent(out) {
		return f.filter(res) // a late duplicate (see CatchUp)
	}
	rw := rewrite{
		pkt:       p.Buf,
		h:         p.Header,
		seq:       uint16(out),
		ts:        p.Header.Timestamp + seg.tsOffset,
		ssrc:      f.ssrc,
		pt:        f.pt,
		stripExt:  !f.keepExt,
		redToOpus: f.redToOpus,
		ext:       f.ext,
	}
	if p.HasVP8 {
		f.mungeVP8(&rw, &p.VP8, seg)
	}
	if d > 0 {
		f.advance(out)
		f.notePicture(p.Header.Timestamp)
		f.lastSrcSeq = p.Header.Seq
		f.lastLayer = p.Layer
		f.lastSrcTS = p.Header.Timestamp
		f.lastOutTS = rw.ts
		f.lastArrival = p.Arrival
		if rw.vp8 {
			if rw.vd.HasPictureID {
				f.lastPic = rw.pic
			}
			if rw.vd.HasTL0PicIdx {
				f.lastTl0 = rw.tl0
			}
			if rw.vd.HasKeyIdx {
				f.lastKeyIdx = rw.keyIdx
			}
		}
	}
	res.Switched = switched
	n := f.q.push(f.tag, &rw)
	if n == 0 {
		f.stats.QueueDrops++
		res.Verdict = Dropped
		return res
	}
	f.sent |= 1 << (f.lastOut - out)
	f.stats.Packets++
	f.stats.Bytes += uint64(n)
	res.Verdict = Sent
	return res
}

func (f *Forwarder) filter(res Result) Result {
	f.stats.Filtered++
	res.Verdict = Filtered
	return res
}

// advance moves the newest outgoing sequence number to out, keeping the
// record of what was sent. Called with f.mu held.
func (f *Forwarder) advance(out uint64) {
	if shift := out - f.lastOut; shift < 64 {
		f.sent <<= shift
	} else {
		f.sent = 0
	}
	f.lastOut = out
}

// wasSent reports whether outgoing sequence number out was queued already
// (false beyond the 64 newest: those go again). Called with f.mu held.
func (f *Forwarder) wasSent(out uint64) bool {
	back := f.lastOut - out
	return back < 64 && f.sent&(1<<back) != 0
}

// placeLate finds where a late packet (older than the newest forwarded) of
// the current layer goes: the segment of the current run of the layer that
// holds its source sequence number, searched back across the segments that
// padding split off (a retransmission answering the edge's NACK comes after
// the probes that followed the loss). It returns a nil segment for a packet
// from before the run (before the keyframe the subscriber started at) or
// for the sequence number of a padding packet. Called with f.mu held.
func (f *Forwarder) placeLate(seq uint16) (uint64, *segment) {
	next := uint64(0) // outStart of the segment after s; 0 for the newest
	for i := 0; i < min(f.nsegs, segHistory); i++ {
		s := &f.segs[(f.nsegs-1-i)%segHistory]
		if s.layer != f.cur {
			return 0, nil
		}
		if int16(seq-s.srcStart) >= 0 {
			out := s.outStart + uint64(seq-s.srcStart)
			if next != 0 && out >= next {
				return 0, nil // the padding packet's own number
			}
			return out, s
		}
		if !s.cont {
			return 0, nil
		}
		next = s.outStart
	}
	return 0, nil
}

// skip takes a packet that is not forwarded out of the subscriber's
// sequence space (a padding-only packet, RFC 3550 §5.1, as in a bandwidth
// probe; a picture of a temporal layer the subscriber does not get), so
// it leaves no hole: the next packet continues at lastOut+1 in a new
// segment with the same offsets, its picture id offset raised by picStep
// (the pictures dropped). Source packets lost just before it keep their
// place (and stay NACKable). A run of skipped packets makes one segment.
func (f *Forwarder) skip(p *Packet, d int16, seg *segment, picStep uint16) {
	f.lastSrcSeq = p.Header.Seq
	if d == 1 && seg.outStart == f.lastOut+1 {
		seg.srcStart = p.Header.Seq + 1 // nothing forwarded in seg yet
		seg.picOffset += picStep
		return
	}
	f.advance(f.lastOut + uint64(d-1)) // the lost packets before it
	next := *seg
	next.srcStart = p.Header.Seq + 1
	next.outStart = f.lastOut + 1
	next.cont = true
	next.picOffset += picStep
	f.nsegs++
	f.segs[(f.nsegs-1)%segHistory] = next
}

// mungeVP8 fills rw's VP8 fields from the segment's offsets.
func (f *Forwarder) mungeVP8(rw *rewrite, d *codec.VP8Descriptor, seg *segment) {
	rw.vp8 = true
	rw.vd = *d
	rw.pic = (d.PictureID - seg.picOffset) & pictureIDMask(d.LongPictureID)
	rw.tl0 = d.TL0PicIdx - seg.tl0Offset
	rw.keyIdx = (d.KeyIdx - seg.keyIdxOffset) & 0x1f
}

// startSegment begins forwarding p's layer at p, a keyframe. The first
// segment passes sequence numbers, timestamps and VP8 fields through; later
// ones continue from the last forwarded packet so the subscriber sees no
// gap: the next sequence number, a timestamp advanced by the time between
// the two packets (from the publisher's sender reports when both layers
// have one, else from arrival times), the next picture ID and TL0PICIDX.
func (f *Forwarder) startSegment(p *Packet) {
	seg := segment{srcStart: p.Header.Seq, layer: p.Layer}
	if !f.started {
		f.started = true
		f.lastOut = extBase + uint64(p.Header.Seq) - 1
		f.sent = 0
		if p.HasVP8 {
			f.lastPic = p.VP8.PictureID - 1
			f.lastTl0 = p.VP8.TL0PicIdx - 1
			f.lastKeyIdx = p.VP8.KeyIdx - 1
		}
	} else {
		delta := f.timestampDelta(p)
		seg.tsOffset = f.lastOutTS + uint32(delta) - p.Header.Timestamp
		if p.HasVP8 {
			d := &p.VP8
			seg.picOffset = (d.PictureID - (f.lastPic + 1)) & pictureIDMask(d.LongPictureID)
			seg.tl0Offset = d.TL0PicIdx - (f.lastTl0 + 1)
			seg.keyIdxOffset = (d.KeyIdx - (f.lastKeyIdx + 1)) & 0x1f
		}
	}
	seg.outStart = f.lastOut + 1
	f.nsegs++
	f.segs[(f.nsegs-1)%segHistory] = seg
	f.lastSrcSeq = p.Header.Seq - 1
	f.cur = p.Layer
	f.current.Store(int32(p.Layer))
	f.dropped = false
	f.stats.Switches++
}

// maxElapsed bounds the arrival-time gap used for timestamps (an hour), so
// the tick arithmetic cannot overflow.
const maxElapsed = int64(3600e9)

// timestampDelta is how many RTP ticks the first packet of a new segment
// should follow the last forwarded one by. It maps both packets to the
// publisher's wall clock through the sender reports (RFC 3550 §6.4.1) of
// their layers; the same layer needs no report. Without reports, or when
// the mapping goes backwards or disagrees with the arrival times by more
// than a second (a stale report, a restarted encoder), it uses the time
// between arrivals.
// The result is at least 1, so timestamps always move forward.
func (f *Forwarder) timestampDelta(p *Packet) int64 {
	cr := int64(f.src.clockRate)
	el := min(max(p.Arrival-f.lastArrival, 0), maxElapsed)
	elapsed := (el*cr + 5e8) / 1e9
	d, ok := f.src.mapTimestamp(f.lastLayer, f.lastSrcTS, p.Layer, p.Header.Timestamp)
	if !ok || d < 1 || d-elapsed > cr || elapsed-d > cr {
		d = elapsed
	}
	return max(d, 1)
}

// Stats are a Forwarder's counters.
type Stats struct {
	Packets    uint64 // packets queued for the subscriber (retransmissions excluded)
	Bytes      uint64 // bytes of those packets
	Filtered   uint64 // packets of the current or target layer not sent (waiting for a keyframe, paused, late, duplicate)
	QueueDrops uint64 // packets dropped because the queue was full
	Switches   uint64 // segments started (start, layer switches, resumes)
	NACKs      uint64 // sequence numbers the subscriber asked for again
	NACKMisses uint64 // of those, not mappable or no longer cached
	Resent     uint64 // of those, queued again
	// ResendsHeld counts NACKed numbers not sent again because they had
	// been too often or too recently (see HandleNACK).
	ResendsHeld uint64
	// ResendsOverBudget counts NACKed packets not sent again because the
	// subscriber's retransmissions were over their share of its estimate
	// (resend.go).
	ResendsOverBudget uint64
	// TemporalDrops counts packets of temporal layers above the
	// subscriber's (SetTemporal), not sent; HolesFilled the empty packets
	// sent in their place where one was lost and came late.
	TemporalDrops uint64
	HolesFilled   uint64
	// Unrecoverable counts NACKed numbers the edge could not send again
	// because the packet is gone (see HandleNACK).
	Unrecoverable uint64
	Current       int // layer being forwarded, -1 none
	Target        int // layer selected, -1 paused
	// Temporal is the highest temporal layer being forwarded
	// (simulcast.AllTemporal: every one).
	Temporal int
}

// Stats returns the forwarder's counters.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	s := f.stats
	s.Temporal = int(f.tCur)
	f.mu.Unlock()
	s.Current = f.Current()
	s.Target = f.Target()
	return s
}
