package record

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/record/internal/synth"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordTrack records 20 s of a 640×360 VP8 camera (about 800
// kbit/s) and an Opus microphone of one publisher, packets fed to the taps
// as fast as Run takes them. Reported per recorded track and second of
// media: the CPU it costs (cpu-ms/track-s; 10 is 1 % of a core) and the
// bytes written (video-B/s, audio-B/s) beside the RTP bytes received
// (rtp-B/s), so the file's overhead is the ratio of the two.
func BenchmarkRecordTrack(b *testing.B) {
	synth.NeedFFmpeg(b)
	const seconds = 20
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	video, err := synth.VP8(ctx, mediaDir, synth.Video{Width: 640, Height: 360, FPS: 30, GOP: 90, Seconds: seconds, Bitrate: "800k"})
	if err != nil {
		b.Fatal(err)
	}
	audio, err := synth.Opus(ctx, mediaDir, seconds, 440)
	if err != nil {
		b.Fatal(err)
	}
	var rtpBytes, videoBytes, audioBytes int64
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		clock := synth.NewClock(t0)
		dir := b.TempDir()
		rec, err := New(Config{ID: "bench", Dir: dir, Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		a, _ := rec.AddTrack(TrackInfo{Participant: "p", Source: SourceMicrophone, MimeType: "audio/opus"})
		v, _ := rec.AddTrack(TrackInfo{Participant: "p", Source: SourceCamera, MimeType: "video/VP8"})
		var s synth.Schedule
		s.Frames(a, 0, opusStream(1, 1, t0, 0), audio, t0, 20*time.Millisecond, 2*time.Second)
		s.Frames(v, 0, vp8Stream(2, 2, t0, 0), video, t0, 20*time.Millisecond, time.Second)
		done := make(chan error, 1)
		c0 := cpuTime(b)
		b.StartTimer()
		go func() { done <- rec.Run(context.Background()) }()
		s.Feed(clock, 128, func() {
			for a.Queued()+v.Queued() > 0 {
				time.Sleep(50 * time.Microsecond)
			}
		})
		rec.Stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime(b) - c0
		m := rec.Manifest()
		for _, tr := range m.Tracks {
			for _, f := range tr.Files {
				if tr.Kind == "video" {
					videoBytes += f.Bytes
				} else {
					audioBytes += f.Bytes
				}
			}
		}
		for _, f := range video {
			rtpBytes += int64(len(f.Data))
		}
		for _, f := range audio {
			rtpBytes += int64(len(f.Data))
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	trackSeconds := float64(b.N) * seconds * 2
	b.ReportMetric(float64(cpu.Milliseconds())/trackSeconds, "cpu-ms/track-s")
	b.ReportMetric(float64(videoBytes)/(float64(b.N)*seconds), "video-B/s")
	b.ReportMetric(float64(audioBytes)/(float64(b.N)*seconds), "audio-B/s")
	b.ReportMetric(float64(rtpBytes)/(float64(b.N)*seconds), "payload-B/s")
}

// BenchmarkTapRTP is the cost a recording adds to the edge's layer
// reader per packet: a copy into the pool (Run drains it alongside).
func BenchmarkTapRTP(b *testing.B) {
	clock := synth.NewClock(t0)
	rec, err := New(Config{ID: "bench", Dir: b.TempDir(), Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := rec.AddTrack(TrackInfo{Participant: "p", MimeType: "video/VP8"})
	if err != nil {
		b.Fatal(err)
	}
	pkt := make([]byte, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		tr.RTP(0, pkt)
		if i%512 == 511 { // what Run does: take the queue, give the slots back
			tr.mu.Lock()
			for ; tr.queued > 0; tr.queued-- {
				tr.free = append(tr.free, tr.queue[tr.head])
				tr.head = (tr.head + 1) % len(tr.queue)
			}
			tr.mu.Unlock()
		}
	}
}
