package forward

import (
	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// VP8 temporal layers (RFC 7741 §4.2: TID and Y of the payload
// descriptor). Chromium's VP8 simulcast sends each layer in three
// temporal layers: TID 0 at a quarter of the frame rate, TID 1 adding a
// quarter, TID 2 the other half; a picture references only pictures of
// its own temporal layer or below, so a subscriber short of bandwidth can
// be given a lower frame rate of the same resolution by dropping the
// pictures of the higher temporal layers. Dropped packets leave the
// subscriber's sequence space (as padding does) and dropped pictures its
// picture ids, so it sees neither a hole to NACK nor a missing picture.
//
// A descriptor without TID (Chromium leaves out the extended fields when
// the dependency descriptor extension is negotiated) still has the N bit:
// a non-reference picture, which no other picture refers to. Those make a
// second temporal layer (1; the others 0) that can be dropped and taken
// back at any picture: half the frame rate of Chromium's three temporal
// layers.

// temporalID is a VP8 packet's temporal layer and whether a subscriber
// going up may take that layer from this picture on: the descriptor's TID
// and Y (layer sync) bit, or without TID 1 for a non-reference picture
// (always safe to take) and 0 for the others.
func temporalID(d *codec.VP8Descriptor) (tid int8, sync bool) {
	if d.HasTID {
		return int8(d.TID), d.Y
	}
	if d.N {
		return 1, true
	}
	return 0, true
}

// temporalSyncWait is how long a forwarder waiting to go up a temporal
// layer waits for a picture marked as a switching point (the Y bit: it
// depends on the base layer only) before it takes any picture of the
// higher layer (as livekit-server always does).
const temporalSyncWait = int64(500e6)

// SetTemporal sets the highest VP8 temporal layer to forward
// (simulcast.AllTemporal: every one). Going down happens at the next
// picture; going up at the next picture of a higher layer that is a
// switching point (or a keyframe, or after temporalSyncWait, any). A
// stream without temporal layers is not affected.
func (f *Forwarder) SetTemporal(t int) {
	f.temporal.Store(int32(min(max(t, 0), simulcast.AllTemporal)))
}

// Temporal is the highest temporal layer selected.
func (f *Forwarder) Temporal() int { return int(f.temporal.Load()) }

// dropTemporal moves the forwarded temporal layer towards the selected
// one at the start of a picture, and reports whether p belongs to a
// temporal layer above it; if so, and p is in order (d > 0, its distance
// from the newest source packet), it takes p out of the subscriber's
// sequence space and its picture out of the picture ids. switched: p
// started a segment (a keyframe). Called with f.mu held.
func (f *Forwarder) dropTemporal(p *Packet, d int16, seg *segment, switched bool) bool {
	v := &p.VP8
	tid, sync := temporalID(v)
	want := int8(f.temporal.Load())
	switch {
	case switched || d > 0 && p.Keyframe:
		// Everything after a keyframe decodes.
		f.tCur, f.tUpSince = want, 0
	case d > 0 && v.S && v.PID == 0 && want < f.tCur:
		f.tCur, f.tUpSince = want, 0
	case d > 0 && v.S && v.PID == 0 && want > f.tCur:
		if f.tUpSince == 0 {
			f.tUpSince = p.Arrival + 1
		}
		if tid > f.tCur && tid <= want && (sync || p.Arrival+1-f.tUpSince >= temporalSyncWait) {
			f.tCur = tid
			if tid == want {
				f.tUpSince = 0
			}
		}
	}
	if tid <= f.tCur {
		return false
	}
	if d > 0 {
		var step uint16
		if v.HasPictureID && (!f.dropped || v.PictureID != f.droppedPic) {
			step = 1 // the first packet of a dropped picture
		}
		if v.HasPictureID {
			f.dropped, f.droppedPic = true, v.PictureID
		}
		f.skip(p, d, seg, step)
	}
	return true
}
