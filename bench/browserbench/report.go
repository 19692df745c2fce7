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
// median over its runs).
type metric struct {
	name, unit, help string
	get              func(Result) float64
	// ratio adds <name>_<a>_over_<b> for two servers side by side.
	ratio bool
	// shaped: only when the schedule caps the link.
	shaped bool
}

// capped sums up the capped phases of a run: time-weighted cap share,
// the video while capped.
func capped(r Result) (share float64, v VideoSummary) {
	var secs float64
	var fps, heights []float64
	for _, p := range r.Phases {
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

// metrics are the reported figures, in the order of the report.
var metrics = []metric{
	{name: "freezes", unit: result.UnitCount, help: "video freezes the subscriber counted (freezeCount) from its first frame to the end", get: func(r Result) float64 { return r.Video.Freezes }},
	{name: "path_freezes", unit: result.UnitCount, help: "of those, freezes the publisher's encoder does not explain (Result.PathFreezes): the server's, the network's", get: func(r Result) float64 {
		return r.PathFreezes(time.Duration(r.FirstFrameAt*float64(time.Second)), time.Duration(r.Seconds*float64(time.Second)))
	}},
	{name: "freeze_ms", unit: result.UnitMs, help: "total duration of those freezes (totalFreezesDuration)", ratio: true, get: func(r Result) float64 { return r.Video.FreezeSeconds * 1000 }},
	{name: "fps_p10", unit: result.UnitPerSec, help: "10th percentile of the frames decoded per second, second by second", get: func(r Result) float64 { return r.Video.FPSp10 }},
	{name: "fps_p50", unit: result.UnitPerSec, help: "median frames decoded per second", ratio: true, get: func(r Result) float64 { return r.Video.FPSp50 }},
	{name: "height_p50", unit: result.UnitCount, help: "median decoded height over time (pixels)", get: func(r Result) float64 { return r.Video.HeightP50 }},
	{name: "ttff_ms", unit: result.UnitMs, help: "time to first frame: just before room.connect() to the first decoded frame", ratio: true, get: func(r Result) float64 { return r.TTFFMs }},
	{name: "connect_ms", unit: result.UnitMs, help: "just before room.connect() to connect() returning (signalling joined)", get: func(r Result) float64 { return r.ConnectMs }},
	{name: "subscribed_ms", unit: result.UnitMs, help: "just before room.connect() to the video track subscribed (its transceiver negotiated)", get: func(r Result) float64 { return r.SubscribedMs }},
	{name: "first_packet_ms", unit: result.UnitMs, help: "just before room.connect() to the first video packet", get: func(r Result) float64 { return r.FirstPacketMs }},
	{name: "first_keyframe_ms", unit: result.UnitMs, help: "first video packet to first decoded frame: the wait for a keyframe", get: func(r Result) float64 { return r.FirstKeyframeDelayMs }},
	{name: "video_bitrate", unit: result.UnitBps, help: "video received by the subscriber (RTP payload), from its first frame", ratio: true, get: func(r Result) float64 { return r.Video.Kbps * 1000 }},
	{name: "cap_share", unit: result.UnitPercent, help: "bits the shaper let through over what the cap allowed, over the capped time", shaped: true, get: func(r Result) float64 { s, _ := capped(r); return 100 * s }},
	{name: "capped_freeze_ms", unit: result.UnitMs, help: "freeze time while the link was capped", shaped: true, get: func(r Result) float64 { _, v := capped(r); return v.FreezeSeconds * 1000 }},
	{name: "capped_fps_p50", unit: result.UnitPerSec, help: "median decoded fps while the link was capped", shaped: true, get: func(r Result) float64 { _, v := capped(r); return v.FPSp50 }},
	{name: "capped_height_p50", unit: result.UnitCount, help: "median decoded height while the link was capped", shaped: true, get: func(r Result) float64 { _, v := capped(r); return v.HeightP50 }},
	{name: "qdisc_drops", unit: result.UnitCount, help: "packets the shaper (tbf) dropped", shaped: true, get: func(r Result) float64 {
		var d float64
		for _, p := range r.Phases {
			d += float64(p.Drops)
		}
		return d
	}},
	{name: "packets_lost", unit: result.UnitCount, help: "video packets the subscriber counted as lost (packetsLost)", get: func(r Result) float64 { return r.Video.PacketsLost }},
	{name: "nacks", unit: result.UnitCount, help: "NACKs the subscriber sent", get: func(r Result) float64 { return r.Video.NACKs }},
	{name: "plis", unit: result.UnitCount, help: "PLIs the subscriber sent", get: func(r Result) float64 { return r.Video.PLIs }},
	{name: "retransmitted_received", unit: result.UnitCount, help: "retransmitted packets the subscriber received (retransmittedPacketsReceived: on RTX)", get: func(r Result) float64 { return r.Video.Retransmitted }},
	{name: "wire_rtx", unit: result.UnitCount, help: "packets on the subscriber's video RTX SSRC, on the wire", get: func(r Result) float64 { return float64(r.Wire.RTXPackets) }},
	{name: "wire_media_resent", unit: result.UnitCount, help: "packets sent again or late on the subscriber's video SSRC itself, on the wire (retransmissions on the media SSRC)", get: func(r Result) float64 { return float64(r.Wire.MediaResent) }},
	{name: "wire_holes", unit: result.UnitCount, help: "sequence numbers the server skipped towards the subscriber, at first sight, on the wire", get: func(r Result) float64 { return float64(r.Wire.Holes) }},
	{name: "wire_unfilled", unit: result.UnitCount, help: "of those, numbers never sent later", get: func(r Result) float64 { return float64(r.Wire.Unfilled) }},
	{name: "wire_padding_up", unit: result.UnitCount, help: "packets with the RTP padding bit the publisher sent on its video SSRCs", get: func(r Result) float64 { return float64(r.Wire.PaddingUp) }},
	{name: "wire_padding_down", unit: result.UnitCount, help: "packets with the RTP padding bit the server sent on the subscriber's video SSRCs", get: func(r Result) float64 { return float64(r.Wire.PaddingDown) }},
	{name: "jitter_buffer_ms", unit: result.UnitMs, help: "mean time a video frame waited in the subscriber's jitter buffer", get: func(r Result) float64 { return r.Video.JitterBufferMs }},
	{name: "audio_concealed", unit: result.UnitPercent, help: "audio samples the subscriber concealed", get: func(r Result) float64 { return 100 * r.Audio.Concealed }},
	{name: "publisher_limited", unit: result.UnitPercent, help: "seconds the publisher's top layer had a qualityLimitationReason other than none", get: func(r Result) float64 { return 100 * r.Publisher.LimitedShare }},
	{name: "server_cpu", unit: result.UnitPercent, help: "the server's CPU over the subscriber's time (100 per core)", get: func(r Result) float64 { return r.ServerCPU }},
	{name: "browser_cpu", unit: result.UnitPercent, help: "both Chromiums' CPU over the subscriber's time (100 per core)", get: func(r Result) float64 { return r.BrowserCPU }},
	{name: "machine_cpu", unit: result.UnitPercent, help: "the whole machine's busy CPU over the subscriber's time (100 per core)", get: func(r Result) float64 { return r.MachineCPU }},
}

// used is the metrics that apply to this bench.
func (b *Bench) used() []metric {
	var out []metric
	for _, m := range metrics {
		if m.shaped && !b.sched.Shaped() {
			continue
		}
		if m.name == "server_cpu" && slices.Contains(b.servers, serverTarget) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// of returns m over the runs of server s, in order.
func (b *Bench) of(s string, m metric) []float64 {
	var v []float64
	for _, r := range b.runs {
		if r.server == s && r.res.Decoded {
			v = append(v, m.get(r.res))
		}
	}
	return v
}

// fill turns the runs into metrics, checks, series and tables.
func (b *Bench) fill(r *result.Result) {
	ms := b.used()
	for i, s := range b.servers {
		pre := ""
		if i > 0 {
			pre = s + "_"
		}
		for _, m := range ms {
			if v := b.of(s, m); len(v) > 0 {
				r.Add(pre+m.name, m.unit, median(v), fmt.Sprintf("%s (median of %d): %s", s, len(v), m.help))
			}
		}
	}
	if len(b.servers) == 2 {
		a, o := b.servers[0], b.servers[1]
		for _, m := range ms {
			if !m.ratio {
				continue
			}
			x, y := median(b.of(a, m)), median(b.of(o, m))
			if y != 0 && len(b.of(a, m)) > 0 {
				r.Add(fmt.Sprintf("%s_%s_over_%s", m.name, a, o), result.UnitRatio, x/y, fmt.Sprintf("%s of %s over %s's (medians)", m.name, a, o))
			}
		}
	}
	var machine float64
	gen := result.Usage{Name: "generator (both Chromiums, mean over runs)", Source: "/proc"}
	srv := map[string]*result.Usage{}
	for _, s := range b.servers {
		srv[s] = &result.Usage{Name: s + " (mean over runs)", Source: "/proc"}
	}
	n := float64(len(b.runs))
	for i, run := range b.runs {
		res := run.res
		r.AddCheck("subscriber decoded video ("+run.label()+")", res.Decoded, fmt.Sprintf("%.0f frames, first after %.0f ms", res.Video.FramesDecoded, res.TTFFMs))
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
		if res.Wire.TapDrops > 0 {
			r.Warn("%s: the tap's socket dropped %d frames: its wire counts are short", run.label(), res.Wire.TapDrops)
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
	for _, t := range []result.Table{b.sideBySide(ms), b.runsTable(), b.phasesTable(), b.publisherTable(), b.streamsTable()} {
		if len(t.Rows) > 0 {
			r.Tables = append(r.Tables, t)
		}
	}
}

// addSeries adds a run's per-second height, fps, bitrate and freezes.
// The cap is drawn once, with the first run.
func (b *Bench) addSeries(r *result.Result, run benchRun, first bool) {
	l := run.label()
	h := result.Series{Name: l + " height", Unit: "px"}
	f := result.Series{Name: l + " fps", Unit: "fps"}
	k := result.Series{Name: l + " video received", Unit: result.UnitBps}
	w := result.Series{Name: l + " sent to the subscriber (wire)", Unit: result.UnitBps}
	z := result.Series{Name: l + " freezes", Unit: "freezes"}
	capS := result.Series{Name: "cap", Unit: result.UnitBps}
	for _, s := range run.res.Series {
		h.Points = append(h.Points, result.Point{T: s.T, V: s.Height})
		f.Points = append(f.Points, result.Point{T: s.T, V: s.FPS})
		k.Points = append(k.Points, result.Point{T: s.T, V: s.Kbps * 1000})
		w.Points = append(w.Points, result.Point{T: s.T, V: s.WireKbps * 1000})
		z.Points = append(z.Points, result.Point{T: s.T, V: s.Freezes})
		capS.Points = append(capS.Points, result.Point{T: s.T, V: s.CapKbps * 1000})
	}
	r.Series = append(r.Series, h, f, k, w, z)
	if b.sched.Shaped() && first {
		r.Series = append(r.Series, capS)
	}
}

// sideBySide has one row per metric: each server's median, the ratio of
// the first two (0 when the second's median is 0), then every run's value
// (0 for a run that decoded nothing).
func (b *Bench) sideBySide(ms []metric) result.Table {
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
	for _, m := range ms {
		row := result.TableRow{Label: m.name + " (" + m.unit + ")"}
		var meds []float64
		for _, s := range b.servers {
			meds = append(meds, median(b.of(s, m)))
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
					v := 0.0
					if run.res.Decoded {
						v = m.get(run.res)
					}
					row.Values = append(row.Values, v)
				}
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// runsTable has one row per run: its time at each height.
func (b *Bench) runsTable() result.Table {
	var heights []int
	for _, run := range b.runs {
		for h := range run.res.Video.TimeAtHeight {
			if !slices.Contains(heights, h) {
				heights = append(heights, h)
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
		row := result.TableRow{Label: run.label()}
		for _, h := range heights {
			row.Values = append(row.Values, run.res.Video.TimeAtHeight[h])
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// phasesTable has one row per run and phase of the schedule.
func (b *Bench) phasesTable() result.Table {
	t := result.Table{Name: "shaping phases", Label: "run, phase",
		Columns: []string{"from s", "to s", "cap kbit/s", "offered kbit/s", "through kbit/s", "cap share %", "qdisc drops",
			"freezes", "freeze s", "fps p50", "height p50"}}
	for _, run := range b.runs {
		for _, p := range run.res.Phases {
			through := 0.0
			if d := p.To - p.From; d > 0 {
				through = float64(p.Sent) * 8 / 1000 / d
			}
			t.Rows = append(t.Rows, result.TableRow{
				Label: fmt.Sprintf("%s %s from %.0fs", run.label(), p.Rate, p.From),
				Values: []float64{p.From, p.To, float64(p.Rate) / 1000, p.OfferedKbps, through, 100 * p.CapShare, float64(p.Drops),
					p.Video.Freezes, p.Video.FreezeSeconds, p.Video.FPSp50, p.Video.HeightP50},
			})
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
		for _, s := range run.res.Wire.Streams {
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
				Label:  fmt.Sprintf("%s %s %08x (%s)", run.label(), s.Direction, s.SSRC, role),
				Values: []float64{pt, float64(s.Packets), kbps, float64(s.Padding), float64(s.Holes), float64(s.Filled), float64(s.Late), float64(s.Duplicates)},
			})
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
	for _, m := range b.used() {
		line := m.name + "\t"
		var meds []float64
		for _, s := range b.servers {
			meds = append(meds, median(b.of(s, m)))
			line += num(meds[len(meds)-1], m.unit) + "\t"
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
			for _, v := range b.of(s, m) {
				vs = append(vs, num(v, m.unit))
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
