package record

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

// TestRecordDiskFull: a write that fails ends the recording as failed:
// Run returns ErrWrite, the manifest says why, what was written still
// decodes, the taps keep returning at once and AddTrack refuses.
func TestRecordDiskFull(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	video := vp8(t, 320, 240, 30, 8)
	h := newHarness(t, func(c *Config) { c.FS = failAfter{FS: DirFS(c.Dir), limit: 150 << 10} })
	tr := h.add(TrackInfo{Participant: "gus", Source: SourceCamera, MimeType: "video/VP8"})
	var s synth.Schedule
	s.Frames(tr, 0, vp8Stream(9, 9, t0, 0), video, t0, 10*time.Millisecond, time.Second)
	s.Feed(h.clock, 64, func() {
		// settle, unless the recording has already ended
		for i := 0; i < 20000 && tr.Queued() > 0 && !h.rec.ended.Load(); i++ {
			time.Sleep(time.Millisecond)
		}
	})
	var err error
	select {
	case err = <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end after the write failure")
	}
	if !errors.Is(err, ErrWrite) || !errors.Is(err, errNoSpace) {
		t.Fatalf("Run = %v, want ErrWrite wrapping the disk's error", err)
	}
	m, rerr := ReadManifest(h.dir)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if m.State != StateFailed || !strings.Contains(m.Error, errNoSpace.Error()) {
		t.Fatalf("manifest state %q error %q, want failed with the disk's error", m.State, m.Error)
	}
	path, _ := h.fileOf(m, "gus", "video")
	st, err := os.Stat(path)
	if err != nil || st.Size() != 150<<10 {
		t.Fatalf("partial file: %v, %d bytes; want the %d written", err, st.Size(), 150<<10)
	}
	frames, err := synth.Frames(testCtx(t), path)
	if err != nil || len(frames) < 30 {
		t.Fatalf("the partial file decodes to %d frames (%v), want what was written", len(frames), err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 * DefaultVideoPackets {
			tr.RTP(0, video[0].Data[:100])
			tr.SenderReport(0, 1, 1)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a tap blocks after the recording ended")
	}
	if _, err := h.rec.AddTrack(TrackInfo{Participant: "late", MimeType: "audio/opus"}); !errors.Is(err, ErrEnded) {
		t.Fatalf("AddTrack after the end = %v, want ErrEnded", err)
	}
}

// TestRecordInterrupted: the end of Run's context ends the recording as
// failed (ErrInterrupted), with every file closed and decodable.
func TestRecordInterrupted(t *testing.T) {
	defer goleak.VerifyNone(t)
	synth.NeedFFmpeg(t)
	audio := opus(t, 8, 440)[:100]
	clock := synth.NewClock(t0)
	dir := t.TempDir()
	rec, err := New(Config{ID: "r", Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rec.AddTrack(TrackInfo{Participant: "hal", Source: SourceMicrophone, MimeType: "audio/opus"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	var s synth.Schedule
	s.Frames(tr, 0, opusStream(5, 5, t0, 0), audio, t0, 10*time.Millisecond, time.Second)
	s.Feed(clock, 32, func() {
		for tr.Queued() > 0 {
			time.Sleep(time.Millisecond)
		}
	})
	cancel()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run = %v, want ErrInterrupted", err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != StateFailed || len(m.Tracks) != 1 || len(m.Tracks[0].Files) != 1 {
		t.Fatalf("manifest %+v, want failed with the one file", m)
	}
	checkFile(t, filepath.Join(dir, m.Tracks[0].Files[0].Name), "opus", 2)
	if got := rec.Manifest(); got.State != StateFailed || got.FinishedAt.IsZero() {
		t.Fatalf("Manifest() = %+v, want the final one", got)
	}
}

// TestTapDropsWhenFull: with Run not taking packets the pool fills and
// the rest are dropped and counted; packets of a layer the track does not
// have, or longer than an MTU, too.
func TestTapDropsWhenFull(t *testing.T) {
	rec, err := New(Config{ID: "r", Dir: t.TempDir(), VideoPackets: 2*videoMaxLate + 64})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := rec.AddTrack(TrackInfo{Participant: "ida", MimeType: "video/VP8", Layers: 2})
	if err != nil {
		t.Fatal(err)
	}
	pool := 2*videoMaxLate + 64
	pkt := make([]byte, 100)
	for range pool + 10 {
		tr.RTP(1, pkt)
	}
	tr.RTP(2, pkt)
	tr.RTP(0, make([]byte, maxPacket+1))
	if tr.Queued() != pool || tr.Dropped() != 12 {
		t.Fatalf("queued %d, dropped %d; want %d and 12", tr.Queued(), tr.Dropped(), pool)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no id", Config{Dir: "x"}},
		{"no dir", Config{ID: "x"}},
		{"negative wait", Config{ID: "x", Dir: "x", ReportWait: -1}},
		{"pool smaller than the reorder windows", Config{ID: "x", Dir: "x", VideoPackets: videoMaxLate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
	rec, err := New(Config{ID: "x", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		info TrackInfo
		want error
	}{
		{"no participant", TrackInfo{MimeType: "audio/opus"}, ErrConfig},
		{"unrecorded codec", TrackInfo{Participant: "p", MimeType: "video/AV1"}, ErrCodec},
		{"too many layers", TrackInfo{Participant: "p", MimeType: "video/VP8", Layers: 5}, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := rec.AddTrack(tc.info); !errors.Is(err, tc.want) {
				t.Fatalf("AddTrack = %v, want %v", err, tc.want)
			}
		})
	}
}
