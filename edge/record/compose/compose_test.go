package compose

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/record"
	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var mediaDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "compose-media-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mediaDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// party is one participant of a synthetic call.
type party struct {
	name   string
	start  time.Duration // from t0
	video  bool
	source string // of the video track
	freq   int    // of the tone
}

// makeRecording records a synthetic call of parties, each publishing for
// seconds (a clip of at most a minute, looped), into dir, and returns its
// manifest.
func makeRecording(t testing.TB, dir string, parties []party, seconds float64) record.Manifest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	clip, loops := seconds, 1
	if seconds > 60 {
		clip, loops = 60, int(seconds/60)
	}
	video, err := synth.VP8(ctx, mediaDir, synth.Video{Width: 320, Height: 240, FPS: 30, GOP: 60, Seconds: clip, Bitrate: "250k"})
	if err != nil {
		t.Fatal(err)
	}
	video = synth.Loop(video, loops, time.Duration(clip*float64(time.Second)))
	clock := synth.NewClock(t0)
	rec, err := record.New(record.Config{ID: "call", Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var s synth.Schedule
	var taps []*record.Track
	for i, p := range parties {
		audio, err := synth.Opus(ctx, mediaDir, clip, p.freq)
		if err != nil {
			t.Fatal(err)
		}
		audio = synth.Loop(audio, loops, time.Duration(clip*float64(time.Second)))
		start := t0.Add(p.start)
		skew := time.Duration(i*7) * time.Second
		a, err := rec.AddTrack(record.TrackInfo{Participant: p.name, Source: record.SourceMicrophone, MimeType: "audio/opus"})
		if err != nil {
			t.Fatal(err)
		}
		taps = append(taps, a)
		s.Frames(a, 0, &synth.Stream{SSRC: uint32(10 * (i + 1)), PayloadType: 111, ClockRate: 48000, TSBase: uint32(i) * 12345, Zero: start, Skew: skew,
			Payloader: &codecs.OpusPayloader{}}, audio, start, 15*time.Millisecond, 2*time.Second)
		if p.video {
			v, err := rec.AddTrack(record.TrackInfo{Participant: p.name, Source: p.source, MimeType: "video/VP8"})
			if err != nil {
				t.Fatal(err)
			}
			taps = append(taps, v)
			s.Frames(v, 0, &synth.Stream{SSRC: uint32(10*(i+1) + 1), PayloadType: 96, ClockRate: 90000, TSBase: uint32(i) * 999_999, Zero: start, Skew: skew,
				Payloader: &codecs.VP8Payloader{EnablePictureID: true}}, video, start, 25*time.Millisecond, time.Second)
		}
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	s.Feed(clock, 64, func() {
		for _, tp := range taps {
			for tp.Queued() > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	rec.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return rec.Manifest()
}

// TestComposeGrid: a call of three parties who join 1 s apart (two with
// video, one audio only) composes into an MP4 that decodes end to end,
// lasts the recording, has its index first, no black frames, and sound.
func TestComposeGrid(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	dir := t.TempDir()
	m := makeRecording(t, dir, []party{
		{name: "alice", video: true, source: record.SourceCamera, freq: 440},
		{name: "bob", start: time.Second, video: true, source: record.SourceCamera, freq: 660},
		{name: "carol", start: 2 * time.Second, freq: 880},
	}, 5)
	out := filepath.Join(t.TempDir(), "call.mp4")
	res, err := Compose(testCtx(t), Config{Width: 640, Height: 360, FPS: 25, Preset: "ultrafast"}, dir, m, out)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(m.DurationMs) / 1000
	if math.Abs(res.Duration.Seconds()-want) > 0.1 {
		t.Errorf("Result.Duration %v, want about %.3f s", res.Duration, want)
	}
	checkComposed(t, out, want)
}

// checkComposed: H.264 and AAC, the duration, a clean decode, the index
// before the media, no black picture, sound.
func checkComposed(t *testing.T, out string, want float64) {
	t.Helper()
	ctx := testCtx(t)
	p, err := synth.ProbeFile(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	var codecsSeen []string
	for _, s := range p.Streams {
		codecsSeen = append(codecsSeen, s.CodecName)
	}
	if strings.Join(codecsSeen, ",") != "h264,aac" {
		t.Errorf("streams %v, want h264,aac", codecsSeen)
	}
	if d := p.Seconds(); math.Abs(d-want) > 1 {
		t.Errorf("composed duration %.3f s, want %.3f ± 1 s", d, want)
	}
	if msg, err := synth.Decode(ctx, out); err != nil || msg != "" {
		t.Errorf("the composition does not decode cleanly: %v: %s", err, msg)
	}
	if order := topBoxes(t, out); strings.Index(order, "moov") > strings.Index(order, "mdat") {
		t.Errorf("top-level boxes %s: the index is not first (faststart)", order)
	}
	stderr := ffmpegFilter(t, out, "-vf", "blackdetect=d=0.1:pix_th=0.10", "-an")
	if strings.Contains(stderr, "black_start") {
		t.Errorf("black frames in the composition: %s", stderr)
	}
	vol := ffmpegFilter(t, out, "-af", "volumedetect", "-vn")
	mv := regexp.MustCompile(`max_volume: (-?[0-9.]+) dB`).FindStringSubmatch(vol)
	if mv == nil {
		t.Fatalf("no volume measured: %s", vol)
	}
	if v, _ := strconv.ParseFloat(mv[1], 64); v < -30 {
		t.Errorf("max volume %.1f dB: the composition is silent", v)
	}
}

// ffmpegFilter runs path through a measuring filter and returns ffmpeg's
// report.
func ffmpegFilter(t *testing.T, path string, args ...string) string {
	t.Helper()
	ff, err := synth.FFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	a := append([]string{"-hide_banner", "-nostdin", "-i", path}, args...)
	cmd := exec.CommandContext(testCtx(t), ff, append(a, "-f", "null", "-")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, stderr.String())
	}
	return stderr.String()
}

// topBoxes lists the top-level MP4 boxes of path in order.
func topBoxes(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	var off int64
	for {
		var h [16]byte
		if _, err := f.ReadAt(h[:8], off); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		if size == 1 {
			if _, err := f.ReadAt(h[8:16], off+8); err != nil {
				t.Fatal(err)
			}
			size = int64(binary.BigEndian.Uint64(h[8:16]))
		}
		names = append(names, string(h[4:8]))
		if size < 8 {
			break
		}
		off += size
	}
	return strings.Join(names, ",")
}

// TestComposeLayerSwitch: a video file whose size changes mid-way (a
// simulcast layer switch) composes without restarting the picture.
func TestComposeLayerSwitch(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	ctx := testCtx(t)
	low, err := synth.VP8(ctx, mediaDir, synth.Video{Width: 160, Height: 120, FPS: 30, GOP: 30, Seconds: 4})
	if err != nil {
		t.Fatal(err)
	}
	high, err := synth.VP8(ctx, mediaDir, synth.Video{Width: 320, Height: 240, FPS: 30, GOP: 30, Seconds: 4})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	clock := synth.NewClock(t0)
	rec, err := record.New(record.Config{ID: "sw", Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rec.AddTrack(record.TrackInfo{Participant: "p", Source: record.SourceCamera, MimeType: "video/VP8", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	var s synth.Schedule
	mk := func(ssrc uint32) *synth.Stream {
		return &synth.Stream{SSRC: ssrc, PayloadType: 96, ClockRate: 90000, Zero: t0, Payloader: &codecs.VP8Payloader{EnablePictureID: true}}
	}
	s.Frames(tr, 0, mk(1), low, t0, 10*time.Millisecond, time.Second)
	s.Frames(tr, 1, mk(2), high[60:], t0, 10*time.Millisecond, time.Second)
	s.Feed(clock, 64, func() {
		for tr.Queued() > 0 {
			time.Sleep(time.Millisecond)
		}
	})
	rec.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m := rec.Manifest()
	if m.Tracks[0].LayerSwitches != 1 {
		t.Fatalf("%d layer switches, want 1", m.Tracks[0].LayerSwitches)
	}
	out := filepath.Join(t.TempDir(), "sw.mp4")
	if _, err := Compose(ctx, Config{Width: 320, Height: 240, Preset: "ultrafast"}, dir, m, out); err != nil {
		t.Fatal(err)
	}
	p, err := synth.ProbeFile(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Seconds(); math.Abs(d-4) > 1 {
		t.Errorf("duration %.3f s, want 4 ± 1", d)
	}
	if msg, err := synth.Decode(ctx, out); err != nil || msg != "" {
		t.Errorf("does not decode cleanly: %v: %s", err, msg)
	}
}

// TestComposeFFmpegError: ffmpeg failing on a broken input is reported
// with its last lines, and no output appears.
func TestComposeFFmpegError(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.webm"), []byte("this is not a webm file"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := record.Manifest{ID: "broken", Tracks: []record.ManifestTrack{{Participant: "x", Kind: "video", Files: []record.ManifestFile{{Name: "broken.webm", EndMs: 1000}}}}}
	out := filepath.Join(t.TempDir(), "out.mp4")
	_, err := Compose(testCtx(t), Config{}, dir, m, out)
	var fe *FFmpegError
	if !errors.As(err, &fe) || len(fe.Lines) == 0 || !strings.Contains(err.Error(), "broken.webm") {
		t.Fatalf("Compose = %v, want an FFmpegError quoting ffmpeg about broken.webm", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output after a failure: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// TestComposeCanceled: the end of the context ends ffmpeg, and Compose
// says so.
func TestComposeCanceled(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	dir := t.TempDir()
	m := makeRecording(t, dir, []party{{name: "a", video: true, source: record.SourceCamera, freq: 440}}, 5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := Compose(ctx, Config{}, dir, m, out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compose = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output after a cancel: %v", err)
	}
}

func TestComposeRefuses(t *testing.T) {
	if _, err := Compose(context.Background(), Config{}, t.TempDir(), record.Manifest{ID: "e"}, filepath.Join(t.TempDir(), "o.mp4")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("an empty recording: %v, want ErrEmpty", err)
	}
	for _, c := range []Config{{Width: 641, Height: 360}, {CRF: 60}, {Layout: "mosaic"}, {Threads: -1}} {
		if _, err := Compose(context.Background(), c, t.TempDir(), record.Manifest{}, "o.mp4"); !errors.Is(err, ErrConfig) {
			t.Errorf("Config %+v: %v, want ErrConfig", c, err)
		}
	}
}

func TestCells(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		wide int
		want []cell
	}{
		{"one", 1, -1, []cell{{0, 0, 1280, 720}}},
		{"two side by side", 2, -1, []cell{{0, 0, 640, 720}, {640, 0, 640, 720}}},
		{"three: the last row centred", 3, -1, []cell{{0, 0, 640, 360}, {640, 0, 640, 360}, {320, 360, 640, 360}}},
		{"screen share first", 3, 1, []cell{{960, 0, 320, 360}, {0, 0, 960, 720}, {960, 360, 320, 360}}},
		{"screen share alone", 1, 0, []cell{{0, 0, 1280, 720}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cells(tc.n, 1280, 720, tc.wide)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("cells = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlanGolden: the filter graph of a fixed manifest (a screen share
// in the presentation layout, a reconnect's second audio file).
func TestPlanGolden(t *testing.T) {
	m := record.Manifest{ID: "g", Tracks: []record.ManifestTrack{
		{Participant: "a", Kind: "video", Source: record.SourceCamera, Files: []record.ManifestFile{{Name: "01-a-camera.webm", StartMs: 120, EndMs: 9000}}},
		{Participant: "a", Kind: "audio", Source: record.SourceMicrophone, Files: []record.ManifestFile{{Name: "02-a-microphone.webm", StartMs: 100, EndMs: 4000}, {Name: "02-a-microphone-2.webm", StartMs: 5500, EndMs: 9010}}},
		{Participant: "b", Kind: "video", Source: record.SourceScreenShare, Files: []record.ManifestFile{{Name: "03-b-screen_share.webm", StartMs: 2000, EndMs: 8000}}},
		{Participant: "c", Kind: "video", Source: record.SourceCamera, Files: []record.ManifestFile{}},
	}}
	cfg := Config{Layout: Presentation}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(&cfg, "rec", &m)
	if err != nil {
		t.Fatal(err)
	}
	got := p.graph + "\n---\n" + strings.Join(p.args(&cfg, "graph", "out.mp4"), "\n") + "\n"
	golden := filepath.Join("testdata", "presentation.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("plan differs from %s (run with -update after checking):\n%s", golden, got)
	}
}

func TestTailWriter(t *testing.T) {
	w := &tailWriter{max: 2}
	fmt.Fprint(w, "one\ntwo\r\nthree\nfour")
	if got := w.lines(); strings.Join(got, "|") != "two|three|four" {
		t.Fatalf("lines = %q", got)
	}
}
