package room

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the edge's media and room counters. Nothing is logged per
// packet; it is counted here.
type Metrics struct {
	rooms            prometheus.Gauge
	participants     prometheus.Gauge
	packetsIn        prometheus.Counter
	packetsOut       prometheus.Counter
	packetsDropped   prometheus.Counter
	packetsDirect    prometheus.Counter
	packetsMalformed prometheus.Counter
	packetsDuplicate prometheus.Counter
	paddingIn        prometheus.Counter
	retransmitted    prometheus.Counter
	pliSent          prometheus.Counter
	nackSent         prometheus.Counter
	dataIn           prometheus.Counter
	dataDenied       prometheus.Counter
	dataUndelivered  prometheus.Counter
	signalErrors     prometheus.Counter
	signalDropped    prometheus.Counter
	dataDropped      prometheus.Counter
	floodClosed      prometheus.Counter
	metadataRefused  prometheus.Counter
}

// NewMetrics makes the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "spacecast", Subsystem: "edge", Name: name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "spacecast", Subsystem: "edge", Name: name, Help: help})
	}
	m := &Metrics{
		rooms:            g("rooms", "Open rooms."),
		participants:     g("participants", "Participants in rooms."),
		packetsIn:        c("rtp_packets_received_total", "RTP packets received from publishers."),
		packetsOut:       c("rtp_packets_forwarded_total", "RTP packets forwarded to subscribers."),
		packetsDropped:   c("rtp_packets_dropped_total", "RTP packets that could not be written to a subscriber."),
		packetsDirect:    c("rtp_packets_direct_total", "RTP packets forwarded to subscribers that the edge encrypted and sent itself rather than through pion's write path."),
		packetsMalformed: c("rtp_packets_malformed_total", "Received RTP packets that did not parse."),
		packetsDuplicate: c("rtp_packets_duplicate_total", "Received RTP packets dropped as duplicates of packets already forwarded (or too old to forward)."),
		paddingIn:        c("rtp_padding_received_total", "Padding-only RTP packets (bandwidth probes) received from publishers; never forwarded."),
		retransmitted:    c("rtp_packets_retransmitted_total", "RTP packets sent again to subscribers in answer to their NACKs."),
		pliSent:          c("pli_sent_total", "Keyframe requests sent to publishers."),
		nackSent:         c("nack_sent_total", "Sequence numbers publishers were asked to send again (Generic NACK)."),
		dataIn:           c("data_packets_received_total", "Data packets received from participants."),
		dataDenied:       c("data_packets_denied_total", "Data packets dropped for lack of canPublishData or for being malformed."),
		dataUndelivered:  c("data_packets_undelivered_total", "Data packets for a participant whose data channel was not open or refused them."),
		signalErrors:     c("signal_errors_total", "Signalling messages refused (malformed, out of order, not allowed)."),
		signalDropped:    c("signal_requests_dropped_total", "Signalling requests dropped because their participant sent faster than its rate."),
		dataDropped:      c("data_packets_dropped_total", "Data packets dropped because their participant sent faster than its rate."),
		floodClosed:      c("participants_flood_closed_total", "Participants disconnected for flooding the edge past their rate."),
		metadataRefused:  c("metadata_updates_refused_total", "Participants' own metadata updates refused: too frequent, too large, server-owned attributes, renaming not allowed."),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.rooms, m.participants, m.packetsIn, m.packetsOut, m.packetsDropped, m.packetsDirect,
		m.packetsMalformed, m.packetsDuplicate, m.paddingIn, m.retransmitted, m.pliSent, m.nackSent, m.dataIn, m.dataDenied,
		m.dataUndelivered, m.signalErrors, m.signalDropped, m.dataDropped, m.floodClosed, m.metadataRefused} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("room: metrics: %w", err)
		}
	}
	return m, nil
}
