package simulcast

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = int64(time.Millisecond)

// three is a typical camera simulcast: 180p, 360p, 720p.
func three() []Layer {
	return []Layer{
		{Quality: livekit.VideoQuality_LOW, Width: 320, Height: 180, Bitrate: 150_000, Active: true},
		{Quality: livekit.VideoQuality_MEDIUM, Width: 640, Height: 360, Bitrate: 500_000, Active: true},
		{Quality: livekit.VideoQuality_HIGH, Width: 1280, Height: 720, Bitrate: 1_700_000, Active: true},
	}
}

func portrait() []Layer {
	l := three()
	for i := range l {
		l[i].Width, l[i].Height = l[i].Height, l[i].Width
	}
	return l
}

func unsized() []Layer {
	l := three()
	for i := range l {
		l[i].Width, l[i].Height = 0, 0
	}
	return l
}

func TestWanted(t *testing.T) {
	inactiveHigh := three()
	inactiveHigh[2].Active = false
	none := three()
	for i := range none {
		none[i].Active = false
	}
	tests := []struct {
		name   string
		layers []Layer
		req    Request
		want   int
	}{
		{"high", three(), Request{Quality: livekit.VideoQuality_HIGH}, 2},
		{"medium", three(), Request{Quality: livekit.VideoQuality_MEDIUM}, 1},
		{"low", three(), Request{Quality: livekit.VideoQuality_LOW}, 0},
		{"off pauses", three(), Request{Quality: livekit.VideoQuality_OFF}, -1},
		{"disabled pauses", three(), Request{Disabled: true, Quality: livekit.VideoQuality_HIGH}, -1},
		{"dimensions: within tolerance of the small layer", three(), Request{Width: 300, Height: 200}, 0},
		{"dimensions: tall tile needs the next layer", three(), Request{Width: 200, Height: 250}, 1},
		{"dimensions: exact", three(), Request{Width: 640, Height: 360}, 1},
		{"dimensions: larger than all", three(), Request{Width: 1920, Height: 1080}, 2},
		{"dimensions: portrait source compares widths", portrait(), Request{Width: 400, Height: 700}, 1},
		{"dimensions: portrait source, narrow tile", portrait(), Request{Width: 170, Height: 900}, 0},
		{"dimensions: unannounced sizes use 180/360/720", unsized(), Request{Width: 500, Height: 300}, 1},
		{"dimensions win over quality", three(), Request{Quality: livekit.VideoQuality_LOW, Width: 1280, Height: 720}, 2},
		{"inactive layer skipped", inactiveHigh, Request{Quality: livekit.VideoQuality_HIGH}, 1},
		{"nothing active", none, Request{Quality: livekit.VideoQuality_HIGH}, -1},
		{"single layer track", []Layer{{Quality: livekit.VideoQuality_HIGH, Active: true}}, Request{Quality: livekit.VideoQuality_LOW}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Wanted(tt.layers, tt.req); got != tt.want {
				t.Fatalf("Wanted = %d, want %d", got, tt.want)
			}
		})
	}
}

// Requested sees the layers the publisher paused (dynacast): a
// subscriber asking for HIGH again must get it enabled, although nobody
// received it and so it is not active.
func TestRequested(t *testing.T) {
	paused := three()
	paused[1].Active, paused[2].Active = false, false
	for _, tt := range []struct {
		name string
		req  Request
		want int
	}{
		{"high", Request{Quality: livekit.VideoQuality_HIGH}, 2},
		{"medium", Request{Quality: livekit.VideoQuality_MEDIUM}, 1},
		{"dimensions", Request{Width: 640, Height: 360}, 1},
		{"disabled", Request{Disabled: true}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Requested(paused, tt.req); got != tt.want {
				t.Fatalf("Requested = %d, want %d", got, tt.want)
			}
			if got := Wanted(paused, tt.req); got > 0 {
				t.Fatalf("Wanted = %d among the active layers, want at most 0", got)
			}
		})
	}
}

func TestDemand(t *testing.T) {
	type op struct {
		sub     string
		layer   int // -2: remove
		changed bool
		enabled [3]bool
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"nobody watches", []op{{"a", -1, false, [3]bool{}}}},
		{"one subscriber enables the layers up to its wish", []op{{"a", 1, true, [3]bool{true, true, false}}}},
		{"highest wish wins", []op{
			{"a", 0, true, [3]bool{true, false, false}},
			{"b", 2, true, [3]bool{true, true, true}},
			{"c", 1, false, [3]bool{true, true, true}},
			{"b", -2, true, [3]bool{true, true, false}},
			{"c", 0, true, [3]bool{true, false, false}},
			{"a", -2, false, [3]bool{true, false, false}},
			{"c", -1, true, [3]bool{}},
		}},
		{"change of mind", []op{{"a", 2, true, [3]bool{true, true, true}}, {"a", 0, true, [3]bool{true, false, false}}}},
		{"wish above the layers is clamped", []op{{"a", 9, true, [3]bool{true, true, true}}}},
		{"removing a stranger", []op{{"x", -2, false, [3]bool{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDemand(3)
			for i, o := range tt.ops {
				var changed bool
				if o.layer == -2 {
					changed = d.Remove(o.sub)
				} else {
					changed = d.Set(o.sub, o.layer)
				}
				if changed != o.changed {
					t.Fatalf("op %d: changed %v, want %v", i, changed, o.changed)
				}
				for l := 0; l < 3; l++ {
					if d.Enabled(l) != o.enabled[l] {
						t.Fatalf("op %d: layer %d enabled %v, want %v", i, l, d.Enabled(l), o.enabled[l])
					}
				}
			}
		})
	}
	d := NewDemand(3)
	d.Set("a", 1)
	qs := d.SubscribedQualities([]livekit.VideoQuality{livekit.VideoQuality_LOW, livekit.VideoQuality_MEDIUM, livekit.VideoQuality_HIGH})
	if len(qs) != 3 || !qs[0].Enabled || !qs[1].Enabled || qs[2].Enabled || qs[2].Quality != livekit.VideoQuality_HIGH {
		t.Fatalf("SubscribedQualities = %v", qs)
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name   string
		bytes  int
		every  int64
		until  int64
		at     int64
		want   uint64
		within float64
	}{
		{"steady 1 Mbit/s", 1250, 10 * ms, 5000 * ms, 5000 * ms, 1_000_000, 0.05},
		{"steady 100 kbit/s", 125, 10 * ms, 3000 * ms, 3000 * ms, 100_000, 0.05},
		{"young stream is not underestimated", 1250, 10 * ms, 300 * ms, 300 * ms, 1_000_000, 0.1},
		{"silence drains the window", 1250, 10 * ms, 1000 * ms, 2500 * ms, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRate(0)
			if err != nil {
				t.Fatal(err)
			}
			for now := int64(0); now < tt.until; now += tt.every {
				r.Add(tt.bytes, now)
			}
			got := float64(r.Bitrate(tt.at))
			if d := got - float64(tt.want); d > float64(tt.want)*tt.within || -d > float64(tt.want)*tt.within {
				t.Fatalf("bitrate %.0f, want %d ± %.0f %%", got, tt.want, tt.within*100)
			}
		})
	}
	if r, _ := NewRate(0); r.Bitrate(0) != 0 {
		t.Fatal("empty rate is not 0")
	}
	if _, err := NewRate(-time.Second); !errors.Is(err, ErrConfig) {
		t.Fatal("negative window accepted")
	}
}

func TestRateConcurrentRead(t *testing.T) {
	r, err := NewRate(0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = r.Bitrate(500 * ms)
			}
		}
	}()
	for i := int64(0); i < 10000; i++ {
		r.Add(100, i*ms/10)
	}
	close(done)
	wg.Wait()
}

func BenchmarkRateAdd(b *testing.B) {
	r, _ := NewRate(0)
	b.ReportAllocs()
	var now int64
	for b.Loop() {
		r.Add(1200, now)
		now += 100_000
	}
}
