package browserbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ServerSecond is what the server's own metrics said changed in about a
// second of the run (our edge's Prometheus endpoint, read once a second):
// its bandwidth estimates for its subscribers, its probes, its
// retransmissions. With several subscribers the estimates are theirs
// mixed (the edge samples each subscriber's once a second into one
// histogram).
type ServerSecond struct {
	// T is the end of the second on the first subscriber's clock.
	T float64 `json:"t"`
	// EstimateBps is the mean of the estimates sampled in the second (0:
	// none sampled); Estimates how many were.
	EstimateBps float64 `json:"estimateBps"`
	Estimates   float64 `json:"estimates"`
	// Probes are probe packets sent to subscribers (RTX padding);
	// Retransmitted, packets sent again on NACKs; Forwarded and Dropped,
	// RTP packets forwarded to subscribers and dropped on their way.
	Probes        float64 `json:"probes"`
	Retransmitted float64 `json:"retransmitted"`
	Forwarded     float64 `json:"forwarded"`
	Dropped       float64 `json:"dropped"`
	// PLIs and NACKs the edge sent publishers.
	PLIs  float64 `json:"plis"`
	NACKs float64 `json:"nacks"`
}

// The edge's metrics a scrape reads.
const (
	metricEstimate      = "spacecast_edge_subscriber_bandwidth_bps"
	metricProbes        = "spacecast_edge_rtp_probe_packets_sent_total"
	metricRetransmitted = "spacecast_edge_rtp_packets_retransmitted_total"
	metricForwarded     = "spacecast_edge_rtp_packets_forwarded_total"
	metricDropped       = "spacecast_edge_rtp_packets_dropped_total"
	metricPLI           = "spacecast_edge_pli_sent_total"
	metricNACK          = "spacecast_edge_nack_sent_total"
)

// serverReading is one scrape's cumulative values.
type serverReading struct {
	at                                                   time.Time
	estSum, estCount                                     float64
	probes, retransmitted, forwarded, dropped, pli, nack float64
}

// parseServerMetrics reads the figures of a Prometheus text exposition.
func parseServerMetrics(r io.Reader, at time.Time) (serverReading, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return serverReading{}, fmt.Errorf("browserbench: server metrics: %w", err)
	}
	sum := func(name string) float64 {
		var v float64
		for _, m := range fams[name].GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
		return v
	}
	out := serverReading{at: at, probes: sum(metricProbes), retransmitted: sum(metricRetransmitted),
		forwarded: sum(metricForwarded), dropped: sum(metricDropped), pli: sum(metricPLI), nack: sum(metricNACK)}
	for _, m := range fams[metricEstimate].GetMetric() {
		var h *dto.Histogram = m.GetHistogram()
		out.estSum += h.GetSampleSum()
		out.estCount += float64(h.GetSampleCount())
	}
	return out, nil
}

// secondBetween is what changed from a to b, at b's time on a clock whose
// zero is origin.
func secondBetween(a, b serverReading, origin time.Time) ServerSecond {
	s := ServerSecond{
		T:      b.at.Sub(origin).Seconds(),
		Probes: b.probes - a.probes, Retransmitted: b.retransmitted - a.retransmitted,
		Forwarded: b.forwarded - a.forwarded, Dropped: b.dropped - a.dropped,
		PLIs: b.pli - a.pli, NACKs: b.nack - a.nack,
		Estimates: b.estCount - a.estCount,
	}
	if s.Estimates > 0 {
		s.EstimateBps = (b.estSum - a.estSum) / s.Estimates
	}
	return s
}

// scraper reads a server's metrics once a second.
type scraper struct {
	url      string
	client   *http.Client
	readings []serverReading
	failures int
}

func newScraper(url string) *scraper {
	return &scraper{url: url, client: &http.Client{Timeout: 900 * time.Millisecond}}
}

// run scrapes until ctx ends.
func (s *scraper) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.scrape(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *scraper) scrape(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		s.failures++
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.failures++
		return
	}
	defer resp.Body.Close()
	r, err := parseServerMetrics(resp.Body, time.Now())
	if err != nil || resp.StatusCode != http.StatusOK {
		s.failures++
		return
	}
	s.readings = append(s.readings, r)
}

// seconds turns the readings into what changed between each two.
func (s *scraper) seconds(origin time.Time) []ServerSecond {
	var out []ServerSecond
	for i := 1; i < len(s.readings); i++ {
		out = append(out, secondBetween(s.readings[i-1], s.readings[i], origin))
	}
	return out
}
