package simulcast

import (
	"testing"

	"github.com/livekit/protocol/livekit"
)

func TestAllocate(t *testing.T) {
	high := Request{Quality: livekit.VideoQuality_HIGH}
	cam := func(p int) Track { return Track{Layers: three(), Request: high, Priority: p} }
	// The layer each track's Selector picks with its budget (no hysteresis:
	// a fresh Selector).
	tests := []struct {
		name     string
		estimate uint64
		tracks   []Track
		want     []int
	}{
		{"unknown estimate: everything", 0, []Track{cam(0), cam(0)}, []int{2, 2}},
		{"plenty", 10_000_000, []Track{cam(0), cam(0)}, []int{2, 2}},
		{"screen share first", 2_000_000, []Track{cam(PriorityNormal), cam(PriorityScreen)}, []int{0, 2}},
		{"speaker before the others", 2_500_000, []Track{cam(0), cam(PrioritySpeaker), cam(0)}, []int{1, 2, 0}},
		{"equal tracks share fairly", 1_400_000, []Track{cam(0), cam(0)}, []int{1, 1}},
		{"starved: least important loses its layer", 200_000, []Track{cam(0), cam(PriorityScreen)}, []int{-1, 0}},
		{"a paused track costs nothing", 1_800_000, []Track{{Layers: three(), Request: Request{Disabled: true}}, cam(0)}, []int{-1, 2}},
		{"requests cap the allocation", 10_000_000, []Track{{Layers: three(), Request: Request{Quality: livekit.VideoQuality_LOW}}, cam(0)}, []int{0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Allocator
			budgets := a.Allocate(tt.estimate, tt.tracks, nil)
			var sum uint64
			for i, tr := range tt.tracks {
				s, err := NewSelector(SelectorConfig{PauseWhenShort: true})
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Select(tr.Layers, tr.Request, budgets[i], 0); got != tt.want[i] {
					t.Fatalf("track %d: layer %d with budget %d, want %d (budgets %v)", i, got, budgets[i], tt.want[i], budgets)
				}
				if budgets[i] > 1 {
					sum += budgets[i]
				}
			}
			if tt.estimate > 0 && sum > tt.estimate {
				t.Fatalf("budgets %v exceed the estimate %d", budgets, tt.estimate)
			}
		})
	}
}

func TestAllocateNoAllocs(t *testing.T) {
	var a Allocator
	tracks := []Track{
		{Layers: three(), Request: Request{Quality: livekit.VideoQuality_HIGH}},
		{Layers: three(), Request: Request{Quality: livekit.VideoQuality_HIGH}, Priority: PriorityScreen},
	}
	out := a.Allocate(1_000_000, tracks, nil)
	if n := testing.AllocsPerRun(100, func() { out = a.Allocate(1_000_000, tracks, out) }); n != 0 {
		t.Fatalf("%v allocations per Allocate", n)
	}
}
