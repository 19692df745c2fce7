package compose

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/record"
	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

// benchCache is where BenchmarkCompose keeps its generated recording
// between runs (it takes minutes to make).
func benchCache(b *testing.B) string {
	dir := os.Getenv("SPACECAST_CACHE")
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(c, "spacecast")
	}
	return filepath.Join(dir, "bench-compose-v1")
}

// BenchmarkCompose10Min4Party composes a 10-minute call of four
// participants (320×240 VP8 cameras at 250 kbit/s, Opus microphones: a
// one-minute clip looped; they join 0, 5, 10 and 15 s in) into a 1280×720 30 fps grid with the default
// settings (libx264 veryfast, CRF 23). The recording is made once and
// kept in the user's cache. Reported: compose-s (wall time of one
// composition), ffmpeg-cpu-s (the CPU ffmpeg used: on a busy machine the
// steadier number) and x-realtime (call length over compose time: above
// 1, faster than the call lasted).
func BenchmarkCompose10Min4Party(b *testing.B) {
	synth.NeedFFmpeg(b)
	const seconds = 600
	cache := benchCache(b)
	recDir := filepath.Join(cache, "recording")
	m, err := record.ReadManifest(recDir)
	if err != nil || m.State != record.StateFinished {
		_ = os.RemoveAll(recDir)
		if err := os.MkdirAll(cache, 0o755); err != nil {
			b.Fatal(err)
		}
		old := mediaDir
		mediaDir = cache // the encoded patterns are kept too
		m = makeRecording(b, recDir, []party{
			{name: "alice", video: true, source: record.SourceCamera, freq: 330},
			{name: "bob", start: 5 * time.Second, video: true, source: record.SourceCamera, freq: 440},
			{name: "carol", start: 10 * time.Second, video: true, source: record.SourceCamera, freq: 550},
			{name: "dave", start: 15 * time.Second, video: true, source: record.SourceCamera, freq: 660},
		}, seconds)
		mediaDir = old
	}
	out := filepath.Join(b.TempDir(), "call.mp4")
	var took time.Duration
	c0 := childCPU(b)
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		res, err := Compose(ctx, Config{}, recDir, m, out)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		took += res.Took
	}
	cpu := (childCPU(b) - c0).Seconds() / float64(b.N)
	per := took.Seconds() / float64(b.N)
	b.ReportMetric(per, "compose-s")
	b.ReportMetric(cpu, "ffmpeg-cpu-s")
	b.ReportMetric(float64(m.DurationMs)/1000/per, "x-realtime")
}

// childCPU is the user and system CPU time of the finished children.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
