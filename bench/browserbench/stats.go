package browserbench

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// VideoSummary is the subscriber's video over a window of the run, from
// its getStats() counters: each count is the difference between the last
// sample in the window and the last one before it (or the stream's start).
type VideoSummary struct {
	From    float64 `json:"from"` // seconds on the run's clock
	To      float64 `json:"to"`
	Seconds float64 `json:"seconds"` // covered by samples
	// Freezes and FreezeSeconds come from freezeCount and
	// totalFreezesDuration (a freeze: no frame for max(3 × the mean frame
	// interval, 150 ms + the mean)); Pauses likewise.
	Freezes       float64 `json:"freezes"`
	FreezeSeconds float64 `json:"freezeSeconds"`
	Pauses        float64 `json:"pauses"`
	PauseSeconds  float64 `json:"pauseSeconds"`
	// FPSp10 and FPSp50 are percentiles of the frames decoded per second,
	// second by second.
	FPSp10 float64 `json:"fpsP10"`
	FPSp50 float64 `json:"fpsP50"`
	// HeightP50 is the median decoded height over time; TimeAtHeight the
	// seconds spent at each height.
	HeightP50    float64         `json:"heightP50"`
	TimeAtHeight map[int]float64 `json:"timeAtHeight"`
	// Kbps is the video received (RTP payload), kbit/s.
	Kbps            float64 `json:"kbps"`
	FramesDecoded   float64 `json:"framesDecoded"`
	FramesDropped   float64 `json:"framesDropped"`
	KeyFrames       float64 `json:"keyFramesDecoded"`
	PacketsReceived float64 `json:"packetsReceived"`
	PacketsLost     float64 `json:"packetsLost"`
	NACKs           float64 `json:"nacks"`
	PLIs            float64 `json:"plis"`
	FIRs            float64 `json:"firs"`
	// Retransmitted is the packets the subscriber counted as
	// retransmissions (received on the RTX stream).
	Retransmitted float64 `json:"retransmitted"`
	// JitterBufferMs is the mean time a frame waited in the jitter buffer;
	// DecodeMs the mean decode time per frame.
	JitterBufferMs float64 `json:"jitterBufferMs"`
	DecodeMs       float64 `json:"decodeMs"`
}

// AudioSummary is the subscriber's audio over a window.
type AudioSummary struct {
	PacketsReceived float64 `json:"packetsReceived"`
	PacketsLost     float64 `json:"packetsLost"`
	// Concealed is the share of samples the decoder had to make up
	// (concealedSamples over totalSamplesReceived); ConcealmentEvents
	// the times it started making them up.
	Concealed         float64 `json:"concealed"`
	ConcealmentEvents float64 `json:"concealmentEvents"`
	Kbps              float64 `json:"kbps"`
	JitterBufferMs    float64 `json:"jitterBufferMs"`
}

// Second is one point of the run's time series.
type Second struct {
	T       float64 `json:"t"` // seconds on the run's clock
	Height  float64 `json:"height"`
	FPS     float64 `json:"fps"`     // frames decoded per second
	Kbps    float64 `json:"kbps"`    // video received
	Freezes float64 `json:"freezes"` // freezes that began in this second
	Lost    float64 `json:"lost"`
	// WireKbps is what the server sent towards the subscriber (before the
	// shaper), DeliveredKbps what the shaper let through (while shaped),
	// CapKbps the cap (0: unshaped).
	WireKbps      float64 `json:"wireKbps"`
	DeliveredKbps float64 `json:"deliveredKbps,omitempty"`
	CapKbps       float64 `json:"capKbps"`
	QdiscDrops    float64 `json:"qdiscDrops,omitempty"`
}

// window returns the samples with a video record and T in (from, to],
// and the last one at or before from (nil: the stream's start).
func videoWindow(samples []SubscriberSample, from, to float64) (base *SubscriberSample, in []SubscriberSample) {
	for i := range samples {
		s := samples[i]
		if s.Video == nil {
			continue
		}
		switch {
		case s.T <= from:
			base = &samples[i]
		case s.T <= to:
			in = append(in, s)
		}
	}
	return base, in
}

// summarizeVideo sums up the subscriber's video over (from, to].
func summarizeVideo(samples []SubscriberSample, from, to float64) VideoSummary {
	v := VideoSummary{From: from, To: to, TimeAtHeight: map[int]float64{}}
	base, in := videoWindow(samples, from, to)
	if len(in) == 0 {
		return v
	}
	prev := InboundVideo{}
	prevTS := in[0].TS - 1000 // the first interval of a stream: one second
	if base != nil {
		prev, prevTS = *base.Video, base.TS
	}
	first := prev
	var fps []float64
	type hs struct{ h, d float64 }
	var heights []hs
	for _, s := range in {
		cur := *s.Video
		d := (s.TS - prevTS) / 1000
		if d > 0 {
			fps = append(fps, math.Max(0, cur.FramesDecoded-prev.FramesDecoded)/d)
			v.TimeAtHeight[int(cur.FrameHeight)] += d
			heights = append(heights, hs{cur.FrameHeight, d})
			v.Seconds += d
		}
		prev, prevTS = cur, s.TS
	}
	last := prev
	v.Freezes = last.FreezeCount - first.FreezeCount
	v.FreezeSeconds = last.TotalFreezesDuration - first.TotalFreezesDuration
	v.Pauses = last.PauseCount - first.PauseCount
	v.PauseSeconds = last.TotalPausesDuration - first.TotalPausesDuration
	v.FramesDecoded = last.FramesDecoded - first.FramesDecoded
	v.FramesDropped = last.FramesDropped - first.FramesDropped
	v.KeyFrames = last.KeyFramesDecoded - first.KeyFramesDecoded
	v.PacketsReceived = last.PacketsReceived - first.PacketsReceived
	v.PacketsLost = last.PacketsLost - first.PacketsLost
	v.NACKs = last.NackCount - first.NackCount
	v.PLIs = last.PliCount - first.PliCount
	v.FIRs = last.FirCount - first.FirCount
	v.Retransmitted = last.RetransmittedPacketsReceived - first.RetransmittedPacketsReceived
	if v.Seconds > 0 {
		v.Kbps = (last.BytesReceived - first.BytesReceived) * 8 / 1000 / v.Seconds
	}
	if n := last.JitterBufferEmittedCount - first.JitterBufferEmittedCount; n > 0 {
		v.JitterBufferMs = (last.JitterBufferDelay - first.JitterBufferDelay) / n * 1000
	}
	if v.FramesDecoded > 0 {
		v.DecodeMs = (last.TotalDecodeTime - first.TotalDecodeTime) / v.FramesDecoded * 1000
	}
	v.FPSp10, v.FPSp50 = percentile(fps, 0.10), percentile(fps, 0.50)
	// The median height over time: sort by height, walk to half the time.
	slices.SortFunc(heights, func(a, b hs) int { return cmp.Compare(a.h, b.h) })
	var acc float64
	for _, x := range heights {
		acc += x.d
		if acc >= v.Seconds/2 {
			v.HeightP50 = x.h
			break
		}
	}
	return v
}

// summarizeAudio sums up the subscriber's audio over (from, to].
func summarizeAudio(samples []SubscriberSample, from, to float64) AudioSummary {
	var a AudioSummary
	var first, last *SubscriberSample
	for i := range samples {
		s := &samples[i]
		if s.Audio == nil {
			continue
		}
		switch {
		case s.T <= from:
			first = s
		case s.T <= to:
			if first == nil {
				first = &SubscriberSample{TS: s.TS - 1000, Audio: &InboundAudio{}}
			}
			last = s
		}
	}
	if first == nil || last == nil {
		return a
	}
	f, l := first.Audio, last.Audio
	a.PacketsReceived = l.PacketsReceived - f.PacketsReceived
	a.PacketsLost = l.PacketsLost - f.PacketsLost
	if n := l.TotalSamplesReceived - f.TotalSamplesReceived; n > 0 {
		a.Concealed = (l.ConcealedSamples - f.ConcealedSamples) / n
	}
	a.ConcealmentEvents = l.ConcealmentEvents - f.ConcealmentEvents
	if d := (last.TS - first.TS) / 1000; d > 0 {
		a.Kbps = (l.BytesReceived - f.BytesReceived) * 8 / 1000 / d
	}
	if n := l.JitterBufferEmittedCount - f.JitterBufferEmittedCount; n > 0 {
		a.JitterBufferMs = (l.JitterBufferDelay - f.JitterBufferDelay) / n * 1000
	}
	return a
}

// percentile is the nearest-rank q-quantile of v (0 when empty).
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median of v (0 when empty), the mean of the two middle values for an
// even count.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// PublisherSummary is what the publisher's encoder did over the run.
type PublisherSummary struct {
	// Layers has one entry per rid (or one for an SVC encoding).
	Layers []LayerSummary `json:"layers"`
	// Limitation counts the seconds by the top active layer's
	// qualityLimitationReason (none, cpu, bandwidth, other).
	Limitation map[string]float64 `json:"limitation"`
	// LimitedShare is the share of those seconds not "none".
	LimitedShare float64 `json:"limitedShare"`
	// Reason is the most frequent reason.
	Reason string `json:"reason"`
	// Encoder is the encoder implementation Chromium reported.
	Encoder string `json:"encoder,omitempty"`
}

// LayerSummary is one publisher layer over the run.
type LayerSummary struct {
	RID           string  `json:"rid"`
	HeightP50     float64 `json:"heightP50"`
	FPSp50        float64 `json:"fpsP50"`
	Kbps          float64 `json:"kbps"`
	Retransmitted float64 `json:"retransmitted"`
	NACKs         float64 `json:"nacks"`
	PLIs          float64 `json:"plis"`
	KeyFrames     float64 `json:"keyFrames"`
}

// summarizePublisher sums up the publisher's samples in (from, to].
func summarizePublisher(samples []PublisherSample, from, to float64) PublisherSummary {
	ps := PublisherSummary{Limitation: map[string]float64{}}
	type acc struct {
		first, last     OutboundLayer
		firstTS, lastTS float64
		heights, fps    []float64
	}
	byRID := map[string]*acc{}
	var rids []string
	for _, s := range samples {
		if s.T > to {
			break
		}
		var top *OutboundLayer
		for i := range s.Layers {
			l := s.Layers[i]
			a := byRID[l.RID]
			if a == nil {
				a = &acc{first: l, firstTS: s.TS}
				byRID[l.RID] = a
				rids = append(rids, l.RID)
			}
			if s.T <= from {
				a.first, a.firstTS = l, s.TS
				continue
			}
			a.last, a.lastTS = l, s.TS
			a.heights = append(a.heights, l.FrameHeight)
			a.fps = append(a.fps, l.FramesPerSecond)
			if l.Active == nil || *l.Active {
				if top == nil || l.FrameHeight > top.FrameHeight {
					top = &s.Layers[i]
				}
			}
			if l.EncoderImplementation != "" {
				ps.Encoder = l.EncoderImplementation
			}
		}
		if top != nil && s.T > from {
			r := top.QualityLimitationReason
			if r == "" {
				r = "none"
			}
			ps.Limitation[r]++
		}
	}
	for _, rid := range rids {
		a := byRID[rid]
		l := LayerSummary{RID: rid, HeightP50: median(a.heights), FPSp50: median(a.fps)}
		if d := (a.lastTS - a.firstTS) / 1000; d > 0 {
			l.Kbps = (a.last.BytesSent - a.first.BytesSent) * 8 / 1000 / d
		}
		l.Retransmitted = a.last.RetransmittedPacketsSent - a.first.RetransmittedPacketsSent
		l.NACKs = a.last.NackCount - a.first.NackCount
		l.PLIs = a.last.PliCount - a.first.PliCount
		l.KeyFrames = a.last.KeyFramesEncoded - a.first.KeyFramesEncoded
		ps.Layers = append(ps.Layers, l)
	}
	slices.SortFunc(ps.Layers, func(a, b LayerSummary) int { return cmp.Compare(a.HeightP50, b.HeightP50) })
	var total, limited, best float64
	for r, n := range ps.Limitation {
		total += n
		if r != "none" {
			limited += n
		}
		if n > best || (n == best && r < ps.Reason) {
			best, ps.Reason = n, r
		}
	}
	if total > 0 {
		ps.LimitedShare = limited / total
	}
	return ps
}

// PathFreezes counts subscriber i's freezes between from and to (on its
// clock) that the publisher does not explain. A freeze in a second
// in which the publisher encoded the layer the subscriber was decoding (the
// one of the same height) at under three quarters of that layer's median
// frame rate is its encoder's (a starved CPU, a stalled camera): no server
// could have delivered frames that were never made. The rest are the
// path's: the server's, the network's, the subscriber's.
func (r Result) PathFreezes(i int, from, to time.Duration) float64 {
	sub := r.Subscribers[i]
	// The publisher's samples are on the first subscriber's clock.
	shift := sub.Start.Sub(r.Start).Seconds()
	base, in := videoWindow(sub.Samples, from.Seconds(), to.Seconds())
	prev, prevT := 0.0, from.Seconds()
	if base != nil {
		prev, prevT = base.Video.FreezeCount, base.T
	} else if len(in) > 0 {
		prev = in[0].Video.FreezeCount
	}
	n := 0.0
	for _, s := range in {
		d := s.Video.FreezeCount - prev
		if d > 0 && !r.publisherStalled(s.Video.FrameHeight, prevT-1+shift, s.T+shift) {
			n += d
		}
		prev, prevT = s.Video.FreezeCount, s.T
	}
	return n
}

// publisherStalled reports whether the publisher's layer of that height
// was encoded at under 3/4 of its median frame rate at some point between
// from and to (seconds on the run's clock).
func (r Result) publisherStalled(height, from, to float64) bool {
	var all []float64
	low := math.Inf(1)
	for _, p := range r.PublisherSamples {
		for _, l := range p.Layers {
			if l.FrameHeight != height || l.FramesPerSecond <= 0 {
				continue
			}
			all = append(all, l.FramesPerSecond)
			if p.T >= from && p.T <= to+1 {
				low = min(low, l.FramesPerSecond)
			}
		}
	}
	if len(all) == 0 || math.IsInf(low, 1) {
		return false
	}
	slices.Sort(all)
	return low < 0.75*all[len(all)/2]
}
