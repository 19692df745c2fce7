package simulcast

import (
	"fmt"
	"time"

	"github.com/livekit/protocol/livekit"
)

// Layer is one published simulcast layer, as the publisher announced it
// (livekit.VideoLayer) plus what the edge measures. A track's layers are
// passed lowest first; their index is the forwarder's layer number.
type Layer struct {
	Quality       livekit.VideoQuality
	Width, Height uint32
	// Bitrate is the measured bitrate in bits/s (forward.Source.Bitrate);
	// 0 if not known yet, in which case the layer is assumed to fit.
	Bitrate uint64
	// Active: the publisher is sending this layer (it has not paused it
	// and packets arrived recently).
	Active bool
}

// Request is what a subscriber asked for (UpdateTrackSettings).
type Request struct {
	// Disabled pauses the track.
	Disabled bool
	// Quality is the highest quality wanted; VideoQuality_OFF pauses.
	Quality livekit.VideoQuality
	// Width and Height, when set, ask for the smallest layer large enough
	// for a video element of that size (and take precedence over Quality).
	Width, Height uint32
}

// dimensionTolerance lets a layer up to 10 % smaller than the requested
// size serve it (a 180p layer for a 200-pixel-high tile).
const dimensionTolerance = 0.9

// shortSide returns the layer's dimension to compare and the request's
// matching one: heights for a landscape layer, widths for a portrait one.
func shortSide(l Layer, req Request) (have, want uint32) {
	if l.Width == 0 && l.Height == 0 {
		// Not announced: assume 180p, 360p and 720p by quality.
		switch l.Quality {
		case livekit.VideoQuality_LOW:
			return 180, req.Height
		case livekit.VideoQuality_MEDIUM:
			return 360, req.Height
		}
		return 720, req.Height
	}
	if l.Width < l.Height {
		return l.Width, req.Width
	}
	return l.Height, req.Height
}

// Wanted returns the highest layer index the request allows among the
// active layers, ignoring bandwidth, or -1 for none. With a width and
// height (adaptive stream: the size of the subscriber's video element) it
// is the smallest layer whose short side covers the element's within 10 %
// (as LiveKit does); the largest layer if none does.
func Wanted(layers []Layer, req Request) int {
	if req.Disabled || (req.Width == 0 && req.Height == 0 && req.Quality == livekit.VideoQuality_OFF) {
		return -1
	}
	best := -1
	for i, l := range layers {
		if !l.Active {
			continue
		}
		if req.Width != 0 || req.Height != 0 {
			best = i
			have, want := shortSide(l, req)
			if float64(have) >= float64(want)*dimensionTolerance {
				return i
			}
			continue
		}
		if l.Quality <= req.Quality || best < 0 {
			best = i
		}
	}
	return best
}

// SelectorConfig tunes a Selector's hysteresis. Zero values mean defaults.
type SelectorConfig struct {
	// UpMargin: a higher layer is chosen only if the estimate exceeds its
	// bitrate by this factor (default 1.2) ...
	UpMargin float64
	// UpHold: ... continuously for this long (default 2 s).
	UpHold time.Duration
	// DownMargin: the current layer is kept while its bitrate is at most the
	// estimate times this factor (default 1.1) ...
	DownMargin float64
	// DownHold: ... and dropped once it has been above that for this long
	// (default 300 ms).
	DownHold time.Duration
	// PauseWhenShort pauses the track when even the lowest layer exceeds
	// the estimate; by default the lowest layer is kept.
	PauseWhenShort bool
}

// Defaults of SelectorConfig.
const (
	DefaultUpMargin   = 1.2
	DefaultUpHold     = 2 * time.Second
	DefaultDownMargin = 1.1
	DefaultDownHold   = 300 * time.Millisecond
)

// Validate checks the config.
func (c SelectorConfig) Validate() error {
	if c.UpMargin < 0 || c.DownMargin < 0 || c.UpHold < 0 || c.DownHold < 0 {
		return fmt.Errorf("%w: negative selector setting", ErrConfig)
	}
	if c.UpMargin != 0 && c.DownMargin != 0 && c.UpMargin < c.DownMargin {
		return fmt.Errorf("%w: up margin %v below down margin %v", ErrConfig, c.UpMargin, c.DownMargin)
	}
	return nil
}

// Selector picks one subscriber's layer of one video track. It is not safe
// for concurrent use: call it from the goroutine that owns the subscriber.
type Selector struct {
	upMargin, downMargin float64
	upHold, downHold     int64
	pauseWhenShort       bool

	cur       int
	upSince   int64 // when an upgrade first became possible; 0 = not
	upTo      int
	downSince int64 // when the current layer first stopped fitting; 0 = fits
}

// NewSelector builds a Selector that starts with no layer.
func NewSelector(cfg SelectorConfig) (*Selector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.UpMargin == 0 {
		cfg.UpMargin = DefaultUpMargin
	}
	if cfg.DownMargin == 0 {
		cfg.DownMargin = DefaultDownMargin
	}
	if cfg.UpHold == 0 {
		cfg.UpHold = DefaultUpHold
	}
	if cfg.DownHold == 0 {
		cfg.DownHold = DefaultDownHold
	}
	return &Selector{
		upMargin:       cfg.UpMargin,
		downMargin:     cfg.DownMargin,
		upHold:         int64(cfg.UpHold),
		downHold:       int64(cfg.DownHold),
		pauseWhenShort: cfg.PauseWhenShort,
		cur:            -1,
	}, nil
}

// Current is the layer chosen by the last Select (-1: paused).
func (s *Selector) Current() int { return s.cur }

// fits reports whether layer l's bitrate fits budget (0 budget: unlimited).
func fits(l Layer, budget float64) bool {
	return budget <= 0 || l.Bitrate == 0 || float64(l.Bitrate) <= budget
}

// best is the highest active layer at or below maxIdx that fits budget, or
// the lowest active one (or -1 with pauseWhenShort) if none does.
func (s *Selector) best(layers []Layer, maxIdx int, budget float64) int {
	lowest := -1
	for i := maxIdx; i >= 0; i-- {
		if !layers[i].Active {
			continue
		}
		if fits(layers[i], budget) {
			return i
		}
		lowest = i
	}
	if s.pauseWhenShort {
		return -1
	}
	return lowest
}

// Select returns the layer to forward (an index into layers, -1 to pause)
// given the subscriber's request and the bandwidth estimate for this track
// in bits/s (0: unknown, no limit). now is nanoseconds on the caller's
// monotonic clock. A lower layer is taken once the current one has not fit
// for DownHold; a higher one once it has fit with UpMargin for UpHold; a
// changed request or a layer the publisher stopped applies at once.
func (s *Selector) Select(layers []Layer, req Request, estimate uint64, now int64) int {
	maxIdx := Wanted(layers, req)
	if maxIdx < 0 {
		return s.set(-1)
	}
	est := float64(estimate)
	if s.cur < 0 || s.cur > maxIdx || s.cur >= len(layers) || !layers[s.cur].Active {
		return s.set(s.best(layers, maxIdx, est))
	}
	// Down: the current layer no longer fits.
	if !fits(layers[s.cur], est*s.downMargin) {
		if s.downSince == 0 {
			s.downSince = now + 1
		}
		if now+1-s.downSince >= s.downHold {
			return s.set(s.best(layers, s.cur, est))
		}
	} else {
		s.downSince = 0
	}
	// Up: a higher layer fits with margin, for long enough.
	up := s.best(layers, maxIdx, est/s.upMargin)
	if up > s.cur && s.downSince == 0 {
		if s.upSince == 0 || s.upTo != up {
			s.upSince, s.upTo = now+1, up
		}
		if now+1-s.upSince >= s.upHold {
			return s.set(up)
		}
	} else {
		s.upSince = 0
	}
	return s.cur
}

func (s *Selector) set(layer int) int {
	if layer != s.cur {
		s.cur = layer
		s.upSince, s.downSince = 0, 0
	}
	return layer
}
