package codec

import "testing"

// The parsers read untrusted publisher input: they must never panic and
// every offset they report must lie inside the input.

func FuzzParseRTP(f *testing.F) {
	f.Add(rtpPacket(65535, 1234, 0xdeadbeef, true, 0, nil, []byte{1, 2, 3}, 0))
	f.Add(rtpPacket(1, 2, 3, false, 2, []byte{0x10, 0xaa, 0, 0}, vp8Key, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseRTP(b)
		if err != nil {
			return
		}
		if h.PayloadOffset < 12 || h.PayloadOffset > h.PayloadEnd || h.PayloadEnd > len(b) {
			t.Fatalf("payload [%d:%d] of %d bytes", h.PayloadOffset, h.PayloadEnd, len(b))
		}
	})
}

func FuzzParseVP8(f *testing.F) {
	for _, s := range [][]byte{vp8Key, vp8Inter, vp8Cont, vp8Minimal, vp8Short7, vp8OnlyTK, vp8TooShort} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseVP8(b)
		if err != nil {
			return
		}
		if d.HeaderLen < 1 || d.HeaderLen > len(b) {
			t.Fatalf("header length %d of %d", d.HeaderLen, len(b))
		}
		if d.HasPictureID {
			end := d.PictureIDOff + 1
			if d.LongPictureID {
				end++
			}
			if end > d.HeaderLen {
				t.Fatalf("picture ID beyond descriptor")
			}
		}
		if d.HasTL0PicIdx && d.TL0PicIdxOff >= d.HeaderLen || (d.HasTID || d.HasKeyIdx) && d.TKOff >= d.HeaderLen {
			t.Fatalf("field beyond descriptor: %+v", d)
		}
		if d.Keyframe && (!d.S || d.PID != 0 || d.HeaderLen >= len(b)) {
			t.Fatalf("keyframe without partition start: %+v", d)
		}
	})
}

func FuzzParseVP9(f *testing.F) {
	for _, s := range [][]byte{vp9KeySS, vp9Inter, vp9FlexInter, vp9KeyUpper, vp9NoLayers, vp9FlexTooMny} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseVP9(b)
		if err != nil {
			return
		}
		if d.HeaderLen < 1 || d.HeaderLen > len(b) {
			t.Fatalf("header length %d of %d", d.HeaderLen, len(b))
		}
		if d.Keyframe && (d.P || !d.B) {
			t.Fatalf("keyframe flags inconsistent: %+v", d)
		}
	})
}

func FuzzH264Keyframe(f *testing.F) {
	for _, s := range [][]byte{sampleSPS, h264PPS, sampleIDR, h264P, h264STAP, h264STAPNonKey, h264STAPBad, sampleSTAPB, h264FUStartIDR, h264FUMidIDR} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = H264Keyframe(b)
	})
}

func FuzzAV1Keyframe(f *testing.F) {
	for _, s := range [][]byte{av1NewSequence, av1SeqHdrW1, av1SeqHdrW0, av1Frame, av1Continued, av1BadLEB, av1LenTooLong} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if AV1Keyframe(b) && (len(b) < 2 || b[0]&0x80 != 0) {
			t.Fatalf("keyframe from a continuation or short packet")
		}
	})
}
