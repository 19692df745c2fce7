package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spacecast/spacecast/internal/procattr"

	"github.com/spacecast/spacecast/edge/record"
)

// Errors.
var (
	// ErrConfig marks an unusable Config.
	ErrConfig = errors.New("compose: invalid config")
	// ErrEmpty is returned for a recording without a file to compose.
	ErrEmpty = errors.New("compose: nothing recorded")
)

// Config says how to compose. Zero values mean defaults.
type Config struct {
	// FFmpeg is the ffmpeg binary (default: "ffmpeg" on the PATH).
	FFmpeg string
	// Width and Height are the picture's size (default 1280×720).
	Width, Height int
	// FPS is the frame rate (default 30).
	FPS int
	// Layout places the video tracks (default Grid).
	Layout Layout
	// Preset and CRF are libx264's speed/size trade-off and quality
	// (default "veryfast", 23).
	Preset string
	CRF    int
	// AudioBitrate is the AAC bitrate (default "128k").
	AudioBitrate string
	// Threads caps ffmpeg's threads (0: ffmpeg's choice, every core).
	Threads int
	// Log receives what compose does (default: discarded).
	Log *slog.Logger
}

// Validate checks c and fills its defaults (Compose does it too).
func (c *Config) Validate() error { return c.validate() }

func (c *Config) validate() error {
	switch {
	case c.Width < 0 || c.Height < 0 || c.FPS < 0 || c.CRF < 0 || c.CRF > 51 || c.Threads < 0:
		return fmt.Errorf("%w: negative size, rate or threads, or CRF beyond 51", ErrConfig)
	case c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("%w: %dx%d is not even", ErrConfig, c.Width, c.Height)
	case c.Layout != "" && c.Layout != Grid && c.Layout != Presentation:
		return fmt.Errorf("%w: layout %q", ErrConfig, c.Layout)
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.Width == 0 || c.Height == 0 {
		c.Width, c.Height = 1280, 720
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.Layout == "" {
		c.Layout = Grid
	}
	if c.Preset == "" {
		c.Preset = "veryfast"
	}
	if c.CRF == 0 {
		c.CRF = 23
	}
	if c.AudioBitrate == "" {
		c.AudioBitrate = "128k"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Result describes a composed file.
type Result struct {
	Duration time.Duration // of the composition
	Bytes    int64
	Took     time.Duration // ffmpeg's run
}

// FFmpegError is ffmpeg failing: its exit and the last lines it wrote.
type FFmpegError struct {
	Err   error
	Lines []string
}

func (e *FFmpegError) Error() string {
	if len(e.Lines) == 0 {
		return fmt.Sprintf("compose: ffmpeg: %v", e.Err)
	}
	return fmt.Sprintf("compose: ffmpeg: %v: %s", e.Err, strings.Join(e.Lines, " | "))
}

func (e *FFmpegError) Unwrap() error { return e.Err }

// stderrLines is how many of ffmpeg's last lines an error keeps.
const stderrLines = 12

// Compose writes to dst one MP4 (H.264 and AAC, index at the front so a
// browser plays it while it downloads) of the recording in dir that m
// describes: the video tracks laid out by cfg.Layout, every audio track
// mixed, each file at its start offset. ffmpeg runs as a child process
// that ends with ctx (and with this process). dst appears only when it is
// complete.
func Compose(ctx context.Context, cfg Config, dir string, m record.Manifest, dst string) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	p, err := makePlan(&cfg, dir, &m)
	if err != nil {
		return Result{}, err
	}
	for _, in := range p.inputs {
		if _, err := os.Stat(in); err != nil {
			return Result{}, fmt.Errorf("compose: %w", err)
		}
	}
	script, err := os.CreateTemp(filepath.Dir(dst), ".compose-*.graph")
	if err != nil {
		return Result{}, fmt.Errorf("compose: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(p.graph); err != nil {
		script.Close()
		return Result{}, fmt.Errorf("compose: %w", err)
	}
	if err := script.Close(); err != nil {
		return Result{}, fmt.Errorf("compose: %w", err)
	}
	tmp := dst + ".part"
	defer os.Remove(tmp)

	start := time.Now()
	cfg.Log.Info("composing", "recording", m.ID, "inputs", len(p.inputs), "duration", p.duration, "layout", cfg.Layout)
	if err := runFFmpeg(ctx, cfg.FFmpeg, p.args(&cfg, script.Name(), tmp)); err != nil {
		return Result{}, err
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return Result{}, fmt.Errorf("compose: ffmpeg wrote no file: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Result{}, fmt.Errorf("compose: %w", err)
	}
	res := Result{Duration: time.Duration(p.duration * float64(time.Second)), Bytes: st.Size(), Took: time.Since(start)}
	cfg.Log.Info("composed", "recording", m.ID, "bytes", res.Bytes, "took", res.Took)
	return res, nil
}

// runFFmpeg runs ffmpeg with args until it exits or ctx ends (then it is
// interrupted, and killed if it lingers); it dies with this process too.
func runFFmpeg(ctx context.Context, bin string, args []string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	tw := &tailWriter{max: stderrLines}
	cmd.Stderr = tw
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	return &FFmpegError{Err: err, Lines: tw.lines()}
}

// tailWriter keeps the last max lines written to it.
type tailWriter struct {
	mu   sync.Mutex
	max  int
	buf  []string
	part []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexAny(t.part, "\r\n")
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(t.part[:i])); line != "" {
			t.add(line)
		}
		t.part = t.part[i+1:]
	}
	if len(t.part) > 4096 { // a line without end: keep its head
		t.add(string(t.part[:4096]))
		t.part = t.part[:0]
	}
	return len(p), nil
}

func (t *tailWriter) add(line string) {
	t.buf = append(t.buf, line)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *tailWriter) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.buf...)
	if s := strings.TrimSpace(string(t.part)); s != "" {
		out = append(out, s)
	}
	return out
}
