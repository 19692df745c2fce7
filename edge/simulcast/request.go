package simulcast

import (
	"time"

	"github.com/livekit/protocol/livekit"
)

// MaxTemporal is the most temporal layers a layer can carry (VP8's TID is
// two bits).
const MaxTemporal = 4

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
	// Temporals is the number of temporal layers the layer carries (VP8
	// from Chromium's simulcast: 3, at 7.5, 15 and 30 fps); 0 or 1: none
	// that the edge can drop.
	Temporals int
	// Temporal[t] is the measured bitrate of temporal layers 0..t
	// (cumulative), bits/s, for t < Temporals.
	Temporal [MaxTemporal]uint64
	// Ramping: the layer has been received for less than its encoder
	// takes to reach its rate (a browser's encoder starts low and climbs
	// for seconds), so Bitrate understates what it will cost.
	Ramping bool
}

// RampWindow is how long after its first packet a layer is Ramping.
const RampWindow = 5 * time.Second

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
func Wanted(layers []Layer, req Request) int { return wanted(layers, req, true) }

// Requested is the layer the request asks for among all the layers the
// publisher announced, sent now or not, or -1 for none: what the
// publisher must send for this subscriber (dynacast). A layer nobody
// requested is paused at the publisher and so not active; Wanted, which
// only sees active layers, would never ask for it back.
func Requested(layers []Layer, req Request) int { return wanted(layers, req, false) }

func wanted(layers []Layer, req Request, activeOnly bool) int {
	if req.Disabled || (req.Width == 0 && req.Height == 0 && req.Quality == livekit.VideoQuality_OFF) {
		return -1
	}
	best := -1
	for i, l := range layers {
		if activeOnly && !l.Active {
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
