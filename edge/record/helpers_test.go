package record

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

// mediaDir holds the test patterns ffmpeg encodes, shared by the tests of
// one run.
var mediaDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "record-media-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mediaDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// t0 is the wall-clock start of every test timeline.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var mediaMu sync.Mutex

func vp8(t testing.TB, w, h, gop int, seconds float64) []synth.Frame {
	t.Helper()
	mediaMu.Lock()
	defer mediaMu.Unlock()
	f, err := synth.VP8(testCtx(t), mediaDir, synth.Video{Width: w, Height: h, FPS: 30, GOP: gop, Seconds: seconds})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func opus(t testing.TB, seconds float64, freq int) []synth.Frame {
	t.Helper()
	mediaMu.Lock()
	defer mediaMu.Unlock()
	f, err := synth.Opus(testCtx(t), mediaDir, seconds, freq)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// harness runs a Recording on a fake clock.
type harness struct {
	t     *testing.T
	clock *synth.Clock
	rec   *Recording
	dir   string
	done  chan error
	mu    sync.Mutex
	taps  []*Track
	// keyframes are the layers the recorder asked keyframes for.
	keyframes []int
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: synth.NewClock(t0), dir: t.TempDir(), done: make(chan error, 1)}
	cfg := Config{ID: "rec1", Room: "room1", Dir: h.dir, Now: h.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	rec, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { h.done <- rec.Run(ctx) }()
	return h
}

func (h *harness) add(info TrackInfo) *Track {
	h.t.Helper()
	info.RequestKeyframe = func(l int) {
		h.mu.Lock()
		h.keyframes = append(h.keyframes, l)
		h.mu.Unlock()
	}
	tr, err := h.rec.AddTrack(info)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.taps = append(h.taps, tr)
	h.mu.Unlock()
	return tr
}

// settle waits until Run has taken everything queued.
func (h *harness) settle() {
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		h.mu.Lock()
		for _, tr := range h.taps {
			n += tr.Queued()
		}
		h.mu.Unlock()
		h.rec.mu.Lock()
		n += len(h.rec.added)
		h.rec.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the recorder still has %d events queued after 20 s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) feed(s *synth.Schedule) { s.Feed(h.clock, 64, h.settle) }

// stop ends the recording and returns Run's error and the manifest on
// disk.
func (h *harness) stop() (Manifest, error) {
	h.t.Helper()
	h.rec.Stop()
	var err error
	select {
	case err = <-h.done:
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return after Stop")
	}
	m, rerr := ReadManifest(h.dir)
	if rerr != nil {
		h.t.Fatal(rerr)
	}
	return m, err
}

func (h *harness) keyframeRequests() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.keyframes...)
}

// vp8Stream and opusStream are publisher streams capturing from zero.
func vp8Stream(ssrc, base uint32, zero time.Time, skew time.Duration) *synth.Stream {
	return &synth.Stream{SSRC: ssrc, PayloadType: 96, ClockRate: 90000, TSBase: base, Seq: uint16(base), Zero: zero, Skew: skew,
		Payloader: &codecs.VP8Payloader{EnablePictureID: true}}
}

func opusStream(ssrc, base uint32, zero time.Time, skew time.Duration) *synth.Stream {
	return &synth.Stream{SSRC: ssrc, PayloadType: 111, ClockRate: 48000, TSBase: base, Seq: uint16(base >> 3), Zero: zero, Skew: skew,
		Payloader: &codecs.OpusPayloader{}}
}

// fileOf returns the path of the only file of the manifest's track of
// participant and kind.
func (h *harness) fileOf(m Manifest, participant, kind string) (string, ManifestTrack) {
	h.t.Helper()
	for _, tr := range m.Tracks {
		if tr.Participant == participant && tr.Kind == kind {
			if len(tr.Files) != 1 {
				h.t.Fatalf("%s's %s track has %d files, want 1: %+v", participant, kind, len(tr.Files), tr.Files)
			}
			return filepath.Join(h.dir, tr.Files[0].Name), tr
		}
	}
	h.t.Fatalf("no %s track of %s in the manifest: %+v", kind, participant, m.Tracks)
	return "", ManifestTrack{}
}

// checkFile probes path: one stream of codec, its duration within a
// second of want, and a clean decode.
func checkFile(t *testing.T, path, codec string, want float64) synth.Probe {
	t.Helper()
	ctx := testCtx(t)
	p, err := synth.ProbeFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Streams) != 1 || p.Streams[0].CodecName != codec {
		t.Fatalf("%s: streams %+v, want one %s stream", filepath.Base(path), p.Streams, codec)
	}
	if d := p.Seconds(); math.Abs(d-want) > 1 {
		t.Errorf("%s: duration %.3f s, want %.3f ± 1 s", filepath.Base(path), d, want)
	}
	if msg, err := synth.Decode(ctx, path); err != nil || msg != "" {
		t.Errorf("%s does not decode cleanly: %v: %s", filepath.Base(path), err, msg)
	}
	return p
}

// failAfter is an FS whose media files fail with ENOSPC once limit bytes
// were written to them (the manifest still writes).
type failAfter struct {
	FS
	limit int64
}

func (f failAfter) Create(name string) (File, error) {
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &limitedFile{File: file, left: f.limit}, nil
}

type limitedFile struct {
	File
	left int64
}

var errNoSpace = errors.New("no space left on device")

func (l *limitedFile) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		n, _ := l.File.Write(p[:l.left])
		l.left = 0
		return n, errNoSpace
	}
	l.left -= int64(len(p))
	return l.File.Write(p)
}
