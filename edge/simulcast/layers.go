package simulcast

import (
	"slices"

	"github.com/livekit/protocol/livekit"
)

// FromVideoLayers converts the layers a publisher announced in its
// AddTrackRequest/TrackInfo into Layers, lowest quality first, all active,
// with the announced target bitrate as the first guess until Rate measures
// the real one. Entries with a quality above HIGH are skipped.
func FromVideoLayers(vl []*livekit.VideoLayer) []Layer {
	out := make([]Layer, 0, len(vl))
	for _, l := range vl {
		if l == nil || l.Quality > livekit.VideoQuality_HIGH {
			continue
		}
		out = append(out, Layer{Quality: l.Quality, Width: l.Width, Height: l.Height, Bitrate: uint64(l.Bitrate), Active: true})
	}
	slices.SortStableFunc(out, func(a, b Layer) int { return int(a.Quality) - int(b.Quality) })
	return out
}

// RIDToLayer maps a simulcast RTP stream id (RFC 8851) to a layer index of a
// track with n layers. LiveKit clients name their encodings "q", "h", "f"
// (quarter, half, full resolution) or "2", "1", "0"; a track with fewer
// layers uses the lowest names first, so "f" of a two-layer track is layer
// 1. An empty or unknown rid is layer 0.
func RIDToLayer(rid string, n int) int {
	var i int
	switch rid {
	case "q", "2":
		i = 0
	case "h", "1":
		i = 1
	case "f", "0":
		i = 2
	}
	return max(min(i, n-1), 0)
}
