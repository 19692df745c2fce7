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
	if tid <= f.tCur || d <= 0 && f.pictureSent(p.Header.Timestamp) {
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

// picHistory is how many forwarded pictures a forwarder remembers (a
// second at 30 fps).
const picHistory = 32

// notePicture records that a packet of the picture with source timestamp
// ts was forwarded. Called with f.mu held.
func (f *Forwarder) notePicture(ts uint32) {
	if f.npics > 0 && f.pics[(f.npics-1)%picHistory] == ts {
		return
	}
	f.pics[f.npics%picHistory] = ts
	f.npics++
}

// pictureSent reports whether a packet of the picture with source
// timestamp ts was forwarded lately: its other packets go too, whatever
// the temporal layer forwarded now. Called with f.mu held.
func (f *Forwarder) pictureSent(ts uint32) bool {
	for i := range min(f.npics, picHistory) {
		if f.pics[i] == ts {
			return true
		}
	}
	return false
}

// fillHole handles a late packet of a temporal layer the subscriber does
// not get, from a picture it did not get either (the repair of a packet
// lost just before a dropped one, whose place the forwarder kept): if its
// number is a hole in what the subscriber received, an empty packet goes
// there instead. A receiver without picture ids (libwebrtc's
// sequence-number reference finder) can decode nothing past a hole until a
// keyframe, and takes an empty packet as padding. Called with f.mu held.
func (f *Forwarder) fillHole(p *Packet, res Result) Result {
	out, seg := f.placeLate(p.Header.Seq)
	if seg == nil || f.wasSent(out) {
		res.Verdict = Filtered
		return res
	}
	rw := f.emptyAt(p.Buf, p.Header, uint16(out), seg)
	if f.q.push(f.tag, &rw) == 0 {
		f.stats.QueueDrops++
		res.Verdict = Dropped
		return res
	}
	f.sent |= 1 << (f.lastOut - out)
	f.stats.HolesFilled++
	res.Verdict = Sent
	return res
}

// emptyAt is the rewrite of an empty packet (header only) at outgoing
// sequence number out of segment seg, made from pkt and its header h.
func (f *Forwarder) emptyAt(pkt []byte, h codec.Header, out uint16, seg *segment) rewrite {
	h.PayloadEnd = h.PayloadOffset
	return rewrite{pkt: pkt, h: h, seq: out, ts: h.Timestamp + seg.tsOffset, ssrc: f.ssrc, pt: f.pt,
		stripExt: !f.keepExt, ext: f.ext}
}

// droppedLayer reports whether the VP8 payload belongs to a temporal
// layer above the one forwarded now. Called with f.mu held.
func (f *Forwarder) droppedLayer(payload []byte) bool {
	d, err := codec.ParseVP8(payload)
	if err != nil {
		return false
	}
	tid, _ := temporalID(&d)
	return tid > f.tCur
}
