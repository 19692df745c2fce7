package browserbench

import (
	"math"
	"testing"
	"time"
)

// videoSample is one second of a subscriber's stats: cumulative frames
// decoded, freezes and their duration, the height, bytes received.
func videoSample(t, frames, freezes, freezeSecs, height, bytes float64) SubscriberSample {
	return SubscriberSample{T: t, TS: 1e12 + t*1000, Video: &InboundVideo{
		FramesDecoded: frames, FreezeCount: freezes, TotalFreezesDuration: freezeSecs,
		FrameHeight: height, BytesReceived: bytes,
		PacketsLost: freezes * 10, NackCount: freezes * 3, PliCount: freezes,
		JitterBufferDelay: frames * 0.05, JitterBufferEmittedCount: frames,
	}}
}

// call is ten seconds: 30 fps at 720p, a 1.5 s freeze in second 4, then
// 15 fps at 360p from second 7.
func call() []SubscriberSample {
	return []SubscriberSample{
		videoSample(1, 0, 0, 0, 0, 0), // before the first frame
		videoSample(2, 30, 0, 0, 720, 125_000),
		videoSample(3, 60, 0, 0, 720, 250_000),
		videoSample(4, 75, 1, 1.5, 720, 300_000),
		videoSample(5, 105, 1, 1.5, 720, 425_000),
		videoSample(6, 135, 1, 1.5, 720, 550_000),
		videoSample(7, 150, 1, 1.5, 360, 600_000),
		videoSample(8, 165, 1, 1.5, 360, 650_000),
		videoSample(9, 180, 1, 1.5, 360, 700_000),
		videoSample(10, 195, 1, 1.5, 360, 750_000),
	}
}

func TestSummarizeVideo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to float64
		want     VideoSummary
	}{
		{"whole call from the first frame", 1, 10, VideoSummary{
			Freezes: 1, FreezeSeconds: 1.5, FPSp10: 15, FPSp50: 15, HeightP50: 720, Seconds: 9,
			FramesDecoded: 195, Kbps: 750_000 * 8 / 1000 / 9.0, PacketsLost: 10, NACKs: 3, PLIs: 1, JitterBufferMs: 50,
			TimeAtHeight: map[int]float64{720: 5, 360: 4},
		}},
		{"a window after the freeze counts none", 5, 10, VideoSummary{
			Freezes: 0, FPSp10: 15, FPSp50: 15, HeightP50: 360, Seconds: 5, FramesDecoded: 90,
			Kbps: 325_000 * 8 / 1000 / 5.0, JitterBufferMs: 50,
			TimeAtHeight: map[int]float64{720: 1, 360: 4},
		}},
		{"a window around the freeze", 3, 5, VideoSummary{
			Freezes: 1, FreezeSeconds: 1.5, FPSp10: 15, FPSp50: 15, HeightP50: 720, Seconds: 2, FramesDecoded: 45,
			Kbps: 175_000 * 8 / 1000 / 2.0, PacketsLost: 10, NACKs: 3, PLIs: 1, JitterBufferMs: 50,
			TimeAtHeight: map[int]float64{720: 2},
		}},
		{"from the stream's start (no sample before)", 0, 3, VideoSummary{
			FPSp10: 0, FPSp50: 30, HeightP50: 720, Seconds: 3, FramesDecoded: 60, Kbps: 250_000 * 8 / 1000 / 3.0, JitterBufferMs: 50,
			TimeAtHeight: map[int]float64{0: 1, 720: 2},
		}},
		{"an empty window", 20, 30, VideoSummary{TimeAtHeight: map[int]float64{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summarizeVideo(call(), tc.from, tc.to)
			tc.want.From, tc.want.To = tc.from, tc.to
			if !sameSummary(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func sameSummary(a, b VideoSummary) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-6 }
	if len(a.TimeAtHeight) != len(b.TimeAtHeight) {
		return false
	}
	for h, d := range b.TimeAtHeight {
		if !near(a.TimeAtHeight[h], d) {
			return false
		}
	}
	pairs := [][2]float64{
		{a.From, b.From}, {a.To, b.To}, {a.Seconds, b.Seconds}, {a.Freezes, b.Freezes}, {a.FreezeSeconds, b.FreezeSeconds},
		{a.FPSp10, b.FPSp10}, {a.FPSp50, b.FPSp50}, {a.HeightP50, b.HeightP50}, {a.Kbps, b.Kbps},
		{a.FramesDecoded, b.FramesDecoded}, {a.PacketsLost, b.PacketsLost}, {a.NACKs, b.NACKs}, {a.PLIs, b.PLIs},
		{a.JitterBufferMs, b.JitterBufferMs},
	}
	for _, p := range pairs {
		if !near(p[0], p[1]) {
			return false
		}
	}
	return true
}

func TestPercentileAndMedian(t *testing.T) {
	for _, tc := range []struct {
		v         []float64
		q, want   float64
		wantMedia float64
	}{
		{nil, 0.5, 0, 0},
		{[]float64{7}, 0.1, 7, 7},
		{[]float64{30, 0, 29, 31, 30, 30, 30, 30, 30, 28}, 0.1, 0, 30},
		{[]float64{30, 0, 29, 31, 30, 30, 30, 30, 30, 28}, 0.2, 28, 30},
		{[]float64{4, 1, 3, 2}, 0.5, 2, 2.5},
	} {
		if got := percentile(tc.v, tc.q); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.v, tc.q, got, tc.want)
		}
		if got := median(tc.v); got != tc.wantMedia {
			t.Errorf("median(%v) = %v, want %v", tc.v, got, tc.wantMedia)
		}
	}
}

func TestSummarizeAudio(t *testing.T) {
	s := []SubscriberSample{
		{T: 1, TS: 1000, Audio: &InboundAudio{TotalSamplesReceived: 48000, ConcealedSamples: 0, PacketsReceived: 50, BytesReceived: 4000}},
		{T: 2, TS: 2000, Audio: &InboundAudio{TotalSamplesReceived: 96000, ConcealedSamples: 960, PacketsReceived: 99, PacketsLost: 1, BytesReceived: 8000,
			JitterBufferDelay: 2, JitterBufferEmittedCount: 40}},
	}
	a := summarizeAudio(s, 1, 2)
	if math.Abs(a.Concealed-0.02) > 1e-9 || a.PacketsReceived != 49 || a.PacketsLost != 1 || a.Kbps != 32 || a.JitterBufferMs != 50 {
		t.Fatalf("audio %+v", a)
	}
}

func TestSummarizePublisher(t *testing.T) {
	layer := func(rid string, h, fps, bytes float64, reason string) OutboundLayer {
		return OutboundLayer{RID: rid, FrameHeight: h, FramesPerSecond: fps, BytesSent: bytes, QualityLimitationReason: reason}
	}
	off := false
	var s []PublisherSample
	for i := range 5 {
		reason := "none"
		if i >= 3 {
			reason = "bandwidth"
		}
		top := layer("f", 720, 30, float64(i)*150_000, reason)
		if i == 4 {
			top.Active = &off // paused: the top active layer is h
		}
		s = append(s, PublisherSample{T: float64(i), TS: float64(i) * 1000, Layers: []OutboundLayer{
			layer("q", 180, 30, float64(i)*20_000, "none"), layer("h", 360, 30, float64(i)*60_000, "cpu"), top,
		}})
	}
	p := summarizePublisher(s, 0, 10)
	if len(p.Layers) != 3 || p.Layers[0].RID != "q" || p.Layers[2].RID != "f" || p.Layers[2].HeightP50 != 720 {
		t.Fatalf("layers %+v", p.Layers)
	}
	if math.Abs(p.Layers[2].Kbps-1200) > 1e-9 {
		t.Fatalf("f at %v kbit/s, want 1200", p.Layers[2].Kbps)
	}
	// Seconds 1-4 (0 is the baseline): none, none, bandwidth (f), cpu (h, f paused).
	want := map[string]float64{"none": 2, "bandwidth": 1, "cpu": 1}
	for r, n := range want {
		if p.Limitation[r] != n {
			t.Fatalf("limitation %v, want %v", p.Limitation, want)
		}
	}
	if p.LimitedShare != 0.5 || p.Reason != "none" {
		t.Fatalf("limited share %v, reason %q", p.LimitedShare, p.Reason)
	}
}

func TestSeriesOf(t *testing.T) {
	sched := Schedule{{At: 0, Rate: Off}, {At: 2 * time.Second, Rate: 500_000}}
	delivered := []qdiscCounters{{}, {}, {}, {Bytes: 50_000, Drops: 3}, {Bytes: 110_000, Drops: 3}}
	down := []uint64{10_000, 20_000, 90_000, 70_000}
	samples := append(call()[:4:4], videoSample(6, 135, 1, 1.5, 720, 550_000)) // none in (4, 5]
	got := seriesOf(samples, down, delivered, sched, 5)
	if len(got) != 5 {
		t.Fatalf("%d points", len(got))
	}
	want := []Second{
		{T: 1, Height: 0, WireKbps: 80},
		{T: 2, Height: 720, FPS: 30, Kbps: 1000, WireKbps: 160},
		{T: 3, Height: 720, FPS: 30, Kbps: 1000, WireKbps: 720, DeliveredKbps: 400, QdiscDrops: 3, CapKbps: 500},
		{T: 4, Height: 720, FPS: 15, Kbps: 400, Freezes: 1, Lost: 10, WireKbps: 560, DeliveredKbps: 480, CapKbps: 500},
		{T: 5, Height: 720, FPS: 15, Kbps: 400, CapKbps: 500}, // no sample: as before
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("second %d: got %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

func TestTimeAtHeightString(t *testing.T) {
	v := VideoSummary{TimeAtHeight: map[int]float64{180: 2, 720: 30.06, 360: 1}}
	if got := v.TimeAtHeightString(); got != "720p 30.1s, 360p 1.0s, 180p 2.0s" {
		t.Fatalf("got %q", got)
	}
}

// A freeze while the publisher kept encoding is the path's; one while it
// encoded the same layer at under 3/4 of its usual rate is its own.
func TestPathFreezes(t *testing.T) {
	r := Result{Subscribers: []SubscriberResult{{Name: "s1"}}}
	freezes := map[int]float64{5: 1, 10: 2, 15: 3}
	count := 0.0
	for s := 1; s <= 20; s++ {
		if n, ok := freezes[s]; ok {
			count = n
		}
		r.Subscribers[0].Samples = append(r.Subscribers[0].Samples, SubscriberSample{T: float64(s), Video: &InboundVideo{FreezeCount: count, FrameHeight: 360}})
		fps := 30.0
		if s == 10 {
			fps = 14 // the encoder stalled: the freeze at 10 s is its
		}
		r.PublisherSamples = append(r.PublisherSamples, PublisherSample{T: float64(s) - 0.3, Layers: []OutboundLayer{
			{RID: "h", FrameHeight: 360, FramesPerSecond: fps}, {RID: "q", FrameHeight: 180, FramesPerSecond: 5}}})
	}
	if got := r.PathFreezes(0, 0, 20*time.Second); got != 2 {
		t.Fatalf("path freezes %v, want 2 (at 5 s and 15 s)", got)
	}
	if got := r.PathFreezes(0, 6*time.Second, 14*time.Second); got != 0 {
		t.Fatalf("path freezes %v in 6–14 s, want 0", got)
	}
}

// secondsOf is a series with the given fps, one point a second from 1.
func secondsOf(fps ...float64) []Second {
	out := make([]Second, len(fps))
	for i, f := range fps {
		out[i] = Second{T: float64(i + 1), FPS: f}
	}
	return out
}

// TestRecoveries: a drop is judged by the first SmoothRun seconds at
// SmoothFPS or more after it, a rise by the first sample at the top
// height after it; a cap set at T = 0 is no change; a goal never reached
// counts the time there was.
func TestRecoveries(t *testing.T) {
	drop := Schedule{{0, Off}, {5 * time.Second, 400_000}, {12 * time.Second, Off}}
	// Smooth to 5 s, stalls 6–8, 18+ (20 fps within the tolerance) from 9
	// s on (the second (8, 9]); 17 is not.
	series := secondsOf(30, 30, 30, 30, 30, 12, 5, 17, 18, 25, 21, 30, 30, 30, 30, 30)
	var samples []SubscriberSample
	for i, h := range []float64{720, 720, 720, 720, 720, 360, 180, 180, 180, 180, 180, 180, 180, 360, 720, 720} {
		samples = append(samples, SubscriberSample{T: float64(i+1) - 0.2, Video: &InboundVideo{FrameHeight: h}})
	}
	drops, rises := recoveries(series, samples, drop, 720, 16)
	if len(drops) != 1 || !drops[0].Reached || drops[0].Seconds != 3 || drops[0].From != Off || drops[0].To != 400_000 {
		t.Fatalf("drops %+v: want smooth again 3 s after the drop at 5 s (seconds 9–11)", drops)
	}
	if len(rises) != 1 || !rises[0].Reached || math.Abs(rises[0].Seconds-2.8) > 1e-9 {
		t.Fatalf("rises %+v: want 720p again 2.8 s after the rise at 12 s", rises)
	}

	// Never smooth before the cap is lifted; never back at the top.
	still := secondsOf(30, 30, 30, 30, 30, 10, 10, 10, 10, 10, 25, 25, 25, 25, 25, 25)
	low := samples[:13]
	drops, rises = recoveries(still, low, drop, 720, 16)
	if drops[0].Reached || drops[0].Seconds != 7 || rises[0].Reached || rises[0].Seconds != 4 {
		t.Fatalf("drops %+v rises %+v: want 7 s (the drop's length) and 4 s (to the end), not reached", drops, rises)
	}

	// No dip at all: smooth from the drop on.
	drops, _ = recoveries(secondsOf(30, 30, 30, 30, 30, 30, 30, 30, 30, 30), nil, drop, 720, 10)
	if !drops[0].Reached || drops[0].Seconds != 0 {
		t.Fatalf("drops %+v: want 0 s when playback never stopped being smooth", drops)
	}

	// A fixed cap from T = 0 is the link, not a change; so is an
	// unchanged rate.
	if d, r := recoveries(series, samples, Fixed(500_000), 720, 16); len(d)+len(r) != 0 {
		t.Fatalf("a fixed cap judged as changes: %+v %+v", d, r)
	}
	if !hasDrop(Link{Shaping: drop}) || !hasRise(Link{Shaping: drop}) || hasDrop(Link{Shaping: Fixed(500_000)}) {
		t.Fatal("hasDrop/hasRise")
	}
}
