package codec

// H.264 NAL unit types (ITU-T H.264 Table 7-1) and RTP packet types
// (RFC 6184 §5.2, Table 1).
const (
	h264IDR   = 5
	h264SPS   = 7
	h264STAPA = 24
	h264STAPB = 25
	h264FUA   = 28
	h264FUB   = 29
)

func h264KeyNAL(t byte) bool { return t == h264IDR || t == h264SPS }

// H264Keyframe reports whether an H.264 RTP payload (RFC 6184) starts a
// keyframe: it carries a sequence parameter set or the start of an IDR slice.
// It understands single NAL unit packets (§5.6), STAP-A and STAP-B
// aggregation packets (§5.7.1) and the first fragment of FU-A/FU-B (§5.8).
// MTAPs (interleaved mode only, which WebRTC does not use) report false.
func H264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	// NAL unit header (§5.3): |F|NRI|  Type   |
	t := p[0] & 0x1f
	switch {
	case t >= 1 && t <= 23:
		return h264KeyNAL(t)
	case t == h264STAPA || t == h264STAPB:
		off := 1
		if t == h264STAPB {
			off += 2 // decoding order number
		}
		// Each aggregation unit: 16-bit NALU size, then the NAL unit.
		for off+2 < len(p) {
			size := int(p[off])<<8 | int(p[off+1])
			off += 2
			if size == 0 || off+size > len(p) {
				return false
			}
			if h264KeyNAL(p[off] & 0x1f) {
				return true
			}
			off += size
		}
		return false
	case t == h264FUA || t == h264FUB:
		// FU indicator, then FU header: |S|E|R|  Type   |
		if len(p) < 2 {
			return false
		}
		return p[1]&0x80 != 0 && h264KeyNAL(p[1]&0x1f)
	}
	return false
}
