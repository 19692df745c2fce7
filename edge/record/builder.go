package record

import (
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
	// held is what the samplebuilder holds by sequence number, so that a
	// duplicate is refused (the samplebuilder would drop the first copy
	// without releasing it).
	held [heldSpan]struct {
		seq uint16
		ev  *event
	}
	// padding counts padding-only packets pushed whose drop the
	// samplebuilder has not yet reported: its PrevDroppedPackets counts
	// them along with the packets truly lost.
	padding int
	// floor is the newest sequence number the samplebuilder let go of
	// (it releases in order): a packet at or before it comes too late.
	floor    uint16
	hasFloor bool
	late     uint64
	since    int64 // arrival of the first packet
	frames   int
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

// push hands ev (a parsed packet of this stream) to the samplebuilder, or
// releases it at once if it is a duplicate of one still held.
func (b *builder) push(ev *event) {
	seq := ev.pkt.SequenceNumber
	h := &b.held[seq%heldSpan]
	if (h.ev != nil && h.seq == seq) || (b.hasFloor && int16(seq-b.floor) <= 0) {
		b.late++
		b.src.release(ev)
		return
	}
	h.seq, h.ev = seq, ev
	if len(ev.pkt.Payload) == 0 {
		b.padding++
	}
	b.sb.Push(&ev.pkt)
}

func (b *builder) released(p *rtp.Packet) {
	h := &b.held[p.SequenceNumber%heldSpan]
	if h.ev != nil && &h.ev.pkt == p {
		h.ev = nil
	}
	b.floor, b.hasFloor = p.SequenceNumber, true
	b.src.releasePacket(p)
}

// pop returns the next complete frame, or nil, and how many media
// packets were lost before it (padding not counted).
func (b *builder) pop() (*media.Sample, int) {
	s := b.sb.Pop()
	if s == nil {
		return nil, 0
	}
	b.frames++
	lost := int(s.PrevDroppedPackets)
	pad := min(lost, b.padding)
	b.padding -= pad
	return s, lost - pad
}

// flush makes the samplebuilder give up waiting: every complete frame it
// holds becomes ready to pop, and every packet goes back to its pool.
func (b *builder) flush() { b.sb.Flush() }
