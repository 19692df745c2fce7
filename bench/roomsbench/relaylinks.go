package roomsbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The edges' relay metrics a scrape reads (package edge/relay), labelled
// by the peer edge's node id; every series of an edge also carries its
// own region and node.
const (
	metricRelayBytesSent     = "spacecast_edge_relay_bytes_sent_total"
	metricRelayDatagramsSent = "spacecast_edge_relay_datagrams_sent_total"
	metricRelayDropped       = "spacecast_edge_relay_datagrams_dropped_total"
	// The bytes sent split by simulcast layer and kind (labels layer and
	// kind: relayKinds).
	metricRelayLayerBytes = "spacecast_edge_relay_layer_bytes_sent_total"
)

// relayLayers is the simulcast layers the split counts (edge/relay's
// MaxLayers).
const relayLayers = 4

// relayKinds are the kind labels of the split, in its order: media as the
// publisher sent it, padding-only probes, answers to NACKs, cached
// keyframes replayed when a layer starts crossing.
var relayKinds = []string{"media", "padding", "repair", "replay"}

// layerSplit is bytes (or bits per second) by layer and kind.
type layerSplit [relayLayers][4]float64

// total is the sum over layers and kinds.
func (s layerSplit) total() float64 {
	var t float64
	for _, l := range s {
		for _, v := range l {
			t += v
		}
	}
	return t
}

// errNoMetrics: a run against --target without the edges' metrics.
var errNoMetrics = errors.New("no --metrics-url of the edges: the bytes on the relay links are not measured")

// edgeLink is one relay link as its sending edge counts it.
type edgeLink struct{ node, peer string }

// linkCount is a link's counters.
type linkCount struct {
	bytes, datagrams, dropped float64
	split                     layerSplit
}

// relayReading is one scrape of every edge.
type relayReading struct {
	at     time.Time
	links  map[edgeLink]linkCount
	region map[string]string // node → region, of the edges scraped
}

// parseRelayMetrics adds one edge's Prometheus text exposition to rd.
func parseRelayMetrics(r io.Reader, rd *relayReading) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return fmt.Errorf("roomsbench: relay metrics: %w", err)
	}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			var node, region, peer, layer, kind string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "node":
					node = l.GetValue()
				case "region":
					region = l.GetValue()
				case "peer":
					peer = l.GetValue()
				case "layer":
					layer = l.GetValue()
				case "kind":
					kind = l.GetValue()
				}
			}
			if node != "" && region != "" {
				rd.region[node] = region
			}
			if peer == "" || node == "" {
				continue
			}
			k := edgeLink{node: node, peer: peer}
			c := rd.links[k]
			v := m.GetCounter().GetValue()
			switch name {
			case metricRelayBytesSent:
				c.bytes += v
			case metricRelayDatagramsSent:
				c.datagrams += v
			case metricRelayDropped:
				c.dropped += v
			case metricRelayLayerBytes:
				q, err := strconv.Atoi(layer)
				k := slices.Index(relayKinds, kind)
				if err != nil || q < 0 || q >= relayLayers || k < 0 {
					continue // a layer or kind this harness does not know
				}
				c.split[q][k] += v
			default:
				continue
			}
			rd.links[k] = c
		}
	}
	return nil
}

// scrapeRelays reads every URL once.
func scrapeRelays(ctx context.Context, hc *http.Client, urls []string) (relayReading, error) {
	rd := relayReading{at: time.Now(), links: map[edgeLink]linkCount{}, region: map[string]string{}}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return rd, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return rd, fmt.Errorf("roomsbench: scrape %s: %w", u, err)
		}
		err = parseRelayMetrics(resp.Body, &rd)
		resp.Body.Close()
		if err != nil {
			return rd, fmt.Errorf("%w (%s)", err, u)
		}
	}
	return rd, nil
}

// regionPair is a relay direction: from the origin region to the region
// that receives.
type regionPair struct{ from, to string }

// pairRate is what crossed from one region to another per second.
type pairRate struct {
	bps, datagrams, dropped float64
	links                   int        // edge-to-edge links that carried media
	split                   layerSplit // bps by layer and kind
}

// pairRates is what crossed each region pair per second between readings
// a and b (summed over the pairs' edge links).
func pairRates(a, b relayReading) map[regionPair]pairRate {
	dt := b.at.Sub(a.at).Seconds()
	out := map[regionPair]pairRate{}
	if dt <= 0 {
		return out
	}
	for k, cb := range b.links {
		from, to := b.region[k.node], b.region[k.peer]
		if from == "" || to == "" {
			continue
		}
		ca := a.links[k]
		p := out[regionPair{from, to}]
		db := cb.bytes - ca.bytes
		p.bps += db * 8 / dt
		p.datagrams += (cb.datagrams - ca.datagrams) / dt
		p.dropped += cb.dropped - ca.dropped
		for q := range cb.split {
			for k := range cb.split[q] {
				p.split[q][k] += (cb.split[q][k] - ca.split[q][k]) * 8 / dt
			}
		}
		if db > 0 {
			p.links++
		}
		out[regionPair{from, to}] = p
	}
	return out
}

// relayRates reads the relay metrics of urls twice, in the steady part of
// a run (from 3 s after the last join, or a third of the way to the end
// if that is sooner, to half a second before the participants leave),
// and returns what crossed each region pair per second in between.
func relayRates(ctx context.Context, urls []string, lastJoin, until time.Time) relayWindow {
	if len(urls) == 0 {
		return relayWindow{err: errNoMetrics}
	}
	from := lastJoin.Add(min(3*time.Second, until.Sub(lastJoin)/3))
	to := until.Add(-500 * time.Millisecond)
	hc := &http.Client{Timeout: 2 * time.Second}
	wait := func(t time.Time) error {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.C:
			return nil
		}
	}
	if err := wait(from); err != nil {
		return relayWindow{err: err}
	}
	a, err := scrapeRelays(ctx, hc, urls)
	if err != nil {
		return relayWindow{err: err}
	}
	if err := wait(to); err != nil {
		return relayWindow{err: err}
	}
	b, err := scrapeRelays(ctx, hc, urls)
	if err != nil {
		return relayWindow{err: err}
	}
	return relayWindow{rates: pairRates(a, b)}
}
