package relay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's counters. Per-peer series are labelled with the
// peer's node id (a fleet has few edges); nothing is logged per packet.
type Metrics struct {
	DatagramsSent     *prometheus.CounterVec // peer
	DatagramsReceived *prometheus.CounterVec // peer
	BytesSent         *prometheus.CounterVec // peer: RTP bytes (datagram payloads)
	BytesReceived     *prometheus.CounterVec // peer
	LayerBytesSent    *prometheus.CounterVec // peer, layer, kind: BytesSent split by simulcast layer and Kind
	Dropped           *prometheus.CounterVec // peer, reason: queue, too_large, channel
	Malformed         prometheus.Counter     // datagrams and control messages that did not parse
	ControlDropped    prometheus.Counter     // control messages not queued (a wedged link)
	Handshakes        *prometheus.CounterVec // result: ok, refused
	Links             prometheus.Gauge       // connections up
}

// NewMetrics makes the counters and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spacecast", Subsystem: "edge_relay", Name: name, Help: help}, labels)
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "spacecast", Subsystem: "edge_relay", Name: name, Help: help})
	}
	m := &Metrics{
		DatagramsSent:     cv("datagrams_sent_total", "RTP datagrams handed to QUIC for a peer edge.", "peer"),
		DatagramsReceived: cv("datagrams_received_total", "RTP datagrams received from a peer edge and delivered to a subscription.", "peer"),
		BytesSent:         cv("bytes_sent_total", "RTP bytes (datagram payloads) sent to a peer edge.", "peer"),
		BytesReceived:     cv("bytes_received_total", "RTP bytes (datagram payloads) received from a peer edge.", "peer"),
		LayerBytesSent: cv("layer_bytes_sent_total", "RTP bytes sent to a peer edge by simulcast layer (0 lowest) and kind: media (as the publisher sent it), "+
			"padding (padding-only probes), repair (answers to the peer's NACKs), replay (a layer starting to cross: its cached keyframe and what followed).", "peer", "layer", "kind"),
		Dropped:        cv("datagrams_dropped_total", "RTP datagrams dropped: queue (the link's send queue was full), too_large (over the path's datagram size), channel (no such subscription).", "peer", "reason"),
		Malformed:      c("malformed_total", "Datagrams and control messages from peer edges that did not parse."),
		ControlDropped: c("control_dropped_total", "Control messages not queued because the link's control queue was full."),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spacecast", Subsystem: "edge_relay", Name: "handshakes_total",
			Help: "Relay connections by result: ok, or refused (not a member of the cluster, wrong protocol)."}, []string{"result"}),
		Links: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "spacecast", Subsystem: "edge_relay", Name: "links", Help: "Relay connections up."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.DatagramsSent, m.DatagramsReceived, m.BytesSent, m.BytesReceived, m.LayerBytesSent, m.Dropped,
		m.Malformed, m.ControlDropped, m.Handshakes, m.Links} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("relay: metrics: %w", err)
		}
	}
	return m, nil
}
