package codec

import "errors"

// ErrVP9 is returned for a malformed VP9 payload descriptor.
var ErrVP9 = errors.New("codec: malformed VP9 payload descriptor")

// VP9Descriptor is a parsed VP9 payload descriptor (RFC 9628 §4.2).
type VP9Descriptor struct {
	HeaderLen int
	// I P L F B E V Z bits of the first octet.
	P, F, B, E, V, Z bool

	HasPictureID  bool
	LongPictureID bool
	PictureID     uint16
	PictureIDOff  int

	HasLayers    bool
	TID, SID     uint8
	U, D         bool
	HasTL0PicIdx bool // non-flexible mode only
	TL0PicIdx    uint8

	// Width and Height of the highest spatial layer, when the scalability
	// structure (V) carries resolutions.
	Width, Height uint16

	// Keyframe: the packet begins (B) a frame that uses no inter-picture
	// prediction (P=0) on the base spatial layer (SID=0, or no layer info).
	Keyframe bool
}

// ParseVP9 parses the VP9 payload descriptor (RFC 9628 §4.2):
//
//	      0 1 2 3 4 5 6 7
//	     +-+-+-+-+-+-+-+-+
//	     |I|P|L|F|B|E|V|Z| (REQUIRED)
//	     +-+-+-+-+-+-+-+-+
//	I:   |M| PICTURE ID  | (RECOMMENDED)
//	     +-+-+-+-+-+-+-+-+
//	M:   | EXTENDED PID  | (RECOMMENDED)
//	     +-+-+-+-+-+-+-+-+
//	L:   |  TID  |U| SID |D| (CONDITIONALLY RECOMMENDED)
//	     +-+-+-+-+-+-+-+-+
//	     |   TL0PICIDX   | (CONDITIONALLY REQUIRED: non-flexible mode)
//	     +-+-+-+-+-+-+-+-+
//	P,F: | P_DIFF      |N| (CONDITIONALLY REQUIRED, up to 3 times)
//	     +-+-+-+-+-+-+-+-+
//	V:   | SS            | (OPTIONAL, §4.2.1)
func ParseVP9(payload []byte) (VP9Descriptor, error) {
	var d VP9Descriptor
	if len(payload) < 1 {
		return d, ErrVP9
	}
	b := payload[0]
	i := b&0x80 != 0
	d.P = b&0x40 != 0
	l := b&0x20 != 0
	d.F = b&0x10 != 0
	d.B = b&0x08 != 0
	d.E = b&0x04 != 0
	d.V = b&0x02 != 0
	d.Z = b&0x01 != 0
	off := 1
	if i {
		if len(payload) < off+1 {
			return d, ErrVP9
		}
		d.HasPictureID = true
		d.PictureIDOff = off
		if payload[off]&0x80 != 0 {
			if len(payload) < off+2 {
				return d, ErrVP9
			}
			d.LongPictureID = true
			d.PictureID = uint16(payload[off]&0x7f)<<8 | uint16(payload[off+1])
			off += 2
		} else {
			d.PictureID = uint16(payload[off] & 0x7f)
			off++
		}
	}
	if l {
		if len(payload) < off+1 {
			return d, ErrVP9
		}
		d.HasLayers = true
		x := payload[off]
		d.TID = x >> 5
		d.U = x&0x10 != 0
		d.SID = (x >> 1) & 0x07
		d.D = x&0x01 != 0
		off++
		if !d.F {
			if len(payload) < off+1 {
				return d, ErrVP9
			}
			d.HasTL0PicIdx = true
			d.TL0PicIdx = payload[off]
			off++
		}
	}
	if d.F && d.P {
		// Up to 3 reference indices, N marks "another follows" (§4.2).
		for n := 0; ; n++ {
			if n == 3 || len(payload) < off+1 {
				return d, ErrVP9
			}
			more := payload[off]&0x01 != 0
			off++
			if !more {
				break
			}
		}
	}
	if d.V {
		var err error
		if off, err = d.parseSS(payload, off); err != nil {
			return d, err
		}
	}
	d.HeaderLen = off
	d.Keyframe = !d.P && d.B && (!d.HasLayers || d.SID == 0)
	return d, nil
}

// parseSS parses the scalability structure (RFC 9628 §4.2.1):
//
//	V:   | N_S |Y|G|-|-|-|
//	Y:   |     WIDTH     | (OPTIONAL, 16 bits, N_S+1 times)
//	     |     HEIGHT    | (OPTIONAL, 16 bits)
//	G:   |      N_G      | (OPTIONAL)
//	N_G: |  TID  |U| R |-|-| (OPTIONAL, then R octets of P_DIFF)
func (d *VP9Descriptor) parseSS(p []byte, off int) (int, error) {
	if len(p) < off+1 {
		return off, ErrVP9
	}
	ns := int(p[off]>>5) + 1
	y := p[off]&0x10 != 0
	g := p[off]&0x08 != 0
	off++
	if y {
		if len(p) < off+4*ns {
			return off, ErrVP9
		}
		for s := 0; s < ns; s++ {
			d.Width = uint16(p[off])<<8 | uint16(p[off+1])
			d.Height = uint16(p[off+2])<<8 | uint16(p[off+3])
			off += 4
		}
	}
	if g {
		if len(p) < off+1 {
			return off, ErrVP9
		}
		ng := int(p[off])
		off++
		for k := 0; k < ng; k++ {
			if len(p) < off+1 {
				return off, ErrVP9
			}
			r := int(p[off]>>2) & 0x03
			off += 1 + r
			if len(p) < off {
				return off, ErrVP9
			}
		}
	}
	return off, nil
}
