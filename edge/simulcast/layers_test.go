package simulcast

import (
	"testing"

	"github.com/livekit/protocol/livekit"
)

func TestRIDToLayer(t *testing.T) {
	tests := []struct {
		rid  string
		n    int
		want int
	}{
		{"q", 3, 0}, {"h", 3, 1}, {"f", 3, 2},
		{"2", 3, 0}, {"1", 3, 1}, {"0", 3, 2},
		{"q", 2, 0}, {"h", 2, 1}, {"f", 2, 1},
		{"f", 1, 0}, {"", 3, 0}, {"x", 3, 0}, {"h", 0, 0},
	}
	for _, tt := range tests {
		if got := RIDToLayer(tt.rid, tt.n); got != tt.want {
			t.Errorf("RIDToLayer(%q, %d) = %d, want %d", tt.rid, tt.n, got, tt.want)
		}
	}
}

func TestFromVideoLayers(t *testing.T) {
	got := FromVideoLayers([]*livekit.VideoLayer{
		{Quality: livekit.VideoQuality_HIGH, Width: 1280, Height: 720, Bitrate: 1_700_000},
		nil,
		{Quality: livekit.VideoQuality_LOW, Width: 320, Height: 180, Bitrate: 150_000},
		{Quality: livekit.VideoQuality_OFF},
		{Quality: livekit.VideoQuality_MEDIUM, Width: 640, Height: 360, Bitrate: 500_000},
	})
	want := three()
	if len(got) != len(want) {
		t.Fatalf("got %d layers", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("layer %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
