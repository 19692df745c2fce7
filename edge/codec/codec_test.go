package codec

import (
	"encoding/binary"
	"errors"
	"testing"
)

// rtpPacket builds an RTP packet (RFC 3550 §5.1) around payload.
func rtpPacket(seq uint16, ts, ssrc uint32, marker bool, csrc int, ext []byte, payload []byte, pad int) []byte {
	b := make([]byte, 12)
	b[0] = 0x80 | byte(csrc)
	b[1] = 96
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	for i := 0; i < csrc; i++ {
		b = append(b, 0, 0, 0, byte(i+1))
	}
	if ext != nil {
		b[0] |= 0x10
		// RFC 8285 one-byte header profile 0xBEDE, length in words.
		b = append(b, 0xbe, 0xde, byte(len(ext)/4>>8), byte(len(ext)/4))
		b = append(b, ext...)
	}
	b = append(b, payload...)
	if pad > 0 {
		b[0] |= 0x20
		for i := 0; i < pad-1; i++ {
			b = append(b, 0)
		}
		b = append(b, byte(pad))
	}
	return b
}

func TestParseRTP(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	tests := []struct {
		name    string
		pkt     []byte
		wantErr error
		off     int
		end     int
	}{
		{"plain", rtpPacket(65535, 1234, 0xdeadbeef, true, 0, nil, payload, 0), nil, 12, 17},
		{"csrc", rtpPacket(1, 2, 3, false, 2, nil, payload, 0), nil, 20, 25},
		{"extension", rtpPacket(1, 2, 3, false, 0, []byte{0x10, 0xaa, 0, 0}, payload, 0), nil, 20, 25},
		{"padding", rtpPacket(1, 2, 3, false, 0, nil, payload, 4), nil, 12, 17},
		{"padding only", rtpPacket(1, 2, 3, false, 0, nil, nil, 8), nil, 12, 12},
		{"short", []byte{0x80, 96, 0, 1}, ErrShort, 0, 0},
		{"version 1", append([]byte{0x40}, make([]byte, 15)...), ErrVersion, 0, 0},
		{"csrc beyond end", []byte{0x8f, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0}, ErrShort, 0, 0},
		{"extension beyond end", []byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 9}, ErrShort, 0, 0},
		{"padding too long", []byte{0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 200}, ErrPadding, 0, 0},
		{"padding zero", []byte{0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 0}, ErrPadding, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseRTP(tt.pkt)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if h.PayloadOffset != tt.off || h.PayloadEnd != tt.end {
				t.Fatalf("payload [%d:%d], want [%d:%d]", h.PayloadOffset, h.PayloadEnd, tt.off, tt.end)
			}
		})
	}
	h, _ := ParseRTP(rtpPacket(65535, 1234, 0xdeadbeef, true, 0, nil, payload, 0))
	if h.Seq != 65535 || h.Timestamp != 1234 || h.SSRC != 0xdeadbeef || !h.Marker || h.PayloadType != 96 {
		t.Fatalf("header fields %+v", h)
	}
}

func TestKindFromMime(t *testing.T) {
	tests := []struct {
		mime string
		want Kind
	}{
		{"video/VP8", VP8}, {"video/vp9", VP9}, {"video/H264", H264}, {"video/AV1", AV1},
		{"audio/opus", Opus}, {"audio/red", RED}, {"video/rtx", Unknown}, {"VP8", VP8},
	}
	for _, tt := range tests {
		t.Run(tt.mime, func(t *testing.T) {
			if got := KindFromMime(tt.mime); got != tt.want {
				t.Fatalf("KindFromMime(%q) = %v, want %v", tt.mime, got, tt.want)
			}
		})
	}
}

// VP8 samples, byte by byte from RFC 7741 §4.2 (descriptor) and §4.3
// (payload header: |Size0|H| VER |P|, P=0 on a key frame). A key frame's
// payload then carries the start code 9d 01 2a (§4.3 / RFC 6386 §9.1).
var (
	vp8Key = []byte{
		0x90,       // X=1 S=1 PID=0
		0xf0,       // I L T K
		0x92, 0x34, // M=1, picture ID 0x1234
		0x05, // TL0PICIDX 5
		0x4a, // TID=1 Y=0 KEYIDX=10
		0x10, // Size0=0 H=1 VER=0 P=0: key frame
		0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
	}
	vp8Inter    = []byte{0x90, 0xf0, 0x92, 0x35, 0x05, 0x8a, 0x11, 0x02, 0x00}
	vp8Cont     = []byte{0x80, 0x80, 0x92, 0x34, 0x10, 0x00} // S=0: continuation of a partition
	vp8Minimal  = []byte{0x10, 0x10, 0x00, 0x9d, 0x01, 0x2a} // no X, S=1, key frame
	vp8Short7   = []byte{0x90, 0x80, 0x05, 0x10}             // 7-bit picture ID 5, key
	vp8PID1     = []byte{0x91, 0x80, 0x05, 0x10}             // S=1 but PID=1
	vp8OnlyTK   = []byte{0x90, 0x10, 0x1f, 0x10}             // K only: KEYIDX 31
	vp8TooShort = []byte{0x90, 0xe0, 0x92}
)

func TestParseVP8(t *testing.T) {
	tests := []struct {
		name     string
		p        []byte
		err      bool
		hdr      int
		key      bool
		pic      uint16
		long     bool
		tl0      uint8
		tid      uint8
		keyIdx   uint8
		hasPicID bool
	}{
		{name: "key frame full descriptor", p: vp8Key, hdr: 6, key: true, pic: 0x1234, long: true, tl0: 5, tid: 1, keyIdx: 10, hasPicID: true},
		{name: "inter frame", p: vp8Inter, hdr: 6, pic: 0x1235, long: true, tl0: 5, tid: 2, keyIdx: 10, hasPicID: true},
		{name: "continuation", p: vp8Cont, hdr: 4, pic: 0x1234, long: true, hasPicID: true},
		{name: "minimal", p: vp8Minimal, hdr: 1, key: true},
		{name: "7-bit picture id", p: vp8Short7, hdr: 3, key: true, pic: 5, hasPicID: true},
		{name: "partition 1", p: vp8PID1, hdr: 3, pic: 5, hasPicID: true},
		{name: "keyidx only", p: vp8OnlyTK, hdr: 3, key: true, keyIdx: 31},
		{name: "truncated", p: vp8TooShort, err: true},
		{name: "empty", p: nil, err: true},
		{name: "X without extension octet", p: []byte{0x80}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseVP8(tt.p)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if d.HeaderLen != tt.hdr || d.Keyframe != tt.key || d.PictureID != tt.pic || d.LongPictureID != tt.long ||
				d.TL0PicIdx != tt.tl0 || d.TID != tt.tid || d.KeyIdx != tt.keyIdx || d.HasPictureID != tt.hasPicID {
				t.Fatalf("got %+v", d)
			}
			if IsKeyframe(VP8, tt.p) != tt.key {
				t.Fatalf("IsKeyframe disagrees")
			}
		})
	}
}

// VP9 samples, byte by byte from RFC 9628 §4.2 and §4.2.1.
var (
	vp9KeySS = []byte{
		0xaa,       // I=1 P=0 L=1 F=0 B=1 E=0 V=1 Z=0
		0x80, 0x01, // M=1, picture ID 1
		0x00,       // TID=0 U=0 SID=0 D=0
		0x07,       // TL0PICIDX 7 (non-flexible mode)
		0x18,       // SS: N_S=0 Y=1 G=1
		0x02, 0x80, // WIDTH 640
		0x01, 0x68, // HEIGHT 360
		0x01,             // N_G=1
		0x00,             // TID=0 U=0 R=0
		0x82, 0x49, 0x83, // VP9 frame data
	}
	vp9Inter      = []byte{0xe8, 0x80, 0x02, 0x20, 0x07, 0x86} // I P L B, TID=1
	vp9FlexInter  = []byte{0xf8, 0x05, 0x20, 0x03, 0x04, 0x86} // flexible, two P_DIFFs
	vp9KeyUpper   = []byte{0xa8, 0x80, 0x01, 0x02, 0x07, 0x82} // P=0 B=1 but SID=1
	vp9NoLayers   = []byte{0x88, 0x05, 0x82}                   // I, B, no L: key
	vp9FlexTooMny = []byte{0xd8, 0x05, 0x03, 0x03, 0x03, 0x02} // 4 P_DIFFs: invalid
)

func TestParseVP9(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		err  bool
		hdr  int
		key  bool
		w, h uint16
	}{
		{name: "key frame with scalability structure", p: vp9KeySS, hdr: 12, key: true, w: 640, h: 360},
		{name: "inter frame", p: vp9Inter, hdr: 5},
		{name: "flexible inter frame", p: vp9FlexInter, hdr: 5},
		{name: "intra on upper spatial layer", p: vp9KeyUpper, hdr: 5},
		{name: "key without layer indices", p: vp9NoLayers, hdr: 2, key: true},
		{name: "too many P_DIFF", p: vp9FlexTooMny, err: true},
		{name: "truncated SS", p: vp9KeySS[:8], err: true},
		{name: "empty", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseVP9(tt.p)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if d.HeaderLen != tt.hdr || d.Keyframe != tt.key || d.Width != tt.w || d.Height != tt.h {
				t.Fatalf("got %+v", d)
			}
			if IsKeyframe(VP9, tt.p) != tt.key {
				t.Fatalf("IsKeyframe disagrees")
			}
		})
	}
}

// H.264 samples from RFC 6184: NAL unit header |F|NRI|Type| (§5.3),
// STAP-A (§5.7.1), FU-A (§5.8).
var (
	sampleSPS = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01}
	h264PPS   = []byte{0x68, 0xce, 0x3c, 0x80}
	sampleIDR = []byte{0x65, 0x88, 0x84, 0x00}
	h264P     = []byte{0x41, 0x9a, 0x02}
	h264STAP  = []byte{
		0x78,       // STAP-A, NRI=3
		0x00, 0x06, // size 6
		0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, // SPS
		0x00, 0x04, // size 4
		0x68, 0xce, 0x3c, 0x80, // PPS
	}
	h264STAPNonKey = []byte{0x78, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80, 0x00, 0x03, 0x41, 0x9a, 0x02}
	h264STAPBad    = []byte{0x78, 0x00, 0xff, 0x67}
	sampleSTAPB    = []byte{0x79, 0x00, 0x01, 0x00, 0x04, 0x65, 0x88, 0x84, 0x00}
	h264FUStartIDR = []byte{0x7c, 0x85, 0x88, 0x84} // FU indicator type 28, FU header S=1 type 5
	h264FUMidIDR   = []byte{0x7c, 0x05, 0x00}       // S=0
	h264FUEndIDR   = []byte{0x7c, 0x45, 0x00}       // E=1
	h264FUStartP   = []byte{0x5c, 0x81, 0x9a}       // S=1 type 1
	h264FUShort    = []byte{0x7c}
)

func TestH264Keyframe(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"single SPS", sampleSPS, true},
		{"single PPS", h264PPS, false},
		{"single IDR", sampleIDR, true},
		{"single P slice", h264P, false},
		{"STAP-A with SPS", h264STAP, true},
		{"STAP-A without key", h264STAPNonKey, false},
		{"STAP-A size beyond end", h264STAPBad, false},
		{"STAP-B with IDR", sampleSTAPB, true},
		{"FU-A start of IDR", h264FUStartIDR, true},
		{"FU-A middle of IDR", h264FUMidIDR, false},
		{"FU-A end of IDR", h264FUEndIDR, false},
		{"FU-A start of P", h264FUStartP, false},
		{"FU-A truncated", h264FUShort, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsKeyframe(H264, tt.p); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// AV1 samples: aggregation header |Z|Y| W |N|-|-|-| (AV1 RTP spec §4.4),
// OBU header |F|type(4)|X|S|R| (AV1 spec §5.3.2).
var (
	av1NewSequence = []byte{0x18, 0x0a, 0x0b, 0x00, 0x00, 0x00} // W=1 N=1
	av1SeqHdrW1    = []byte{0x10, 0x08, 0x00, 0x00}             // W=1, OBU_SEQUENCE_HEADER without size
	av1SeqHdrW0    = []byte{0x00, 0x03, 0x08, 0x00, 0x00}       // W=0, length 3, sequence header
	av1Frame       = []byte{0x20, 0x02, 0x32, 0x00, 0x30, 0x00} // W=2, first OBU_FRAME
	av1Continued   = []byte{0x98, 0x08, 0x00}                   // Z=1 (even with N set)
	av1BadLEB      = []byte{0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}
	av1LenTooLong  = []byte{0x00, 0x10, 0x08}
)

func TestAV1Keyframe(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"N bit", av1NewSequence, true},
		{"sequence header, W=1", av1SeqHdrW1, true},
		{"sequence header, length-prefixed", av1SeqHdrW0, true},
		{"frame OBU", av1Frame, false},
		{"continuation", av1Continued, false},
		{"unterminated LEB128", av1BadLEB, false},
		{"element longer than packet", av1LenTooLong, false},
		{"short", []byte{0x10}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsKeyframe(AV1, tt.p); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAudioAlwaysKeyframe(t *testing.T) {
	if !IsKeyframe(Opus, []byte{0xfc}) || IsKeyframe(Unknown, []byte{0x10}) {
		t.Fatal("audio packets are switch points, unknown codecs are not")
	}
}

func BenchmarkParseRTPAndVP8(b *testing.B) {
	pkt := rtpPacket(1, 2, 3, true, 0, []byte{0x10, 0xaa, 0, 0}, append(append([]byte{}, vp8Key...), make([]byte, 1000)...), 0)
	b.ReportAllocs()
	for b.Loop() {
		h, err := ParseRTP(pkt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseVP8(pkt[h.PayloadOffset:h.PayloadEnd]); err != nil {
			b.Fatal(err)
		}
	}
}
