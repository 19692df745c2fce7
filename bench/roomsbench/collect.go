package roomsbench

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/participant"
	"github.com/spacecast/spacecast/bench/result"
)

// collector gathers the agents' events. It is safe for concurrent use.
type collector struct {
	origin time.Time // the first join; series are relative to it

	mu       sync.Mutex
	rest     *hist.Histogram
	signal   *hist.Histogram
	firstRTP *hist.Histogram
	owd      *hist.Histogram
	joined   int
	errors   []string
	joinAt   []time.Time
	ticks    map[int64]*tickSum // by second since origin
	tracks   []participant.Event
	lastRx   float64
	lastLoss float64
	region   map[string]string // identity → region, of the joined
}

type tickSum struct {
	bytes, packets, expected uint64
}

func newCollector(origin time.Time) *collector {
	return &collector{origin: origin, rest: hist.New(), signal: hist.New(), firstRTP: hist.New(), owd: hist.New(), ticks: map[int64]*tickSum{}, region: map[string]string{}}
}

func (c *collector) add(_ int, e participant.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := func(v float64) int64 { return int64(v * 1e6) }
	switch e.Ev {
	case "joined":
		c.joined++
		c.rest.Record(ms(e.RestMs))
		c.signal.Record(ms(e.SignalMs))
		c.joinAt = append(c.joinAt, time.Unix(0, e.T))
		if e.Region != "" {
			c.region[e.ID] = e.Region
		}
	case "first_rtp":
		c.firstRTP.Record(ms(e.FirstRTPMs))
	case "tick":
		sec := int64(math.Round(time.Unix(0, e.T).Sub(c.origin).Seconds()))
		t := c.ticks[sec]
		if t == nil {
			t = &tickSum{}
			c.ticks[sec] = t
		}
		t.bytes += e.Bytes
		t.packets += e.Packets
		t.expected += e.Expected
	case "track":
		c.tracks = append(c.tracks, e)
		for _, r := range e.OWD {
			c.owd.RecordN(r.Value, r.Count)
		}
	case "error":
		c.errors = append(c.errors, e.ID+": "+e.Msg)
	}
}

// status is the live view: joined, last second's received bitrate (bps)
// and loss (%), errors.
func (c *collector) status() (joined int, rxBps, lossPct float64, errs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sec := int64(time.Since(c.origin).Seconds()) - 1
	if t := c.ticks[sec]; t != nil {
		c.lastRx = float64(t.bytes) * 8
		c.lastLoss = lossOf(t.expected, t.packets)
	}
	return c.joined, c.lastRx, c.lastLoss, len(c.errors)
}

func lossOf(expected, got uint64) float64 {
	if expected == 0 || got >= expected {
		return 0
	}
	return 100 * float64(expected-got) / float64(expected)
}

// packetsIn is what the subscribers received from the tick at from
// (excluded) to the tick at to (included), both whole seconds after the
// origin.
func (c *collector) packetsIn(from, to time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	lo := int64(math.Round(from.Sub(c.origin).Seconds()))
	hi := int64(math.Round(to.Sub(c.origin).Seconds()))
	var n uint64
	for s, t := range c.ticks {
		if s > lo && s <= hi {
			n += t.packets
		}
	}
	return n
}

// fill writes the measurements into r.
func (c *collector) fill(r *result.Result, cfg Config, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.LiveKitURL == "" {
		r.AddLatency("join_rest", c.rest)
	}
	r.AddLatency("join", c.signal)
	r.AddLatency("first_rtp", c.firstRTP)
	r.AddLatency("owd", c.owd)
	r.Add("participants", result.UnitCount, float64(total), "participants planned")
	r.Add("joined", result.UnitCount, float64(c.joined), "participants that joined (REST join + signalling connected)")
	r.Add("join_errors", result.UnitCount, float64(len(c.errors)), "participants that failed")
	if len(c.joinAt) > 1 {
		sort.Slice(c.joinAt, func(i, j int) bool { return c.joinAt[i].Before(c.joinAt[j]) })
		span := c.joinAt[len(c.joinAt)-1].Sub(c.joinAt[0]).Seconds()
		if span > 0 {
			r.Add("join_rate", result.UnitPerSec, float64(len(c.joinAt)-1)/span, "completed joins per second over the join window")
		}
	}
	for i, e := range c.errors {
		if i == 10 {
			r.Warn("... and %d more participant errors", len(c.errors)-10)
			break
		}
		r.Warn("participant %s", e)
	}

	// Per subscriber track, then per subscriber.
	var lossSum, lossMax, jitSum, jitMax float64
	var lost, expected uint64
	perSub := map[string]float64{}
	var n int
	for _, t := range c.tracks {
		if t.Expected == 0 {
			continue
		}
		n++
		l := lossOf(t.Expected, t.Packets)
		lossSum += l
		lossMax = math.Max(lossMax, l)
		jitSum += t.JitterMs
		jitMax = math.Max(jitMax, t.JitterMs)
		lost += t.Expected - min(t.Expected, t.Packets)
		expected += t.Expected
		if t.Seconds > 0 {
			perSub[t.ID] += float64(t.Bytes) * 8 / t.Seconds
		}
	}
	// Each publisher sends a camera and a microphone to everyone else.
	wantTracks := cfg.Rooms * cfg.Publishers * (cfg.Participants - 1) * 2
	tbl := result.Table{Name: "subscriber tracks", Label: "subscriber <- publisher (kind)",
		Columns: []string{"packets", "expected", "loss %", "jitter ms", "kbps", "owd p50 ms", "owd p99 ms"}}
	sort.Slice(c.tracks, func(i, j int) bool {
		a, b := c.tracks[i], c.tracks[j]
		return a.ID+a.Publisher+a.Kind < b.ID+b.Publisher+b.Kind
	})
	for _, t := range c.tracks {
		h := hist.New()
		for _, r := range t.OWD {
			h.RecordN(r.Value, r.Count)
		}
		kbps := 0.0
		if t.Seconds > 0 {
			kbps = float64(t.Bytes) * 8 / t.Seconds / 1e3
		}
		tbl.Rows = append(tbl.Rows, result.TableRow{Label: fmt.Sprintf("%s <- %s (%s)", t.ID, t.Publisher, t.Kind),
			Values: []float64{float64(t.Packets), float64(t.Expected), lossOf(t.Expected, t.Packets), t.JitterMs, kbps, float64(h.Quantile(0.5)) / 1e6, float64(h.Quantile(0.99)) / 1e6}})
	}
	r.Tables = append(r.Tables, tbl)
	r.Add("tracks_received", result.UnitCount, float64(n), "subscribed tracks that delivered media")
	r.Add("tracks_expected", result.UnitCount, float64(wantTracks), "tracks every subscriber should have received")
	r.AddCheck("all_tracks_received", n >= wantTracks, fmt.Sprintf("%d of %d subscriber tracks delivered media", n, wantTracks))
	if n > 0 {
		r.Add("loss", result.UnitPercent, lossSum/float64(n), "mean packet loss per subscriber track (RTP sequence gaps)")
		r.Add("loss_max", result.UnitPercent, lossMax, "worst subscriber track's packet loss")
		r.Add("loss_total", result.UnitPercent, lossOf(expected, expected-lost), "packets lost of all packets expected by all subscribers")
		r.Add("jitter", result.UnitMs, jitSum/float64(n), "mean interarrival jitter per subscriber track (RFC 3550)")
		r.Add("jitter_max", result.UnitMs, jitMax, "worst subscriber track's jitter")
	}
	if len(perSub) > 0 {
		var s, mx float64
		mn := math.Inf(1)
		for _, v := range perSub {
			s += v
			mx = math.Max(mx, v)
			mn = math.Min(mn, v)
		}
		r.Add("subscriber_bitrate", result.UnitBps, s/float64(len(perSub)), "mean bitrate received per subscriber")
		r.Add("subscriber_bitrate_min", result.UnitBps, mn, "lowest bitrate received by a subscriber")
	}

	// Over time: total received bitrate and loss.
	secs := make([]int64, 0, len(c.ticks))
	for s := range c.ticks {
		secs = append(secs, s)
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	offset := c.origin.Sub(r.Meta.Start).Seconds()
	rate := result.Series{Name: "received bitrate (all subscribers)", Unit: result.UnitBps}
	loss := result.Series{Name: "loss (all subscribers)", Unit: result.UnitPercent}
	for _, s := range secs {
		t := c.ticks[s]
		x := float64(s) + offset
		rate.Points = append(rate.Points, result.Point{T: x, V: float64(t.bytes) * 8})
		loss.Points = append(loss.Points, result.Point{T: x, V: lossOf(t.expected, t.packets)})
	}
	r.Series = append(r.Series, rate, loss)

	// Joins completed per second (the shape of a storm).
	if len(c.joinAt) > 0 {
		per := map[int64]float64{}
		var lo, hi int64 = math.MaxInt64, math.MinInt64
		for _, at := range c.joinAt {
			s := int64(math.Floor(at.Sub(r.Meta.Start).Seconds()))
			per[s]++
			lo, hi = min(lo, s), max(hi, s)
		}
		joins := result.Series{Name: "joins completed", Unit: result.UnitPerSec}
		for s := lo; s <= hi; s++ {
			joins.Points = append(joins.Points, result.Point{T: float64(s) + 0.5, V: per[s]})
		}
		r.Series = append(r.Series, joins)
	}
}
