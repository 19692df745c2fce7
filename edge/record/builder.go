package record

import (
	"slices"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/spacecast/spacecast/edge/codec"
)

// How long pion's samplebuilder waits for a missing packet (a NACK's
// repair, a reordered packet), in packets and in media time.
const (
	videoMaxLate = 300
	audioMaxLate = 40
	maxDelay     = time.Second
)

// heldSpan is the sequence-number window of the packets a builder
// remembers handing to its samplebuilder (larger than maxLate).
const heldSpan = 1024

// builder turns one stream (a layer's SSRC) into frames with pion's
// samplebuilder. The samplebuilder keeps the pooled packets it is given
// until it releases them back to their Track.
type builder struct {
	layer int
	ssrc  uint32
	src   *Track // whose pool the packets are from
	sb    *samplebuilder.SampleBuilder
	// pushed counts the packets given to sb; newest is the highest
	// (renumbered) sequence number among them, newestTS its timestamp.
	pushed   int
	newest   uint16
	newestTS uint32
	finished bool
	term     rtp.Packet // finish's terminator
	// held is what the samplebuilder holds by sequence number, so that a
	// duplicate is refused (the samplebuilder would drop the first copy
	// without releasing it).
	held [heldSpan]struct {
		seq uint16
		ev  *event
	}
	// Padding-only packets (probes) never reach the samplebuilder: it
	// would take one for the head of the frame after it and drop that
	// frame. pads are the recent ones' sequence numbers and shift counts
	// older ones; media packets are renumbered without them.
	pads   []uint16
	shift  uint16
	top    uint16 // the highest sequence number seen
	hasTop bool
	// floor is the newest sequence number the samplebuilder let go of
	// (it releases in order): a packet at or before it comes too late.
	floor    uint16
	hasFloor bool
	late     uint64
	since    int64  // arrival of the first packet
	lastTS   uint32 // of the last frame popped
	// arrivals remembers when the first packet of each recent timestamp
	// arrived, to time a frame by arrival.
	arrivals [64]struct {
		ts uint32
		at int64
	}
	nArr   int
	frames int
}

func newBuilder(k codec.Kind, clockRate uint32, layer int, ssrc uint32, src *Track, now int64) *builder {
	b := &builder{layer: layer, ssrc: ssrc, src: src, since: now}
	late := uint16(audioMaxLate)
	if k.IsVideo() {
		late = videoMaxLate
	}
	b.sb = samplebuilder.New(late, newDepacketizer(k), clockRate,
		samplebuilder.WithMaxTimeDelay(maxDelay),
		samplebuilder.WithPacketReleaseHandler(b.released))
	return b
}

// maxPads bounds the padding sequence numbers remembered.
const maxPads = 256

// push hands ev (a parsed packet of this stream) to the samplebuilder, or
// releases it at once if it is padding, a duplicate of one still held, or
// too late.
func (b *builder) push(ev *event) {
	seq := ev.pkt.SequenceNumber
	if !b.hasTop || int16(seq-b.top) > 0 {
		b.top, b.hasTop = seq, true
		b.prunePads(heldSpan)
	}
	if len(ev.pkt.Payload) == 0 {
		if !slices.Contains(b.pads, seq) {
			b.pads = append(b.pads, seq)
			b.prunePads(heldSpan)
		}
		b.src.release(ev)
		return
	}
	seq -= b.shift
	for _, p := range b.pads {
		if int16(ev.pkt.SequenceNumber-p) > 0 {
			seq--
		}
	}
	ev.pkt.SequenceNumber = seq
	if last := &b.arrivals[(b.nArr+len(b.arrivals)-1)%len(b.arrivals)]; b.nArr == 0 || last.ts != ev.pkt.Timestamp {
		a := &b.arrivals[b.nArr%len(b.arrivals)]
		a.ts, a.at = ev.pkt.Timestamp, ev.arrival
		b.nArr++
	}
	h := &b.held[seq%heldSpan]
	if (h.ev != nil && h.seq == seq) || (b.hasFloor && int16(seq-b.floor) <= 0) {
		b.late++
		b.src.release(ev)
		return
	}
	h.seq, h.ev = seq, ev
	if b.pushed == 0 || int16(seq-b.newest) > 0 {
		b.newest, b.newestTS = seq, ev.pkt.Timestamp
	}
	b.pushed++
	b.sb.Push(&ev.pkt)
}

// prunePads forgets padding more than span behind the highest sequence
// number, and the oldest beyond maxPads: it lies before every packet
// still to come.
func (b *builder) prunePads(span int16) {
	keep := b.pads[:0]
	for _, p := range b.pads {
		if int16(b.top-p) > span {
			b.shift++
			continue
		}
		keep = append(keep, p)
	}
	if n := len(keep) - maxPads; n > 0 {
		b.shift += uint16(n)
		keep = keep[:copy(keep, keep[n:])]
	}
	b.pads = keep
}

func (b *builder) released(p *rtp.Packet) {
	h := &b.held[p.SequenceNumber%heldSpan]
	if h.ev != nil && &h.ev.pkt == p {
		h.ev = nil
	}
	b.floor, b.hasFloor = p.SequenceNumber, true
	b.src.releasePacket(p)
}

// pop returns the next complete frame, or nil, and how many packets were
// lost before it.
func (b *builder) pop() (*media.Sample, int) {
	for {
		s := b.sb.Pop()
		if s == nil {
			return nil, 0
		}
		if b.frames > 0 && s.PacketTimestamp == b.lastTS {
			// The rest of the frame just given, built again from packets
			// the samplebuilder has not released yet (single-NAL H.264
			// packets after the first).
			continue
		}
		b.frames++
		b.lastTS = s.PacketTimestamp
		return s, int(s.PrevDroppedPackets)
	}
}

// arrival is when the first packet of timestamp ts arrived (or, if that
// is forgotten, fallback).
func (b *builder) arrival(ts uint32, fallback int64) int64 {
	for i := range min(b.nArr, len(b.arrivals)) {
		if a := &b.arrivals[i]; a.ts == ts {
			return a.at
		}
	}
	return fallback
}

// finish makes the samplebuilder give out the last complete frame it
// holds (it waits for the packet after a frame to know the frame is
// whole) by pushing a terminator after the newest packet: an empty
// payload with another timestamp, which is no frame's head. A frame
// still waiting for a lost packet stays held. pion's Flush is not used:
// it can take seconds, and a samplebuilder is not usable after it.
func (b *builder) finish() {
	if b.pushed == 0 || b.finished {
		return
	}
	b.finished = true
	b.term = rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: b.newest + 1, Timestamp: b.newestTS + 1, SSRC: b.ssrc}}
	b.sb.Push(&b.term)
}

// close gives every packet the samplebuilder still holds back to its
// pool; the builder is not used again.
func (b *builder) close() {
	for i := range b.held {
		if ev := b.held[i].ev; ev != nil {
			b.held[i].ev = nil
			b.src.release(ev)
		}
	}
}
