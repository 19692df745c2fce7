package room

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/edge/forward"
)

// Metrics are the edge's room counters and (media) the media path's.
// Nothing is logged per packet; it is counted here.
type Metrics struct {
	media           *forward.Metrics
	rooms           prometheus.Gauge
	participants    prometheus.Gauge
	dataIn          prometheus.Counter
	dataDenied      prometheus.Counter
	dataUndelivered prometheus.Counter
	signalErrors    prometheus.Counter
	signalDropped   prometheus.Counter
	dataDropped     prometheus.Counter
	floodClosed     prometheus.Counter
	metadataRefused prometheus.Counter
	// joined counts joins by connection: "single" (one peer connection,
	// /rtc/v1) or "dual" (/rtc).
	joined *prometheus.CounterVec
	// joinStage is the time from the signalling session's start to each
	// stage of a join: answered (the first SDP answer or offer sent),
	// connected (the connection media goes on is up, DTLS included),
	// first_media (the first packet sent to the participant).
	joinStage *prometheus.HistogramVec
	// feedback and feedbackMalformed count subscribers' transport-cc
	// feedback packets; bandwidth samples each subscriber's estimate
	// once a second.
	feedback, feedbackMalformed prometheus.Counter
	bandwidth                   prometheus.Histogram
	// spanMalformed and spanUnsent count room state messages from other
	// edges that did not parse, and ours that found no link up (the
	// state is sent again in full when it comes up).
	spanMalformed, spanUnsent prometheus.Counter
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
	media, err := forward.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &Metrics{
		media:           media,
		rooms:           g("rooms", "Open rooms."),
		participants:    g("participants", "Participants in rooms."),
		dataIn:          c("data_packets_received_total", "Data packets received from participants."),
		dataDenied:      c("data_packets_denied_total", "Data packets dropped for lack of canPublishData or for being malformed."),
		dataUndelivered: c("data_packets_undelivered_total", "Data packets for a participant whose data channel was not open or refused them."),
		signalErrors:    c("signal_errors_total", "Signalling messages refused (malformed, out of order, not allowed)."),
		signalDropped:   c("signal_requests_dropped_total", "Signalling requests dropped because their participant sent faster than its rate."),
		dataDropped:     c("data_packets_dropped_total", "Data packets dropped because their participant sent faster than its rate."),
		floodClosed:     c("participants_flood_closed_total", "Participants disconnected for flooding the edge past their rate."),
		joined: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spacecast", Subsystem: "edge", Name: "participants_joined_total",
			Help: "Participants that joined, by connection: single (one peer connection both ways, /rtc/v1) or dual (/rtc)."}, []string{"connection"}),
		joinStage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "spacecast", Subsystem: "edge", Name: "join_stage_seconds",
			Help:    "Time from a join's signalling session start to each stage: answered (first SDP sent), connected (media connection up), first_media (first packet sent).",
			Buckets: []float64{.025, .05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10}}, []string{"stage"}),
		feedback:          c("transport_feedback_total", "Transport-cc feedback packets from subscribers taken by their bandwidth estimators."),
		feedbackMalformed: c("transport_feedback_malformed_total", "Transport-cc feedback packets from subscribers refused as malformed."),
		bandwidth: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "spacecast", Subsystem: "edge", Name: "subscriber_bandwidth_bps",
			Help:    "Subscribers' bandwidth estimates (the edge's own from transport-cc feedback, else the client's REMB), sampled once a second per subscriber.",
			Buckets: prometheus.ExponentialBuckets(100_000, 1.5, 14)}),
		spanMalformed:   c("room_state_malformed_total", "Room state messages from other edges that did not parse or named a participant of another edge."),
		spanUnsent:      c("room_state_unsent_total", "Room state messages for another edge hosting the room that found no relay link up."),
		metadataRefused: c("metadata_updates_refused_total", "Participants' own metadata updates refused: too frequent, too large, server-owned attributes, renaming not allowed."),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.rooms, m.participants, m.dataIn, m.dataDenied,
		m.dataUndelivered, m.signalErrors, m.signalDropped, m.dataDropped, m.floodClosed, m.metadataRefused, m.joined, m.joinStage,
		m.feedback, m.feedbackMalformed, m.bandwidth, m.spanMalformed, m.spanUnsent} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("room: metrics: %w", err)
		}
	}
	return m, nil
}
