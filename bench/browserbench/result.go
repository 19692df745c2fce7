package browserbench

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/spacecast/spacecast/bench/impair"
)

// Result is one run: what each subscriber saw, what the wire carried
// and what the publisher sent.
type Result struct {
	Target string `json:"target"`
	Codec  string `json:"codec"`
	// Start is the first subscriber's T = 0 (just before its connect());
	// Seconds runs from there to the end.
	Start   time.Time `json:"start"`
	Seconds float64   `json:"seconds"`
	// PublishedMs is the publisher's connect() to published.
	PublishedMs float64 `json:"publishedMs"`

	// Subscribers are the subscribers in the order of Config.Subscribers.
	Subscribers []SubscriberResult `json:"subscribers"`
	Publisher   PublisherSummary   `json:"publisher"`

	// CPU over the subscribers' time, percent of one core: the server's
	// (when its process is known), every browser's, the whole machine's.
	ServerCPU  float64 `json:"serverCPU"`
	BrowserCPU float64 `json:"browserCPU"`
	MachineCPU float64 `json:"machineCPU"`
	// ServerRSS and BrowserRSS are resident memory at the end, bytes
	// (the browsers' summed over their processes, shared pages counted
	// in each).
	ServerRSS  float64 `json:"serverRSS"`
	BrowserRSS float64 `json:"browserRSS"`

	// Network is where the run happened (all of it deleted by now).
	Network NetworkInfo `json:"network"`

	// Server is what our edge's metrics said, second by second (empty
	// for other servers).
	Server []ServerSecond `json:"server,omitempty"`

	// PublisherSamples are the publisher page's raw per-second stats.
	PublisherSamples []PublisherSample `json:"publisherSamples"`
	// Events lists what the pages reported besides stats (errors,
	// reconnections), with the time they came on the first subscriber's
	// clock.
	Events []string `json:"events,omitempty"`
}

// SubscriberResult is one subscriber's run, on its own clock (T = 0 just
// before its room.connect()).
type SubscriberResult struct {
	// Name is "s1", "s2", ... in the order of Config.Subscribers.
	Name  string    `json:"name"`
	Link  Link      `json:"link"`
	Start time.Time `json:"start"`

	// Joining, in milliseconds from just before the subscriber's
	// room.connect(): connect() returned, the video track subscribed, its
	// first packet arrived, its first frame was decoded (TTFF) and
	// rendered. FirstKeyframeDelayMs is first frame minus first packet:
	// the wait for a keyframe. Decoded is false when no frame ever was.
	ConnectMs            float64 `json:"connectMs"`
	SubscribedMs         float64 `json:"subscribedMs"`
	FirstPacketMs        float64 `json:"firstPacketMs"`
	TTFFMs               float64 `json:"ttffMs"`
	RenderedMs           float64 `json:"renderedMs,omitempty"`
	FirstKeyframeDelayMs float64 `json:"firstKeyframeDelayMs"`
	Decoded              bool    `json:"decoded"`
	// FirstFrameAt is the first decoded frame in seconds since T = 0.
	FirstFrameAt float64 `json:"firstFrameAt"`

	// Video is the subscriber's video from its first decoded frame to the
	// end; Audio the same for audio. Use VideoWindow for another window.
	Video VideoSummary `json:"video"`
	Audio AudioSummary `json:"audio"`
	// Wire is what the tap saw between the server and this subscriber
	// (and, the same for every subscriber, the publisher's uplink).
	Wire WireResult `json:"wire"`
	// Phases are the cap schedule's steps as they happened (empty on an
	// uncapped link).
	Phases []PhaseResult `json:"phases,omitempty"`
	// Recoveries has one entry per drop of the cap; BackToTop one per
	// rise of it (see Recovery).
	Recoveries []Recovery `json:"recoveries,omitempty"`
	BackToTop  []Recovery `json:"backToTop,omitempty"`
	// LossDropped is the datagrams the loss rule dropped; Relay what the
	// delay relay did (nil when the link has no delay).
	LossDropped uint64             `json:"lossDropped,omitempty"`
	Relay       *impair.RelayStats `json:"relay,omitempty"`
	// Series has one point per second of the subscriber's time.
	Series []Second `json:"series"`
	// Samples are the page's raw per-second stats.
	Samples []SubscriberSample `json:"samples"`
}

// Recovery is how long the subscriber's video took, after a change of
// its cap at At (seconds on its clock), to reach what the change is
// judged by: after a drop, smooth playback (SmoothFPS or more for
// SmoothRun); after a rise, the top layer's height again. Seconds counts
// from the change; when Reached is false the goal never came before the
// next change or the end, and Seconds is the time there was (a lower
// bound).
type Recovery struct {
	At      float64 `json:"at"`
	From    Rate    `json:"fromBps"`
	To      Rate    `json:"toBps"`
	Seconds float64 `json:"seconds"`
	Reached bool    `json:"reached"`
}

// NetworkInfo names the run's throwaway network.
type NetworkInfo struct {
	Bridge        string           `json:"bridge"`
	Gateway       string           `json:"gateway"`
	PublisherNS   string           `json:"publisherNamespace"`
	PublisherAddr string           `json:"publisherAddr"`
	Subscribers   []SubscriberHost `json:"subscribers"`
}

// SubscriberHost is one subscriber's namespace.
type SubscriberHost struct {
	NS   string `json:"namespace"`
	Addr string `json:"addr"`
	// Veth is the root namespace's end of the subscriber's link, where
	// the shaper sits.
	Veth string `json:"veth"`
}

// WireResult is what the tap on the bridge saw.
type WireResult struct {
	// Down is what the server sent towards the subscriber, Up what the
	// publisher sent to the server.
	Down Totals `json:"down"`
	Up   Totals `json:"up"`
	// Streams are per SSRC and direction.
	Streams []Stream `json:"streams"`
	// Holes is the sequence numbers the server skipped on its way to the
	// subscriber, over every downstream SSRC, at first sight; Unfilled
	// those that never came.
	Holes    uint64 `json:"holes"`
	Unfilled uint64 `json:"unfilled"`
	// MediaResent is the packets sent again, or late, on the
	// subscriber's video SSRC itself (duplicates and late packets:
	// retransmissions on the media SSRC, or reordering; the tap is before
	// the shaper, so a packet the shaper dropped and the server resent
	// shows as a duplicate); RTXPackets those on its RTX SSRC.
	MediaResent uint64 `json:"mediaResent"`
	RTXPackets  uint64 `json:"rtxPackets"`
	// PaddingDown and PaddingUp count packets with the RTP P bit on the
	// video SSRCs each way.
	PaddingDown uint64 `json:"paddingDown"`
	PaddingUp   uint64 `json:"paddingUp"`
	// TapDrops is frames the tap's socket could not keep (its numbers are
	// short by that much).
	TapDrops uint64 `json:"tapDrops"`
}

// VideoWindow sums up the subscriber's video between from and to (time
// on its clock).
func (s SubscriberResult) VideoWindow(from, to time.Duration) VideoSummary {
	return summarizeVideo(s.Samples, from.Seconds(), to.Seconds())
}

// OfferedKbps is what the server sent towards the subscriber between
// from and to (whole seconds on its clock), on the wire before the
// shaper, in kbit/s of UDP payload.
func (s SubscriberResult) OfferedKbps(from, to int) float64 {
	var sum float64
	n := 0
	for _, p := range s.Series {
		if p.T > float64(from) && p.T <= float64(to) {
			sum += p.WireKbps
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// TimeAtHeightString lists the seconds at each height, highest first:
// "720p 30.1s, 360p 2.0s".
func (v VideoSummary) TimeAtHeightString() string {
	hs := make([]int, 0, len(v.TimeAtHeight))
	for h := range v.TimeAtHeight {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	slices.Reverse(hs)
	s := ""
	for _, h := range hs {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%dp %.1fs", h, v.TimeAtHeight[h])
	}
	return s
}

// seriesOf builds one point per whole second k = 1..n of the run: the
// video over (k-1, k] from the samples (as the second before when no
// sample came in it), what the tap saw in that second, what the shaper
// let through and the cap.
func seriesOf(samples []SubscriberSample, downBytes []uint64, delivered []qdiscCounters, sched Schedule, n int) []Second {
	out := make([]Second, 0, n)
	lastAt := func(t float64) *SubscriberSample {
		var s *SubscriberSample
		for i := range samples {
			if samples[i].Video != nil && samples[i].T <= t {
				s = &samples[i]
			}
		}
		return s
	}
	var prev Second
	for k := 1; k <= n; k++ {
		p := Second{T: float64(k)}
		a, b := lastAt(float64(k-1)), lastAt(float64(k))
		switch {
		case b == nil:
		case a == b:
			// No stats came in this second (a busy page): the video is
			// drawn as it was, not as a drop to zero.
			p.Height, p.FPS, p.Kbps = prev.Height, prev.FPS, prev.Kbps
		default:
			p.Height = b.Video.FrameHeight
			if a == nil {
				a = &SubscriberSample{TS: b.TS - 1000, Video: &InboundVideo{}}
			}
			if d := (b.TS - a.TS) / 1000; d > 0 {
				p.FPS = math.Max(0, b.Video.FramesDecoded-a.Video.FramesDecoded) / d
				p.Kbps = math.Max(0, b.Video.BytesReceived-a.Video.BytesReceived) * 8 / 1000 / d
				p.Freezes = b.Video.FreezeCount - a.Video.FreezeCount
				p.Lost = b.Video.PacketsLost - a.Video.PacketsLost
			}
		}
		prev = p
		if k-1 < len(downBytes) {
			p.WireKbps = float64(downBytes[k-1]) * 8 / 1000
		}
		if k < len(delivered) {
			d := delivered[k].minus(delivered[k-1])
			p.DeliveredKbps = float64(d.Bytes) * 8 / 1000
			p.QdiscDrops = float64(d.Drops)
		}
		p.CapKbps = float64(sched.at(time.Duration(k)*time.Second-time.Second/2)) / 1000
		out = append(out, p)
	}
	return out
}

// at is the rate in force at d.
func (s Schedule) at(d time.Duration) Rate {
	r := Off
	for _, st := range s {
		if st.At <= d {
			r = st.Rate
		}
	}
	return r
}
