// Package synth makes synthetic publishers for the tests and benchmarks
// of edge/record and its composer: ffmpeg encodes known test patterns
// (testsrc2 video, sine tones) to VP8, VP9, H.264 and Opus; pion's
// payloaders cut the frames into RTP; a Stream stamps RTP timestamps and
// sender reports from a publisher's capture clock; Feed hands a merged
// schedule of packets and reports to the recorder's taps with a fake
// wall clock.
package synth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/testenv"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Frame is one encoded frame and when it was captured, from the start of
// its encoding.
type Frame struct {
	Data []byte
	At   time.Duration
}

// FFmpeg returns the path of ffmpeg, or why there is none.
func FFmpeg() (string, error) { return exec.LookPath("ffmpeg") }

// FFprobe returns the path of ffprobe, or why there is none.
func FFprobe() (string, error) { return exec.LookPath("ffprobe") }

// NeedFFmpeg stops a test that needs ffmpeg and ffprobe when they are
// missing (testenv's rule: fail in CI, skip elsewhere).
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	_, err := FFmpeg()
	if err == nil {
		_, err = FFprobe()
	}
	testenv.Need(t, "ffmpeg and ffprobe", err)
}

func run(ctx context.Context, args ...string) error {
	ff, err := FFmpeg()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, ff, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("synth: ffmpeg %v: %w: %s", args, err, stderr.Bytes())
	}
	return nil
}

// encode runs ffmpeg with args into a temporary file and renames it to
// out once complete, so an interrupted encoding is never taken for one.
func encode(ctx context.Context, out string, args ...string) error {
	tmp := out + ".part"
	defer os.Remove(tmp)
	if err := run(ctx, append(args, tmp)...); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// Loop repeats frames, a clip that starts with a keyframe and whose
// length is a whole number of GOPs, n times, one after the other.
func Loop(frames []Frame, n int, clip time.Duration) []Frame {
	out := make([]Frame, 0, len(frames)*n)
	for i := range n {
		for _, f := range frames {
			out = append(out, Frame{Data: f.Data, At: f.At + time.Duration(i)*clip})
		}
	}
	return out
}

// Video describes a test pattern to encode.
type Video struct {
	Width, Height, FPS int
	GOP                int // frames between keyframes
	Seconds            float64
	Bitrate            string // e.g. "300k"
}

func (v Video) src() string {
	return fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", v.Width, v.Height, v.FPS, strconv.FormatFloat(v.Seconds, 'f', 3, 64))
}

func (v Video) bitrate() string {
	if v.Bitrate == "" {
		return "300k"
	}
	return v.Bitrate
}

// VP8 encodes v with libvpx into dir and returns its frames.
func VP8(ctx context.Context, dir string, v Video) ([]Frame, error) {
	return vpx(ctx, dir, v, "libvpx", "vp8")
}

// VP9 encodes v with libvpx-vp9 into dir and returns its frames.
func VP9(ctx context.Context, dir string, v Video) ([]Frame, error) {
	return vpx(ctx, dir, v, "libvpx-vp9", "vp9")
}

func vpx(ctx context.Context, dir string, v Video, enc, name string) ([]Frame, error) {
	out := filepath.Join(dir, fmt.Sprintf("%s-%dx%d-%d-%s.ivf", name, v.Width, v.Height, v.GOP, strconv.FormatFloat(v.Seconds, 'f', 1, 64)))
	if _, err := os.Stat(out); err != nil {
		if err := encode(ctx, out, "-f", "lavfi", "-i", v.src(), "-c:v", enc, "-b:v", v.bitrate(), "-g", strconv.Itoa(v.GOP),
			"-keyint_min", strconv.Itoa(v.GOP), "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0", "-lag-in-frames", "0",
			"-error-resilient", "1", "-f", "ivf"); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("synth: %s: %w", out, err)
	}
	var frames []Frame
	for i := 0; ; i++ {
		b, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("synth: %s: %w", out, err)
		}
		frames = append(frames, Frame{Data: b, At: time.Duration(i) * time.Second / time.Duration(v.FPS)})
	}
}

// H264 encodes v with libx264 (constrained baseline, parameter sets with
// every keyframe, as WebRTC sends) into dir and returns its access units in
// Annex B.
func H264(ctx context.Context, dir string, v Video) ([]Frame, error) {
	out := filepath.Join(dir, fmt.Sprintf("h264-%dx%d-%d-%s.h264", v.Width, v.Height, v.GOP, strconv.FormatFloat(v.Seconds, 'f', 1, 64)))
	if _, err := os.Stat(out); err != nil {
		if err := encode(ctx, out, "-f", "lavfi", "-i", v.src(), "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
			"-preset", "ultrafast", "-tune", "zerolatency", "-b:v", v.bitrate(), "-g", strconv.Itoa(v.GOP),
			"-x264-params", "repeat-headers=1", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264"); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	// Access units start at the AUD (NAL type 9) ffmpeg inserted.
	var frames []Frame
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			frames = append(frames, Frame{Data: cur, At: time.Duration(len(frames)) * time.Second / time.Duration(v.FPS)})
			cur = nil
		}
	}
	for _, nal := range splitAnnexB(b) {
		if len(nal) > 0 && nal[0]&0x1f == 9 {
			flush()
			continue
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal...)
	}
	flush()
	return frames, nil
}

func splitAnnexB(p []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(p); i++ {
		if p[i] == 0 && p[i+1] == 0 && p[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && p[end-1] == 0 {
					end--
				}
				out = append(out, p[start:end])
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 {
		out = append(out, p[start:])
	}
	return out
}

// Opus encodes seconds of a sine tone of freq Hz with libopus, 20 ms
// frames, into dir and returns its frames.
func Opus(ctx context.Context, dir string, seconds float64, freq int) ([]Frame, error) {
	out := filepath.Join(dir, fmt.Sprintf("opus-%d-%s.ogg", freq, strconv.FormatFloat(seconds, 'f', 1, 64)))
	if _, err := os.Stat(out); err != nil {
		if err := encode(ctx, out, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=%s", freq, strconv.FormatFloat(seconds, 'f', 3, 64)),
			"-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-application", "voip", "-page_duration", "20000", "-f", "ogg"); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("synth: %s: %w", out, err)
	}
	var frames []Frame
	for {
		b, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("synth: %s: %w", out, err)
		}
		if bytes.HasPrefix(b, []byte("OpusTags")) || len(b) == 0 {
			continue
		}
		frames = append(frames, Frame{Data: b, At: time.Duration(len(frames)) * 20 * time.Millisecond})
	}
}

// NTP is t as a 64-bit NTP timestamp (RFC 5905 §6).
func NTP(t time.Time) uint64 {
	sec := uint64(t.Unix() + 2208988800)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}

// Stream is one RTP stream of a publisher: its SSRC, its sequence numbers
// and its RTP clock, whose timestamp TSBase is the capture instant Zero.
// The publisher's NTP clock runs Skew ahead of the wall clock.
type Stream struct {
	SSRC        uint32
	PayloadType uint8
	ClockRate   uint32
	TSBase      uint32
	Seq         uint16
	Zero        time.Time
	Skew        time.Duration
	Payloader   rtp.Payloader
	MTU         uint16 // default 1200
}

// TS is the RTP timestamp of capture instant at.
func (s *Stream) TS(at time.Time) uint32 {
	return s.TSBase + uint32(int64(at.Sub(s.Zero))*int64(s.ClockRate)/1e9)
}

// Packets cuts frame, captured at at, into marshalled RTP packets.
func (s *Stream) Packets(frame []byte, at time.Time) [][]byte {
	mtu := s.MTU
	if mtu == 0 {
		mtu = 1200
	}
	payloads := s.Payloader.Payload(mtu-12, frame)
	out := make([][]byte, 0, len(payloads))
	for i, p := range payloads {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: s.PayloadType, SequenceNumber: s.Seq, Timestamp: s.TS(at), SSRC: s.SSRC, Marker: i == len(payloads)-1}, Payload: p}
		s.Seq++
		b, err := pkt.Marshal()
		if err != nil {
			panic(err) // a header pion built itself
		}
		out = append(out, b)
	}
	return out
}

// Padding is a padding-only packet (a bandwidth probe) at the stream's
// next sequence number, with the timestamp of capture instant at.
func (s *Stream) Padding(at time.Time) []byte {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: s.PayloadType, SequenceNumber: s.Seq, Timestamp: s.TS(at), SSRC: s.SSRC}, PaddingSize: 200}
	s.Seq++
	b, err := pkt.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// Report is the sender report the publisher sends at capture instant at:
// its NTP clock reading and the RTP timestamp of that instant.
func (s *Stream) Report(at time.Time) (ntp uint64, rtpTS uint32) {
	return NTP(at.Add(s.Skew)), s.TS(at)
}

// Tap is what the recorder's Track offers.
type Tap interface {
	RTP(layer int, pkt []byte)
	SenderReport(layer int, ntp uint64, rtpTS uint32)
}

// Event is one delivery to a tap at a wall-clock instant.
type Event struct {
	At     time.Time
	Tap    Tap
	Layer  int
	Packet []byte // nil for a report
	NTP    uint64
	RTP    uint32
	// Do, when set, is called instead (after settle): a track added or
	// closed at that instant.
	Do  func()
	seq int
}

// Schedule collects events and hands them out in order of time (and of
// adding, for equal times).
type Schedule struct{ evs []Event }

// Add schedules e.
func (s *Schedule) Add(e Event) {
	e.seq = len(s.evs)
	s.evs = append(s.evs, e)
}

// Frames schedules the packets of frames captured from start on, each
// arriving delay after its capture, and a sender report every reportEvery
// (none with 0), on layer of tap.
func (s *Schedule) Frames(tap Tap, layer int, st *Stream, frames []Frame, start time.Time, delay, reportEvery time.Duration) {
	if len(frames) == 0 {
		return
	}
	next := start.Add(frames[0].At)
	for _, f := range frames {
		at := start.Add(f.At)
		for reportEvery > 0 && !next.After(at) {
			ntp, ts := st.Report(next)
			s.Add(Event{At: next.Add(delay), Tap: tap, Layer: layer, NTP: ntp, RTP: ts})
			next = next.Add(reportEvery)
		}
		for _, p := range st.Packets(f.Data, at) {
			s.Add(Event{At: at.Add(delay), Tap: tap, Layer: layer, Packet: p})
		}
	}
}

// Proxy is a tap that forwards to T, set later (a track added while the
// schedule plays).
type Proxy struct{ T Tap }

// RTP forwards to T.
func (p *Proxy) RTP(layer int, pkt []byte) { p.T.RTP(layer, pkt) }

// SenderReport forwards to T.
func (p *Proxy) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	p.T.SenderReport(layer, ntp, rtpTS)
}

// Len is the number of events.
func (s *Schedule) Len() int { return len(s.evs) }

// Clock is a settable wall clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t (never backwards).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// Feed delivers the events in order, setting clock to each one's time;
// after every batch events it calls settle (which waits until the
// recorder has taken what it was given), and once at the end.
func (s *Schedule) Feed(clock *Clock, batch int, settle func()) {
	sort.SliceStable(s.evs, func(i, j int) bool {
		if !s.evs[i].At.Equal(s.evs[j].At) {
			return s.evs[i].At.Before(s.evs[j].At)
		}
		return s.evs[i].seq < s.evs[j].seq
	})
	for i, e := range s.evs {
		clock.Set(e.At)
		if e.Do != nil {
			if settle != nil {
				settle()
			}
			e.Do()
			continue
		}
		if e.Packet != nil {
			e.Tap.RTP(e.Layer, e.Packet)
		} else {
			e.Tap.SenderReport(e.Layer, e.NTP, e.RTP)
		}
		if batch > 0 && (i+1)%batch == 0 && settle != nil {
			settle()
		}
	}
	if settle != nil {
		settle()
	}
	s.evs = nil
}
