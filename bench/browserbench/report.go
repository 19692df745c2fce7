package browserbench

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spacecast/spacecast/bench/result"
)

// metric is one figure of a run that the bench reports per server (the
// median over its runs): of each subscriber, or of the run as a whole.
type metric struct {
	name, unit, help string
	get              func(Result, SubscriberResult) float64
	// ratio adds <name>_<a>_over_<b> for two servers side by side.
	ratio bool
	// run: a figure of the run (the publisher, CPU), not of a subscriber.
	run bool
	// when: only for subscribers whose link has this (nil: always).
	when func(Link) bool
}

func shaped(l Link) bool { return l.Shaping.Shaped() }
func lossy(l Link) bool  { return l.Loss > 0 }
func delayed(l Link) bool {
	return l.Delayed()
}

// hasDrop and hasRise: the schedule lowers (raises) the cap after T = 0.
func hasDrop(l Link) bool {
	d, _ := recoveries(nil, nil, l.Shaping, 0, math.Inf(1))
	return len(d) > 0
}

func hasRise(l Link) bool {
	_, r := recoveries(nil, nil, l.Shaping, 0, math.Inf(1))
	return len(r) > 0
}

// capped sums up the capped phases of a subscriber: time-weighted cap
// share, the video while capped.
func capped(s SubscriberResult) (share float64, v VideoSummary) {
	var secs float64
	var fps, heights []float64
	for _, p := range s.Phases {
		if p.Rate == Off {
			continue
		}
		d := p.To - p.From
		secs += d
		share += p.CapShare * d
		v.Freezes += p.Video.Freezes
		v.FreezeSeconds += p.Video.FreezeSeconds
		fps = append(fps, p.Video.FPSp50)
		heights = append(heights, p.Video.HeightP50)
	}
	if secs > 0 {
		share /= secs
	}
	v.FPSp50, v.HeightP50 = median(fps), median(heights)
	return share, v
}

// firstOr is the first recovery's seconds (0 when there is none).
func firstOr(rs []Recovery) float64 {
	if len(rs) == 0 {
		return 0
	}
	return rs[0].Seconds
}

// metrics are the reported figures, in the order of the report.
var metrics = []metric{
	{name: "freezes", unit: result.UnitCount, help: "video freezes the subscriber counted (freezeCount) from its first frame to the end", get: func(_ Result, s SubscriberResult) float64 { return s.Video.Freezes }},
	{name: "path_freezes", unit: result.UnitCount, help: "of those, freezes the publisher's encoder does not explain (Result.PathFreezes): the server's, the network's", get: func(r Result, s SubscriberResult) float64 {
		for i := range r.Subscribers {
			if r.Subscribers[i].Name == s.Name {
				return r.PathFreezes(i, time.Duration(s.FirstFrameAt*float64(time.Second)), time.Duration(r.Seconds*float64(time.Second)))
			}
		}
		return 0
	}},
	{name: "freeze_ms", unit: result.UnitMs, help: "total duration of those freezes (totalFreezesDuration)", ratio: true, get: func(_ Result, s SubscriberResult) float64 { return s.Video.FreezeSeconds * 1000 }},
	{name: "fps_p10", unit: result.UnitPerSec, help: "10th percentile of the frames decoded per second, second by second", get: func(_ Result, s SubscriberResult) float64 { return s.Video.FPSp10 }},
	{name: "fps_p50", unit: result.UnitPerSec, help: "median frames decoded per second", ratio: true, get: func(_ Result, s SubscriberResult) float64 { return s.Video.FPSp50 }},
	{name: "height_p50", unit: result.UnitCount, help: "median decoded height over time (pixels)", get: func(_ Result, s SubscriberResult) float64 { return s.Video.HeightP50 }},
	{name: "at_720p_ms", unit: result.UnitMs, help: "time the subscriber decoded 720p (or more)", get: func(_ Result, s SubscriberResult) float64 { return 1000 * atLeast(s.Video.TimeAtHeight, 720, 1<<30) }},
	{name: "at_360p_ms", unit: result.UnitMs, help: "time at 360p to 719p", get: func(_ Result, s SubscriberResult) float64 { return 1000 * atLeast(s.Video.TimeAtHeight, 360, 720) }},
	{name: "below_360p_ms", unit: result.UnitMs, help: "time below 360p (180p)", get: func(_ Result, s SubscriberResult) float64 { return 1000 * atLeast(s.Video.TimeAtHeight, 1, 360) }},
	{name: "ttff_ms", unit: result.UnitMs, help: "time to first frame: just before room.connect() to the first decoded frame", ratio: true, get: func(_ Result, s SubscriberResult) float64 { return s.TTFFMs }},
	{name: "connect_ms", unit: result.UnitMs, help: "just before room.connect() to connect() returning (signalling joined)", get: func(_ Result, s SubscriberResult) float64 { return s.ConnectMs }},
	{name: "first_keyframe_ms", unit: result.UnitMs, help: "first video packet to first decoded frame: the wait for a keyframe", get: func(_ Result, s SubscriberResult) float64 { return s.FirstKeyframeDelayMs }},
	{name: "video_bitrate", unit: result.UnitBps, help: "video received by the subscriber (RTP payload), from its first frame", ratio: true, get: func(_ Result, s SubscriberResult) float64 { return s.Video.Kbps * 1000 }},
	{name: "cap_share", unit: result.UnitPercent, help: "bits the shaper let through over what the cap allowed, over the capped time", when: shaped, get: func(_ Result, s SubscriberResult) float64 { sh, _ := capped(s); return 100 * sh }},
	{name: "capped_offered_share", unit: result.UnitPercent, help: "what the server sent towards the subscriber (on the wire, before the shaper) over the cap, over the capped time: above 100 the server overshoots and the shaper drops", when: shaped, get: func(_ Result, s SubscriberResult) float64 { return offeredShare(s) }},
	{name: "capped_freeze_ms", unit: result.UnitMs, help: "freeze time while the link was capped", when: shaped, get: func(_ Result, s SubscriberResult) float64 { _, v := capped(s); return v.FreezeSeconds * 1000 }},
	{name: "capped_fps_p50", unit: result.UnitPerSec, help: "median decoded fps while the link was capped", when: shaped, get: func(_ Result, s SubscriberResult) float64 { _, v := capped(s); return v.FPSp50 }},
	{name: "capped_height_p50", unit: result.UnitCount, help: "median decoded height while the link was capped", when: shaped, get: func(_ Result, s SubscriberResult) float64 { _, v := capped(s); return v.HeightP50 }},
	{name: "qdisc_drops", unit: result.UnitCount, help: "packets the shaper (tbf) dropped", when: shaped, get: func(_ Result, s SubscriberResult) float64 {
		var d float64
		for _, p := range s.Phases {
			d += float64(p.Drops)
		}
		return d
	}},
	{name: "recovery_ms", unit: result.UnitMs, help: fmt.Sprintf("after the cap's first drop, the time until playback is smooth again (%d fps, within %.0f %%, for %d s running); when never, the time the drop lasted", SmoothFPS, 100*(1-SmoothTolerance), SmoothRun), when: hasDrop, get: func(_ Result, s SubscriberResult) float64 { return 1000 * firstOr(s.Recoveries) }},
	{name: "recovered", unit: result.UnitCount, help: "1 when playback was smooth again before the cap changed again or the run ended", when: hasDrop, get: func(_ Result, s SubscriberResult) float64 { return reached(s.Recoveries) }},
	{name: "back_at_top_ms", unit: result.UnitMs, help: "after the cap's first rise, the time until the subscriber decodes the camera's height (720p) again; when never, the time there was", when: hasRise, get: func(_ Result, s SubscriberResult) float64 { return 1000 * firstOr(s.BackToTop) }},
	{name: "back_at_top", unit: result.UnitCount, help: "1 when the subscriber was back at the top height before the end", when: hasRise, get: func(_ Result, s SubscriberResult) float64 { return reached(s.BackToTop) }},
	{name: "loss_dropped", unit: result.UnitCount, help: "datagrams the loss rule dropped on the subscriber's downlink", when: lossy, get: func(_ Result, s SubscriberResult) float64 { return float64(s.LossDropped) }},
	{name: "relay_delay_ms", unit: result.UnitMs, help: "mean time the delay relay held a datagram", when: delayed, get: func(_ Result, s SubscriberResult) float64 {
		if s.Relay == nil {
			return 0
		}
		return s.Relay.MeanDelayMs
	}},
	{name: "packets_lost", unit: result.UnitCount, help: "video packets the subscriber counted as lost (packetsLost)", get: func(_ Result, s SubscriberResult) float64 { return s.Video.PacketsLost }},
	{name: "nacks", unit: result.UnitCount, help: "NACKs the subscriber sent", get: func(_ Result, s SubscriberResult) float64 { return s.Video.NACKs }},
	{name: "plis", unit: result.UnitCount, help: "PLIs the subscriber sent", get: func(_ Result, s SubscriberResult) float64 { return s.Video.PLIs }},
	{name: "retransmitted_received", unit: result.UnitCount, help: "retransmitted packets the subscriber received (retransmittedPacketsReceived: on RTX)", get: func(_ Result, s SubscriberResult) float64 { return s.Video.Retransmitted }},
	{name: "wire_rtx", unit: result.UnitCount, help: "packets on the subscriber's video RTX SSRC, on the wire", get: func(_ Result, s SubscriberResult) float64 { return float64(s.Wire.RTXPackets) }},
	{name: "wire_media_resent", unit: result.UnitCount, help: "packets sent again or late on the subscriber's video SSRC itself, on the wire (retransmissions on the media SSRC)", get: func(_ Result, s SubscriberResult) float64 { return float64(s.Wire.MediaResent) }},
	{name: "wire_holes", unit: result.UnitCount, help: "sequence numbers the server skipped towards the subscriber, at first sight, on the wire", get: func(_ Result, s SubscriberResult) float64 { return float64(s.Wire.Holes) }},
	{name: "wire_unfilled", unit: result.UnitCount, help: "of those, numbers never sent later", get: func(_ Result, s SubscriberResult) float64 { return float64(s.Wire.Unfilled) }},
	{name: "wire_padding_down", unit: result.UnitCount, help: "packets with the RTP padding bit the server sent on the subscriber's video SSRCs", get: func(_ Result, s SubscriberResult) float64 { return float64(s.Wire.PaddingDown) }},
	{name: "jitter_buffer_ms", unit: result.UnitMs, help: "mean time a video frame waited in the subscriber's jitter buffer", get: func(_ Result, s SubscriberResult) float64 { return s.Video.JitterBufferMs }},
	{name: "audio_concealed", unit: result.UnitPercent, help: "audio samples the subscriber concealed (concealedSamples over totalSamplesReceived)", get: func(_ Result, s SubscriberResult) float64 { return 100 * s.Audio.Concealed }},
	{name: "audio_concealment_events", unit: result.UnitCount, help: "times the subscriber's audio decoder started concealing (concealmentEvents)", get: func(_ Result, s SubscriberResult) float64 { return s.Audio.ConcealmentEvents }},
	{name: "wire_padding_up", unit: result.UnitCount, run: true, help: "packets with the RTP padding bit the publisher sent on its video SSRCs", get: func(r Result, _ SubscriberResult) float64 {
		if len(r.Subscribers) == 0 {
			return 0
		}
		return float64(r.Subscribers[0].Wire.PaddingUp)
	}},
	{name: "publisher_limited", unit: result.UnitPercent, run: true, help: "seconds the publisher's top layer had a qualityLimitationReason other than none", get: func(r Result, _ SubscriberResult) float64 { return 100 * r.Publisher.LimitedShare }},
	{name: "server_cpu", unit: result.UnitPercent, run: true, help: "the server's CPU over the subscribers' time (100 per core)", get: func(r Result, _ SubscriberResult) float64 { return r.ServerCPU }},
	{name: "browser_cpu", unit: result.UnitPercent, run: true, help: "every Chromium's CPU over the subscribers' time (100 per core)", get: func(r Result, _ SubscriberResult) float64 { return r.BrowserCPU }},
	{name: "machine_cpu", unit: result.UnitPercent, run: true, help: "the whole machine's busy CPU over the subscribers' time (100 per core)", get: func(r Result, _ SubscriberResult) float64 { return r.MachineCPU }},
}

// atLeast sums the seconds at heights in [lo, hi).
func atLeast(t map[int]float64, lo, hi int) float64 {
	var s float64
	for h, d := range t {
		if h >= lo && h < hi {
			s += d
		}
	}
	return s
}

// reached is 1 when the first recovery reached its goal.
func reached(rs []Recovery) float64 {
	if len(rs) > 0 && rs[0].Reached {
		return 1
	}
	return 0
}

// offeredShare is what the server offered over the cap, over the capped
// phases (time-weighted), in percent.
func offeredShare(s SubscriberResult) float64 {
	var secs, sum float64
	for _, p := range s.Phases {
		if p.Rate == Off {
			continue
		}
		d := p.To - p.From
		secs += d
		sum += p.OfferedKbps * 1000 / float64(p.Rate) * d
	}
	if secs == 0 {
		return 0
	}
	return 100 * sum / secs
}

// slot is one reported row: a metric of the run, or of subscriber sub.
type slot struct {
	m   metric
	sub int // -1: the run's
}

// name is the slot's metric name: bare for the run and the first
// subscriber, prefixed for the others (s2_freezes).
func (sl slot) name() string {
	if sl.sub > 0 {
		return fmt.Sprintf("s%d_%s", sl.sub+1, sl.m.name)
	}
	return sl.m.name
}

// used is the slots that apply to this bench.
func (b *Bench) used() []slot {
	var out []slot
	for i, l := range b.links {
		for _, m := range metrics {
			if m.run || (m.when != nil && !m.when(l)) {
				continue
			}
			out = append(out, slot{m: m, sub: i})
		}
	}
	for _, m := range metrics {
		if !m.run || (m.name == "server_cpu" && slices.Contains(b.servers, serverTarget)) {
			continue
		}
		out = append(out, slot{m: m, sub: -1})
	}
	return out
}

// value is a slot's figure in one run (ok false when the subscriber
// decoded nothing).
func (sl slot) value(r Result) (float64, bool) {
	if sl.sub < 0 {
		if len(r.Subscribers) == 0 {
			return 0, false
		}
		for _, s := range r.Subscribers {
			if !s.Decoded {
				return 0, false
			}
		}
		return sl.m.get(r, SubscriberResult{}), true
	}
	if sl.sub >= len(r.Subscribers) || !r.Subscribers[sl.sub].Decoded {
		return 0, false
	}
	return sl.m.get(r, r.Subscribers[sl.sub]), true
}

// of returns the slot over the runs of server s, in order.
func (b *Bench) of(s string, sl slot) []float64 {
	var v []float64
	for _, r := range b.runs {
		if r.server != s {
			continue
		}
		if x, ok := sl.value(r.res); ok {
			v = append(v, x)
		}
	}
	return v
}

// fill turns the runs into metrics, checks, series and tables.
func (b *Bench) fill(r *result.Result) {
	sls := b.used()
	for i, s := range b.servers {
		pre := ""
		if i > 0 {
			pre = s + "_"
		}
		for _, sl := range sls {
			if v := b.of(s, sl); len(v) > 0 {
				r.Add(pre+sl.name(), sl.m.unit, median(v), fmt.Sprintf("%s (median of %d): %s", s, len(v), sl.m.help))
			}
		}
	}
	if len(b.servers) == 2 {
		a, o := b.servers[0], b.servers[1]
		for _, sl := range sls {
			if !sl.m.ratio {
				continue
			}
			x, y := median(b.of(a, sl)), median(b.of(o, sl))
			if y != 0 && len(b.of(a, sl)) > 0 {
				r.Add(fmt.Sprintf("%s_%s_over_%s", sl.name(), a, o), result.UnitRatio, x/y, fmt.Sprintf("%s of %s over %s's (medians)", sl.name(), a, o))
			}
		}
	}
	var machine float64
	gen := result.Usage{Name: "generator (every Chromium, mean over runs)", Source: "/proc"}
	srv := map[string]*result.Usage{}
	for _, s := range b.servers {
		srv[s] = &result.Usage{Name: s + " (mean over runs)", Source: "/proc"}
	}
	n := float64(len(b.runs))
	for i, run := range b.runs {
		res := run.res
		for _, s := range res.Subscribers {
			r.AddCheck(fmt.Sprintf("subscriber %s decoded video (%s)", s.Name, run.label()), s.Decoded, fmt.Sprintf("%.0f frames, first after %.0f ms", s.Video.FramesDecoded, s.TTFFMs))
			if s.Relay != nil && (s.Relay.Overflow > 0 || s.Relay.Errors > 0) {
				r.Warn("%s: %s's delay relay dropped %d datagrams (queue full) and had %d errors", run.label(), s.Name, s.Relay.Overflow, s.Relay.Errors)
			}
			if s.Wire.TapDrops > 0 && s.Name == "s1" {
				r.Warn("%s: the tap's socket dropped %d frames: its wire counts are short", run.label(), s.Wire.TapDrops)
			}
		}
		if len(res.Subscribers) == 0 {
			r.AddCheck("subscribers decoded video ("+run.label()+")", false, "no subscriber")
		}
		machine += res.MachineCPU / n
		gen.CPUPercent += res.BrowserCPU / n
		gen.CPUPercentMax = max(gen.CPUPercentMax, res.BrowserCPU)
		gen.RSSBytes += res.BrowserRSS / n
		gen.RSSMaxBytes = max(gen.RSSMaxBytes, res.BrowserRSS)
		gen.Samples++
		u := srv[run.server]
		runs := n / float64(len(b.servers))
		u.CPUPercent += res.ServerCPU / runs
		u.CPUPercentMax = max(u.CPUPercentMax, res.ServerCPU)
		u.RSSBytes += res.ServerRSS / runs
		u.RSSMaxBytes = max(u.RSSMaxBytes, res.ServerRSS)
		u.Samples++
		for _, e := range res.Events {
			if strings.Contains(e, "error") || strings.Contains(e, "exited") || strings.Contains(e, "disconnected") || strings.Contains(e, "reconnect") {
				r.Warn("%s: %s", run.label(), strings.TrimSpace(e))
			}
		}
		if res.Publisher.Limitation["cpu"] > 0 {
			r.Warn("%s: the publisher's encoder was limited by CPU for %.0f s: the machine, not the server, set the quality then", run.label(), res.Publisher.Limitation["cpu"])
		}
		b.addSeries(r, run, i == 0)
	}
	r.Resources.Generator = gen
	for _, s := range b.servers {
		if s != serverTarget {
			r.Resources.Servers = append(r.Resources.Servers, *srv[s])
		}
	}
	if cores := float64(runtime.NumCPU()); machine >= 85*cores {
		r.Warn("the machine was %.0f%% busy (of %.0f%%) during the runs: the browsers' encoding and decoding compete with the server for it, so freezes and fps may be the machine's as much as the server's", machine, 100*cores)
		r.Resources.GeneratorLimited = gen.CPUPercent > srv[b.servers[0]].CPUPercent
	}
	for _, t := range []result.Table{b.sideBySide(sls), b.runsTable(), b.phasesTable(), b.recoveryTable(), b.publisherTable(), b.streamsTable()} {
		if len(t.Rows) > 0 {
			r.Tables = append(r.Tables, t)
		}
	}
}

// addSeries adds each subscriber's per-second height, fps, bitrate and
// freezes in a run. Each subscriber's cap is drawn once, with the first
// run.
func (b *Bench) addSeries(r *result.Result, run benchRun, first bool) {
	if len(run.res.Server) > 0 {
		est := result.Series{Name: run.label() + " server's bandwidth estimate", Unit: result.UnitBps}
		pr := result.Series{Name: run.label() + " server's probe packets", Unit: "packets"}
		for _, s := range run.res.Server {
			if s.Estimates > 0 {
				est.Points = append(est.Points, result.Point{T: s.T, V: s.EstimateBps})
			}
			pr.Points = append(pr.Points, result.Point{T: s.T, V: s.Probes})
		}
		r.Series = append(r.Series, est, pr)
	}
	for _, sub := range run.res.Subscribers {
		l := run.label()
		if len(run.res.Subscribers) > 1 {
			l += " " + sub.Name
		}
		h := result.Series{Name: l + " height", Unit: "px"}
		f := result.Series{Name: l + " fps", Unit: "fps"}
		k := result.Series{Name: l + " video received", Unit: result.UnitBps}
		w := result.Series{Name: l + " sent to the subscriber (wire)", Unit: result.UnitBps}
		z := result.Series{Name: l + " freezes", Unit: "freezes"}
		capName := "cap"
		if len(run.res.Subscribers) > 1 {
			capName += " " + sub.Name
		}
		capS := result.Series{Name: capName, Unit: result.UnitBps}
		for _, s := range sub.Series {
			h.Points = append(h.Points, result.Point{T: s.T, V: s.Height})
			f.Points = append(f.Points, result.Point{T: s.T, V: s.FPS})
			k.Points = append(k.Points, result.Point{T: s.T, V: s.Kbps * 1000})
			w.Points = append(w.Points, result.Point{T: s.T, V: s.WireKbps * 1000})
			z.Points = append(z.Points, result.Point{T: s.T, V: s.Freezes})
			capS.Points = append(capS.Points, result.Point{T: s.T, V: s.CapKbps * 1000})
		}
		r.Series = append(r.Series, h, f, k, w, z)
		if sub.Link.Shaping.Shaped() && first {
			r.Series = append(r.Series, capS)
		}
	}
}

// sideBySide has one row per slot: each server's median, the ratio of
// the first two (0 when the second's median is 0), then every run's value
// (0 for a run whose subscriber decoded nothing).
func (b *Bench) sideBySide(sls []slot) result.Table {
	t := result.Table{Name: "side by side", Label: "metric"}
	for _, s := range b.servers {
		t.Columns = append(t.Columns, s+" (median)")
	}
	if len(b.servers) == 2 {
		t.Columns = append(t.Columns, b.servers[0]+" / "+b.servers[1])
	}
	for _, s := range b.servers {
		for _, run := range b.runs {
			if run.server == s {
				t.Columns = append(t.Columns, run.label())
			}
		}
	}
	for _, sl := range sls {
		row := result.TableRow{Label: sl.name() + " (" + sl.m.unit + ")"}
		var meds []float64
		for _, s := range b.servers {
			meds = append(meds, median(b.of(s, sl)))
		}
		row.Values = append(row.Values, meds...)
		if len(b.servers) == 2 {
			ratio := 0.0 // JSON has no NaN: 0 when the second is 0
			if meds[1] != 0 {
				ratio = meds[0] / meds[1]
			}
			row.Values = append(row.Values, ratio)
		}
		for _, s := range b.servers {
			for _, run := range b.runs {
				if run.server == s {
					v, _ := sl.value(run.res)
					row.Values = append(row.Values, v)
				}
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// subLabel names a subscriber of a run in a table row.
func subLabel(run benchRun, s SubscriberResult) string {
	if len(run.res.Subscribers) > 1 {
		return run.label() + " " + s.Name
	}
	return run.label()
}

// runsTable has one row per run and subscriber: its time at each height.
func (b *Bench) runsTable() result.Table {
	var heights []int
	for _, run := range b.runs {
		for _, s := range run.res.Subscribers {
			for h := range s.Video.TimeAtHeight {
				if !slices.Contains(heights, h) {
					heights = append(heights, h)
				}
			}
		}
	}
	slices.Sort(heights)
	slices.Reverse(heights)
	t := result.Table{Name: "time at each height (s)", Label: "run"}
	for _, h := range heights {
		t.Columns = append(t.Columns, fmt.Sprintf("%dp", h))
	}
	for _, run := range b.runs {
		for _, s := range run.res.Subscribers {
			row := result.TableRow{Label: subLabel(run, s)}
			for _, h := range heights {
				row.Values = append(row.Values, s.Video.TimeAtHeight[h])
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// phasesTable has one row per run, subscriber and phase of its schedule.
func (b *Bench) phasesTable() result.Table {
	t := result.Table{Name: "shaping phases", Label: "run, phase",
		Columns: []string{"from s", "to s", "cap kbit/s", "offered kbit/s", "through kbit/s", "cap share %", "qdisc drops",
			"freezes", "freeze s", "fps p50", "height p50"}}
	for _, run := range b.runs {
		for _, s := range run.res.Subscribers {
			for _, p := range s.Phases {
				through := 0.0
				if d := p.To - p.From; d > 0 {
					through = float64(p.Sent) * 8 / 1000 / d
				}
				t.Rows = append(t.Rows, result.TableRow{
					Label: fmt.Sprintf("%s %s from %.0fs", subLabel(run, s), p.Rate, p.From),
					Values: []float64{p.From, p.To, float64(p.Rate) / 1000, p.OfferedKbps, through, 100 * p.CapShare, float64(p.Drops),
						p.Video.Freezes, p.Video.FreezeSeconds, p.Video.FPSp50, p.Video.HeightP50},
				})
			}
		}
	}
	return t
}

// recoveryTable has one row per run, subscriber and change of its cap.
func (b *Bench) recoveryTable() result.Table {
	t := result.Table{Name: "cap changes", Label: "run, change",
		Columns: []string{"at s", "from kbit/s", "to kbit/s", "seconds to goal", "reached"}}
	for _, run := range b.runs {
		for _, s := range run.res.Subscribers {
			for _, rs := range [][]Recovery{s.Recoveries, s.BackToTop} {
				for _, c := range rs {
					ok := 0.0
					if c.Reached {
						ok = 1
					}
					t.Rows = append(t.Rows, result.TableRow{
						Label:  fmt.Sprintf("%s %s→%s at %.0fs", subLabel(run, s), c.From, c.To, c.At),
						Values: []float64{c.At, float64(c.From) / 1000, float64(c.To) / 1000, c.Seconds, ok},
					})
				}
			}
		}
	}
	return t
}

// publisherTable has one row per run and publisher layer, and the
// seconds by qualityLimitationReason.
func (b *Bench) publisherTable() result.Table {
	t := result.Table{Name: "publisher layers", Label: "run, layer",
		Columns: []string{"height p50", "fps p50", "kbit/s", "retransmitted", "NACKs", "PLIs", "keyframes",
			"s limited: none", "s: bandwidth", "s: cpu", "s: other"}}
	for _, run := range b.runs {
		p := run.res.Publisher
		for _, l := range p.Layers {
			rid := l.RID
			if rid == "" {
				rid = "(one encoding)"
			}
			t.Rows = append(t.Rows, result.TableRow{
				Label: run.label() + " " + rid,
				Values: []float64{l.HeightP50, l.FPSp50, l.Kbps, l.Retransmitted, l.NACKs, l.PLIs, l.KeyFrames,
					p.Limitation["none"], p.Limitation["bandwidth"], p.Limitation["cpu"], p.Limitation["other"]},
			})
		}
	}
	return t
}

// streamsTable has one row per run and SSRC the tap saw.
func (b *Bench) streamsTable() result.Table {
	t := result.Table{Name: "wire, per SSRC", Label: "run, direction, SSRC (role)",
		Columns: []string{"payload type", "packets", "kbit/s", "padding", "holes", "filled", "late", "duplicates"}}
	for _, run := range b.runs {
		for i, sub := range run.res.Subscribers {
			for _, s := range sub.Wire.Streams {
				if s.Direction == "up" && i > 0 {
					continue // the same for every subscriber
				}
				pt := 0.0
				if len(s.PayloadTypes) > 0 {
					pt = float64(s.PayloadTypes[0])
				}
				kbps := 0.0
				if run.res.Seconds > 0 {
					kbps = float64(s.Bytes) * 8 / 1000 / run.res.Seconds
				}
				role := s.Role
				if role == "" {
					role = "?"
				}
				t.Rows = append(t.Rows, result.TableRow{
					Label:  fmt.Sprintf("%s %s %08x (%s)", subLabel(run, sub), s.Direction, s.SSRC, role),
					Values: []float64{pt, float64(s.Packets), kbps, float64(s.Padding), float64(s.Holes), float64(s.Filled), float64(s.Late), float64(s.Duplicates)},
				})
			}
		}
	}
	return t
}

// WriteTable prints the servers side by side, one metric a line: each
// server's median, the ratio of the first two and every run's value.
func (b *Bench) WriteTable(w io.Writer) error {
	if len(b.runs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	head := "\nmetric\t"
	for _, s := range b.servers {
		head += s + "\t"
	}
	if len(b.servers) == 2 {
		head += b.servers[0] + "/" + b.servers[1] + "\t"
	}
	for _, s := range b.servers {
		head += s + " runs\t"
	}
	fmt.Fprintln(tw, head)
	for _, sl := range b.used() {
		line := sl.name() + "\t"
		var meds []float64
		for _, s := range b.servers {
			meds = append(meds, median(b.of(s, sl)))
			line += num(meds[len(meds)-1], sl.m.unit) + "\t"
		}
		if len(b.servers) == 2 {
			if meds[1] != 0 {
				line += fmt.Sprintf("%.2f", meds[0]/meds[1]) + "\t"
			} else {
				line += "-\t"
			}
		}
		for _, s := range b.servers {
			var vs []string
			for _, v := range b.of(s, sl) {
				vs = append(vs, num(v, sl.m.unit))
			}
			line += strings.Join(vs, " ") + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// num formats a value for the text table.
func num(v float64, unit string) string {
	switch unit {
	case result.UnitBps:
		return fmt.Sprintf("%.0fk", v/1000)
	case result.UnitPercent:
		return fmt.Sprintf("%.1f%%", v)
	case result.UnitMs:
		return fmt.Sprintf("%.0f", v)
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
