package roomsbench

import (
	"fmt"
	"slices"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/result"
)

// relayWindow is what the relays carried in the steady part of a
// multi-region run, and what the links' loss rules dropped.
type relayWindow struct {
	rates map[regionPair]pairRate
	drops map[string]uint64 // by pairTag; nil: no loss rules
	err   error             // the scrapes failed
}

// pairColumns are the columns of the region pairs table (0 where a figure
// does not apply: no relay within a region, no media).
var pairColumns = []string{"subscriber tracks", "loss %", "owd p50 ms", "owd p99 ms", "first media p50 ms", "first media p99 ms",
	"relay kbps", "relay kbps per track", "copies per track", "relay drops", "link drops"}

// fillPairs writes the multi-region figures into r: for each pair of
// publisher region → subscriber region, what the subscribers received
// (loss, one-way delay publisher → subscriber, time from the start of the
// join to each track's first packet), and what the relay links from the
// one region to the other carried (per second, per track that crosses,
// and in copies of what one subscriber receives of a track).
func (c *collector) fillPairs(r *result.Result, cfg Config, w relayWindow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type agg struct {
		tracks        int
		expected, got uint64
		owd, first    *hist.Histogram
		kbps          float64 // sum over tracks
	}
	pairs := map[regionPair]*agg{}
	get := func(p regionPair) *agg {
		a := pairs[p]
		if a == nil {
			a = &agg{owd: hist.New(), first: hist.New()}
			pairs[p] = a
		}
		return a
	}
	for _, t := range c.tracks {
		from, to := c.region[t.Publisher], t.Region
		if from == "" || to == "" {
			continue
		}
		a := get(regionPair{from, to})
		a.tracks++
		a.expected += t.Expected
		a.got += min(t.Packets, t.Expected)
		for _, o := range t.OWD {
			a.owd.RecordN(o.Value, o.Count)
		}
		if t.FirstMs > 0 {
			a.first.Record(int64(t.FirstMs * 1e6))
		}
		if t.Seconds > 0 {
			a.kbps += float64(t.Bytes) * 8 / t.Seconds / 1e3
		}
	}
	for p, rate := range w.rates {
		if rate.bps > 0 { // a link that carried media nobody received still shows
			get(p)
		}
	}
	keys := make([]regionPair, 0, len(pairs))
	for p := range pairs {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b regionPair) int {
		if a.from != b.from {
			return cmpRegion(cfg, a.from, b.from)
		}
		return cmpRegion(cfg, a.to, b.to)
	})
	pubs := map[string]int{}
	for _, reg := range cfg.Regions {
		pubs[reg.Name] = reg.Publishers
	}
	tbl := result.Table{Name: "region pairs", Label: "publisher region → subscriber region", Columns: pairColumns}
	for _, p := range keys {
		a := pairs[p]
		ms := func(h *hist.Histogram, q float64) float64 {
			if h.Count() == 0 {
				return 0
			}
			return float64(h.Quantile(q)) / 1e6
		}
		loss := 0.0
		if a.expected > 0 {
			loss = lossOf(a.expected, a.got)
		}
		rate := w.rates[p]
		crossing := cfg.Rooms * pubs[p.from] * 2 // camera and microphone of each publisher
		linkKbps, perTrack, copies := 0.0, 0.0, 0.0
		if p.from != p.to && w.err == nil {
			linkKbps = rate.bps / 1e3
			if crossing > 0 {
				perTrack = linkKbps / float64(crossing)
			}
			if a.tracks > 0 && a.kbps > 0 {
				copies = perTrack / (a.kbps / float64(a.tracks))
			}
		}
		var drops float64
		if p.from != p.to {
			drops = float64(w.drops[pairTag(p.from, p.to)])
		}
		label := fmt.Sprintf("%s → %s", p.from, p.to)
		if p.from == p.to {
			label += " (same region)"
		}
		tbl.Rows = append(tbl.Rows, result.TableRow{Label: label, Values: []float64{float64(a.tracks), loss,
			ms(a.owd, 0.5), ms(a.owd, 0.99), ms(a.first, 0.5), ms(a.first, 0.99), linkKbps, perTrack, copies, rate.dropped, drops}})
		if p.from == p.to {
			continue
		}
		name := "pair_" + p.from + "_" + p.to + "_"
		what := fmt.Sprintf(" (publishers in %s, subscribers in %s)", p.from, p.to)
		if a.owd.Count() > 0 {
			r.Add(name+"owd_p50", result.UnitMs, ms(a.owd, 0.5), "one-way delay publisher → subscriber, median"+what)
			r.Add(name+"owd_p99", result.UnitMs, ms(a.owd, 0.99), "one-way delay publisher → subscriber, 99th percentile"+what)
		}
		if a.first.Count() > 0 {
			r.Add(name+"first_media_p50", result.UnitMs, ms(a.first, 0.5), "from the start of a subscriber's join to a remote track's first packet, median"+what)
		}
		if a.expected > 0 {
			r.Add(name+"loss", result.UnitPercent, loss, "packets lost of those expected"+what)
		}
		if w.err == nil {
			r.Add(name+"relay_bps", result.UnitBps, rate.bps, fmt.Sprintf("RTP bytes the relay links from %s to %s carried per second (the edges' relay metrics)", p.from, p.to))
		}
	}
	r.Tables = append(r.Tables, tbl)
	if w.err != nil {
		r.Warn("relay metrics: %v", w.err)
		return
	}
	fillSplit(r, cfg, w)
}

// splitColumns are the columns of the table of what crossed by layer and
// kind (kbit/s), and the share of what was not the publisher's media as it
// arrived.
var splitColumns = []string{"media q0", "media q1", "media q2", "media q3", "padding", "repair", "replay", "not media %"}

// fillSplit writes what crossed each region pair by simulcast layer and
// kind (edges whose relay does not count it: nothing).
func fillSplit(r *result.Result, cfg Config, w relayWindow) {
	var ps []regionPair
	for p, rate := range w.rates {
		if p.from != p.to && rate.split.total() > 0 {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	slices.SortFunc(ps, func(a, b regionPair) int {
		if d := cmpRegion(cfg, a.from, b.from); d != 0 {
			return d
		}
		return cmpRegion(cfg, a.to, b.to)
	})
	tbl := result.Table{Name: "relay kbit/s by layer and kind", Label: "publisher region → subscriber region", Columns: splitColumns}
	for _, p := range ps {
		sp := w.rates[p].split
		var v []float64
		for q := range relayLayers {
			v = append(v, sp[q][0]/1e3)
		}
		var extra [3]float64 // padding, repair, replay
		for q := range relayLayers {
			for k := 1; k < len(relayKinds); k++ {
				extra[k-1] += sp[q][k]
			}
		}
		for _, x := range extra {
			v = append(v, x/1e3)
		}
		v = append(v, 100*(extra[0]+extra[1]+extra[2])/sp.total())
		tbl.Rows = append(tbl.Rows, result.TableRow{Label: fmt.Sprintf("%s → %s", p.from, p.to), Values: v})
		name := "pair_" + p.from + "_" + p.to + "_relay_bps_"
		for q := range relayLayers {
			if sp[q][0] > 0 {
				r.Add(fmt.Sprintf("%sq%d", name, q), result.UnitBps, sp[q][0], fmt.Sprintf("publisher's media of layer %d the relay links from %s to %s carried per second", q, p.from, p.to))
			}
		}
		for k := 1; k < len(relayKinds); k++ {
			r.Add(name+relayKinds[k], result.UnitBps, extra[k-1], fmt.Sprintf("%s the relay links from %s to %s carried per second", relayKinds[k], p.from, p.to))
		}
	}
	r.Tables = append(r.Tables, tbl)
}

// cmpRegion orders regions as the config lists them.
func cmpRegion(cfg Config, a, b string) int {
	idx := func(n string) int {
		for i, r := range cfg.Regions {
			if r.Name == n {
				return i
			}
		}
		return len(cfg.Regions)
	}
	if d := idx(a) - idx(b); d != 0 {
		return d
	}
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}
