package codec

import "errors"

// ErrVP8 is returned for a malformed VP8 payload descriptor.
var ErrVP8 = errors.New("codec: malformed VP8 payload descriptor")

// VP8Descriptor is a parsed VP8 payload descriptor (RFC 7741 §4.2). The *Off fields are
// byte offsets inside the RTP payload, so a forwarder can rewrite the picture
// ID, TL0PICIDX and KEYIDX in place without changing the descriptor's length.
type VP8Descriptor struct {
	// HeaderLen is the descriptor length; the VP8 payload starts there.
	HeaderLen int
	// S is the start of a VP8 partition; PID is the partition index.
	S   bool
	PID uint8
	// N marks a non-reference frame.
	N bool

	HasPictureID  bool
	LongPictureID bool // M bit: 15-bit picture ID (else 7-bit)
	PictureID     uint16
	PictureIDOff  int

	HasTL0PicIdx bool
	TL0PicIdx    uint8
	TL0PicIdxOff int

	HasTID    bool
	TID       uint8
	Y         bool
	HasKeyIdx bool
	KeyIdx    uint8
	TKOff     int // offset of the TID|Y|KEYIDX octet

	// Keyframe: this packet starts partition 0 (S=1, PID=0) and the VP8
	// payload header's P bit (inverse key frame flag, RFC 7741 §4.3) is 0.
	Keyframe bool
}

// ParseVP8 parses the VP8 payload descriptor at the start of payload
// (RFC 7741 §4.2):
//
//	      0 1 2 3 4 5 6 7
//	     +-+-+-+-+-+-+-+-+
//	     |X|R|N|S|R| PID | (REQUIRED)
//	     +-+-+-+-+-+-+-+-+
//	X:   |I|L|T|K| RSV   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	I:   |M| PictureID   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	     |   PictureID   | (present if M)
//	     +-+-+-+-+-+-+-+-+
//	L:   |   TL0PICIDX   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	T/K: |TID|Y| KEYIDX  | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
func ParseVP8(payload []byte) (VP8Descriptor, error) {
	var d VP8Descriptor
	if len(payload) < 1 {
		return d, ErrVP8
	}
	b := payload[0]
	d.N = b&0x20 != 0
	d.S = b&0x10 != 0
	d.PID = b & 0x07
	off := 1
	if b&0x80 != 0 {
		if len(payload) < 2 {
			return d, ErrVP8
		}
		x := payload[1]
		off = 2
		if x&0x80 != 0 { // I
			if len(payload) < off+1 {
				return d, ErrVP8
			}
			d.HasPictureID = true
			d.PictureIDOff = off
			if payload[off]&0x80 != 0 { // M: 15-bit picture ID
				if len(payload) < off+2 {
					return d, ErrVP8
				}
				d.LongPictureID = true
				d.PictureID = uint16(payload[off]&0x7f)<<8 | uint16(payload[off+1])
				off += 2
			} else {
				d.PictureID = uint16(payload[off] & 0x7f)
				off++
			}
		}
		if x&0x40 != 0 { // L
			if len(payload) < off+1 {
				return d, ErrVP8
			}
			d.HasTL0PicIdx = true
			d.TL0PicIdxOff = off
			d.TL0PicIdx = payload[off]
			off++
		}
		if x&0x30 != 0 { // T or K
			if len(payload) < off+1 {
				return d, ErrVP8
			}
			d.TKOff = off
			tk := payload[off]
			if x&0x20 != 0 {
				d.HasTID = true
				d.TID = tk >> 6
				d.Y = tk&0x20 != 0
			}
			if x&0x10 != 0 {
				d.HasKeyIdx = true
				d.KeyIdx = tk & 0x1f
			}
			off++
		}
	}
	d.HeaderLen = off
	// RFC 7741 §4.3: the VP8 payload header is only present at the start of
	// partition 0; its lowest bit P is the inverse key frame flag.
	if d.S && d.PID == 0 && len(payload) > off {
		d.Keyframe = payload[off]&0x01 == 0
	}
	return d, nil
}
