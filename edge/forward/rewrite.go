package forward

import (
	"encoding/binary"

	"github.com/spacecast/spacecast/edge/codec"
)

// rewrite describes one outgoing packet: the source packet and the header
// fields to write. apply copies it into a queue slot and patches it there,
// so a packet is copied exactly once between publisher and subscriber, and
// every change to a packet on its way to a subscriber is made here.
type rewrite struct {
	pkt      []byte
	h        codec.Header
	seq      uint16
	ts       uint32
	ssrc     uint32
	pt       uint8 // 0: keep
	stripExt bool
	resend   bool // a retransmission (Item.Resend)
	// rtx: send it on the RTX stream (RFC 4588 §4): the media sequence
	// number osn goes in front of the payload, and seq, ssrc and pt are
	// the RTX stream's.
	rtx bool
	osn uint16
	// redToOpus: keep only RED's primary encoding (RFC 2198), for a
	// subscriber that negotiated plain Opus.
	redToOpus bool
	// ext: the header extensions the edge writes itself (ext.go), in
	// place of the publisher's (with stripExt).
	ext extIDs

	vp8    bool // patch the VP8 descriptor
	vd     codec.VP8Descriptor
	pic    uint16
	tl0    uint8
	keyIdx uint8
}

// apply writes the rewritten packet into dst and returns its length, or 0 if
// it does not fit (or, for redToOpus, the RED payload is malformed).
//
// With stripExt the RTP header extension (RFC 3550 §5.3.1) is removed: the
// publisher's extension IDs need not match the subscriber's negotiation, and
// the subscriber's own interceptors (TWCC, abs-send-time) add theirs.
// Padding (RFC 3550 §5.1, P bit) is always removed: it served the
// publisher's link, and a P bit reaching pion's writer with a stale
// Header.PaddingSize makes it index past its buffer.
func (rw *rewrite) apply(dst []byte) int {
	pkt := rw.pkt
	hl := 12 + 4*int(pkt[0]&0x0f)
	payload := pkt[rw.h.PayloadOffset:rw.h.PayloadEnd]
	if rw.redToOpus {
		var err error
		if payload, err = codec.REDPrimary(payload); err != nil {
			return 0
		}
	}
	head := pkt[:rw.h.PayloadOffset]
	own := 0 // the edge's own extension block
	if rw.stripExt {
		head = pkt[:hl]
		own = rw.ext.size()
	}
	po := len(head) + own
	if rw.rtx {
		po += 2 // the OSN
	}
	n := po + len(payload)
	if n > len(dst) {
		return 0
	}
	copy(dst, head)
	copy(dst[po:], payload)
	dst[0] &^= 0x20 // no padding
	if rw.stripExt {
		dst[0] &^= 0x10
		if own > 0 {
			dst[0] |= 0x10
			rw.ext.write(dst[len(head):])
		}
	}
	if rw.pt != 0 {
		dst[1] = dst[1]&0x80 | rw.pt&0x7f
	}
	binary.BigEndian.PutUint16(dst[codec.SeqOffset:], rw.seq)
	binary.BigEndian.PutUint32(dst[codec.TimestampOffset:], rw.ts)
	binary.BigEndian.PutUint32(dst[codec.SSRCOffset:], rw.ssrc)
	if rw.rtx {
		binary.BigEndian.PutUint16(dst[len(head)+own:], rw.osn)
	}
	if rw.vp8 {
		// RFC 7741 §4.2: rewrite in place, keeping the field sizes (the M
		// bit), so the descriptor length never changes.
		d := &rw.vd
		if d.HasPictureID {
			o := po + d.PictureIDOff
			if d.LongPictureID {
				dst[o] = 0x80 | byte(rw.pic>>8)&0x7f
				dst[o+1] = byte(rw.pic)
			} else {
				dst[o] = byte(rw.pic) & 0x7f
			}
		}
		if d.HasTL0PicIdx {
			dst[po+d.TL0PicIdxOff] = rw.tl0
		}
		if d.HasKeyIdx {
			o := po + d.TKOff
			dst[o] = dst[o]&0xe0 | rw.keyIdx&0x1f
		}
	}
	return n
}

// pictureIDMask is the modulus of a VP8 picture ID of the given size.
func pictureIDMask(long bool) uint16 {
	if long {
		return 0x7fff
	}
	return 0x7f
}
