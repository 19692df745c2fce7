package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

// TestSPSSize: the sizes of the SPSs libx264 writes, cropped ones too.
func TestSPSSize(t *testing.T) {
	synth.NeedFFmpeg(t)
	for _, tc := range []struct{ w, h int }{{320, 240}, {640, 360}, {1280, 720}, {322, 182}} {
		frames, err := synth.H264(testCtx(t), mediaDir, synth.Video{Width: tc.w, Height: tc.h, FPS: 30, GOP: 30, Seconds: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if w, h := dimensions(codec.H264, frames[0].Data); w != tc.w || h != tc.h {
			t.Errorf("SPS of %dx%d read as %dx%d", tc.w, tc.h, w, h)
		}
		if !keyframe(codec.H264, frames[0].Data) || keyframe(codec.H264, frames[1].Data) {
			t.Errorf("%dx%d: keyframe flags of the first two frames wrong", tc.w, tc.h)
		}
	}
}

// TestVP8VP9Header: the keyframe bit and size of libvpx's frames.
func TestVP8VP9Header(t *testing.T) {
	synth.NeedFFmpeg(t)
	vp9, err := synth.VP9(testCtx(t), mediaDir, synth.Video{Width: 352, Height: 288, FPS: 30, GOP: 30, Seconds: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	vp8 := vp8(t, 320, 240, 30, 8)
	for _, tc := range []struct {
		name   string
		k      codec.Kind
		frames []synth.Frame
		w, h   int
	}{{"vp8", codec.VP8, vp8, 320, 240}, {"vp9", codec.VP9, vp9, 352, 288}} {
		if !keyframe(tc.k, tc.frames[0].Data) || keyframe(tc.k, tc.frames[1].Data) {
			t.Errorf("%s: keyframe flags of the first two frames wrong", tc.name)
		}
		if w, h := dimensions(tc.k, tc.frames[0].Data); w != tc.w || h != tc.h {
			t.Errorf("%s: %dx%d read as %dx%d", tc.name, tc.w, tc.h, w, h)
		}
	}
}

// redHeader is the 4-byte header of a redundant Opus block (RFC 2198
// §3): F bit and payload type, a 14-bit timestamp offset, a 10-bit length.
func redHeader(tsOffset, length int) []byte {
	h := []byte{0x80 | 111, 0, 0, 0}
	binary.BigEndian.PutUint32(h, binary.BigEndian.Uint32(h)|uint32(tsOffset)<<10|uint32(length))
	return h
}

func TestPrimaryFromRED(t *testing.T) {
	redundant := []byte{0xaa, 0xbb, 0xcc}
	primary := []byte{0x01, 0x02, 0x03, 0x04}
	two := append(append(append(redHeader(960, len(redundant)), 111), redundant...), primary...)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
		err  bool
	}{
		{"primary only", append([]byte{111}, primary...), primary, false},
		{"one redundant block", two, primary, false},
		{"empty", nil, nil, true},
		{"header cut short", []byte{0x80 | 111, 0}, nil, true},
		{"block longer than the payload", []byte{0x80 | 111, 0, 0, 200, 111, 1}, nil, true},
		{"no primary data", []byte{111}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := primaryFromRED(tc.in)
			if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
				t.Fatalf("primaryFromRED = %x, %v; want %x, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestNTPNanos(t *testing.T) {
	// 2026-01-01T00:00:00.5Z: Unix 1767225600, NTP seconds 3976214400.
	ntp := uint64(3976214400)<<32 | 0x80000000
	if got, want := ntpNanos(ntp), int64(1767225600_500000000); got != want {
		t.Fatalf("ntpNanos = %d, want %d", got, want)
	}
	if got := ntpNanos(synth.NTP(t0.Add(123 * time.Millisecond))); got-t0.Add(123*time.Millisecond).UnixNano() > 1 {
		t.Fatalf("synth.NTP and ntpNanos disagree by %d ns", got-t0.UnixNano())
	}
}

func TestAVCC(t *testing.T) {
	au := []byte{0, 0, 0, 1, 0x67, 1, 2, 3, 4, 0, 0, 1, 0x68, 5, 0, 0, 0, 1, 0x65, 6, 7, 0}
	want := []byte{0, 0, 0, 5, 0x67, 1, 2, 3, 4, 0, 0, 0, 2, 0x68, 5, 0, 0, 0, 3, 0x65, 6, 7}
	if got := avcc(au); !bytes.Equal(got, want) {
		t.Fatalf("avcc = %x, want %x", got, want)
	}
	cfg, err := avcConfig(au)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := []byte{1, 1, 2, 3, 0xff, 0xe1, 0, 5, 0x67, 1, 2, 3, 4, 1, 0, 2, 0x68, 5}
	if !bytes.Equal(cfg, wantCfg) {
		t.Fatalf("avcConfig = %x, want %x", cfg, wantCfg)
	}
	if _, err := avcConfig([]byte{0, 0, 1, 0x65, 1}); !errors.Is(err, ErrCodec) {
		t.Fatalf("avcConfig without parameter sets: %v, want ErrCodec", err)
	}
}

// FuzzParsers: the payload readers never panic on what a publisher sends.
func FuzzParsers(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00})
	f.Add([]byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x15, 0xf0, 0x11, 0xf6})
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	f.Add([]byte{0, 0, 1, 0x67, 0, 0, 0, 1, 0x68, 0xff})
	f.Add([]byte{0xef, 0x0f, 0x00, 0x01, 111, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _, _ = spsSize(p)
		_, _, _ = vp9Header(p)
		_, _ = primaryFromRED(p)
		_ = avcc(p)
		_, _ = avcConfig(p)
		for _, k := range []codec.Kind{codec.VP8, codec.VP9, codec.H264, codec.Opus} {
			_ = keyframe(k, p)
			_, _ = dimensions(k, p)
		}
	})
}

// TestRecordCodecs: H.264 goes to Matroska in AVCC with its size from the
// SPS; VP9 to WebM; Opus in RED (primary plus one redundant block) to
// plain Opus.
func TestRecordCodecs(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	ctx := testCtx(t)
	h264, err := synth.H264(ctx, mediaDir, synth.Video{Width: 320, Height: 180, FPS: 30, GOP: 30, Seconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	vp9, err := synth.VP9(ctx, mediaDir, synth.Video{Width: 320, Height: 240, FPS: 30, GOP: 30, Seconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	audio := opus(t, 8, 440)[:150]
	red := make([]synth.Frame, len(audio))
	for i, f := range audio {
		p := []byte{111}
		if i > 0 {
			prev := audio[i-1].Data
			p = append(append(redHeader(960, len(prev)), 111), prev...)
		}
		red[i] = synth.Frame{Data: append(p, f.Data...), At: f.At}
	}

	h := newHarness(t, nil)
	th := h.add(TrackInfo{Participant: "h264", Source: SourceCamera, MimeType: "video/H264"})
	tv := h.add(TrackInfo{Participant: "vp9", Source: SourceCamera, MimeType: "video/VP9"})
	tr := h.add(TrackInfo{Participant: "red", Source: SourceMicrophone, MimeType: "audio/red"})
	var s synth.Schedule
	s.Frames(th, 0, &synth.Stream{SSRC: 1, PayloadType: 102, ClockRate: 90000, Zero: t0, Payloader: &codecs.H264Payloader{}}, h264, t0, 10*time.Millisecond, time.Second)
	s.Frames(tv, 0, &synth.Stream{SSRC: 2, PayloadType: 98, ClockRate: 90000, Zero: t0, Payloader: &codecs.VP9Payloader{}}, vp9, t0, 10*time.Millisecond, time.Second)
	s.Frames(tr, 0, &synth.Stream{SSRC: 3, PayloadType: 63, ClockRate: 48000, Zero: t0, Payloader: &codecs.OpusPayloader{}}, red, t0, 10*time.Millisecond, time.Second)
	h.feed(&s)
	m, err := h.stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who, kind, codec, ext string
		w, h                  int
		frames                int
	}{
		{"h264", "video", "h264", ".mkv", 320, 180, len(h264)},
		{"vp9", "video", "vp9", ".webm", 320, 240, len(vp9)},
		{"red", "audio", "opus", ".webm", 0, 0, len(red)},
	} {
		path, mt := h.fileOf(m, tc.who, tc.kind)
		if f := mt.Files[0]; f.Frames != uint64(tc.frames) || f.Width != tc.w || f.Height != tc.h || len(f.Name) < 5 || f.Name[len(f.Name)-len(tc.ext):] != tc.ext {
			t.Errorf("%s: file %+v, want %d frames of %dx%d in a %s", tc.who, f, tc.frames, tc.w, tc.h, tc.ext)
		}
		p := checkFile(t, path, tc.codec, 3)
		if st := p.Streams[0]; st.Width != tc.w || st.Height != tc.h {
			t.Errorf("%s: ffprobe says %dx%d, want %dx%d", tc.who, st.Width, st.Height, tc.w, tc.h)
		}
	}
}
