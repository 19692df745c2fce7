package recorder

import (
	"errors"
	"fmt"
	"time"

	"github.com/spacecast/spacecast/edge/record/compose"
)

// ErrConfig marks an unusable `recording:` section.
var ErrConfig = errors.New("recorder: invalid config")

// Config is the `recording:` section of an edge.
type Config struct {
	// Dir is where recordings are written while they run, one folder per
	// recording (required). It should not be on a disk other services
	// fill: a full disk fails the recordings that write to it.
	Dir string `yaml:"dir"`
	// EmptyGrace is how long a recorded room may have nobody on any edge
	// before its recording ends: the call is over (default 10 s). A
	// participant who reconnects within it continues the same recording.
	EmptyGrace time.Duration `yaml:"emptyGrace"`
	// KeepLocal keeps a recording's folder once it is stored (default:
	// removed).
	KeepLocal bool `yaml:"keepLocal"`
	// ShutdownTimeout bounds how long a stopping edge waits for its
	// recordings to be composed and stored (default 2 minutes); what is
	// not stored by then is found by the next run.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// Compose says how the call is composed into one MP4.
	Compose ComposeConfig `yaml:"compose"`
}

// ComposeConfig is the `recording.compose:` section (edge/record/compose).
type ComposeConfig struct {
	// FFmpeg is the ffmpeg binary (default "ffmpeg" on the PATH).
	FFmpeg string `yaml:"ffmpeg"`
	// Width and Height are the picture's size (default 1280×720).
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// FPS is the frame rate (default 30).
	FPS int `yaml:"fps"`
	// Layout is "grid" (default) or "presentation" (the screen share
	// first).
	Layout string `yaml:"layout"`
	// Preset and CRF are libx264's speed and quality (default veryfast,
	// 23).
	Preset string `yaml:"preset"`
	CRF    int    `yaml:"crf"`
	// Threads caps ffmpeg's threads (0: every core).
	Threads int `yaml:"threads"`
}

func (c ComposeConfig) compose() compose.Config {
	return compose.Config{FFmpeg: c.FFmpeg, Width: c.Width, Height: c.Height, FPS: c.FPS, Layout: compose.Layout(c.Layout),
		Preset: c.Preset, CRF: c.CRF, Threads: c.Threads}
}

// Validate checks the section and fills its defaults.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: recording.dir is required", ErrConfig)
	}
	if c.EmptyGrace < 0 || c.ShutdownTimeout < 0 {
		return fmt.Errorf("%w: recording.emptyGrace and recording.shutdownTimeout must be >= 0", ErrConfig)
	}
	if c.EmptyGrace == 0 {
		c.EmptyGrace = 10 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 2 * time.Minute
	}
	cc := c.Compose.compose()
	if err := cc.Validate(); err != nil {
		return fmt.Errorf("%w: recording.compose: %w", ErrConfig, err)
	}
	return nil
}
