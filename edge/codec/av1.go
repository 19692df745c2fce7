package codec

// obuSequenceHeader is OBU_SEQUENCE_HEADER (AV1 bitstream spec §6.2.2).
const obuSequenceHeader = 1

// AV1Keyframe reports whether an AV1 RTP payload starts a keyframe. Per the
// AOM "RTP Payload Format for AV1" §4.4 the aggregation header is
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|Z|Y| W |N|-|-|-|
//	+-+-+-+-+-+-+-+-+
//
// where N=1 marks the first packet of a coded video sequence (which starts
// with a key frame). Senders that do not set N are still recognised when the
// packet does not continue an OBU (Z=0) and its first OBU element is a
// sequence header, which encoders emit in front of every key frame.
func AV1Keyframe(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	agg := p[0]
	if agg&0x80 != 0 { // Z: first element continues an OBU fragment
		return false
	}
	if agg&0x08 != 0 { // N
		return true
	}
	w := (agg >> 4) & 0x03
	off := 1
	if w != 1 {
		// Every element but the last of W carries a LEB128 length (§4.4).
		n, size, ok := leb128(p[off:])
		if !ok || size == 0 || off+n+int(size) > len(p) {
			return false
		}
		off += n
	}
	// OBU header (AV1 spec §5.3.2): |F| type(4) |X|S|R|
	return (p[off]>>3)&0x0f == obuSequenceHeader
}

// leb128 decodes an unsigned LEB128 value (AV1 spec §4.10.5), at most 8 bytes.
func leb128(p []byte) (n int, v uint64, ok bool) {
	for i := 0; i < 8 && i < len(p); i++ {
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			return i + 1, v, true
		}
	}
	return 0, 0, false
}
