package forward

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the media path's counters, shared by every Track and Sink of
// an edge. Nothing is logged per packet; it is counted here.
type Metrics struct {
	Received      prometheus.Counter // media packets from publishers
	Duplicate     prometheus.Counter // dropped as duplicates (or too old)
	Padding       prometheus.Counter // padding-only packets (probes); never forwarded
	Malformed     prometheus.Counter // did not parse
	Forwarded     prometheus.Counter // sent to subscribers
	Direct        prometheus.Counter // of those, through the edge's own SRTP path
	Dropped       prometheus.Counter // could not be queued or written for a subscriber
	Retransmitted prometheus.Counter // sent again for a subscriber's NACK
	Probes        prometheus.Counter // padding sent to subscribers to probe for bandwidth
	PLISent       prometheus.Counter // keyframe requests to publishers
	NACKSent      prometheus.Counter // sequence numbers asked of publishers again
}

// NewMetrics makes the counters and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "spacecast", Subsystem: "edge", Name: name, Help: help})
	}
	m := &Metrics{
		Received:      c("rtp_packets_received_total", "RTP packets received from publishers."),
		Duplicate:     c("rtp_packets_duplicate_total", "Received RTP packets dropped as duplicates of packets already forwarded (or too old to forward)."),
		Padding:       c("rtp_padding_received_total", "Padding-only RTP packets (bandwidth probes) received from publishers; never forwarded."),
		Malformed:     c("rtp_packets_malformed_total", "Received RTP packets that did not parse."),
		Forwarded:     c("rtp_packets_forwarded_total", "RTP packets forwarded to subscribers."),
		Direct:        c("rtp_packets_direct_total", "RTP packets forwarded to subscribers that the edge encrypted and sent itself rather than through pion's write path."),
		Dropped:       c("rtp_packets_dropped_total", "RTP packets that could not be queued or written to a subscriber."),
		Retransmitted: c("rtp_packets_retransmitted_total", "RTP packets sent again to subscribers in answer to their NACKs."),
		Probes:        c("rtp_probe_packets_sent_total", "Padding-only RTP packets sent to subscribers on their RTX streams to probe for bandwidth (send-side estimation)."),
		PLISent:       c("pli_sent_total", "Keyframe requests sent to publishers."),
		NACKSent:      c("nack_sent_total", "Sequence numbers publishers were asked to send again (Generic NACK)."),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.Received, m.Duplicate, m.Padding, m.Malformed, m.Forwarded, m.Direct,
		m.Dropped, m.Retransmitted, m.Probes, m.PLISent, m.NACKSent} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("forward: metrics: %w", err)
		}
	}
	return m, nil
}

// discardMetrics are unregistered counters, for a Track or Sink made
// without Metrics.
func discardMetrics() *Metrics {
	m, _ := NewMetrics(nil)
	return m
}
