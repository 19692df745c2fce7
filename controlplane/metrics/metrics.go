package metrics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Metrics are the control plane's metrics. A nil *Metrics counts nothing:
// every method may be called on it.
type Metrics struct {
	requests      *prometheus.CounterVec   // route, method, status
	latency       *prometheus.HistogramVec // route, method
	joins         *prometheus.CounterVec   // outcome, edge_region
	joinLatency   *prometheus.HistogramVec // outcome
	placements    *prometheus.CounterVec   // edge_region, reason
	storeLatency  *prometheus.HistogramVec // op
	storeErrors   *prometheus.CounterVec   // op
	tokens        *prometheus.CounterVec   // kind
	rateLimited   *prometheus.CounterVec   // limiter
	storeUp       prometheus.Gauge
	storeChecked  prometheus.Counter
	storeDownSeen prometheus.Counter
}

// Label values that stand for "none" or "other".
const (
	// RouteUnmatched is the route of a request no route matched (404).
	RouteUnmatched = "unmatched"
	// RegionNone is the edge region of a join that placed nobody.
	RegionNone = "none"
)

// New makes the metrics and registers them on reg (nil: not registered).
func New(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "spacecast", "controlplane"
	httpBuckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern (never the raw path), method and status."}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern and method.", Buckets: httpBuckets}, []string{"route", "method"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "joins_total",
			Help: "Room joins (POST /v1/rooms/{alias}/join), by outcome (ok, waiting, or the error code answered) and the region of the edge chosen (none when the join failed)."}, []string{"outcome", "edge_region"}),
		joinLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "join_duration_seconds",
			Help: "Time to answer a room join, by outcome.", Buckets: httpBuckets}, []string{"outcome"}),
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "placements_total",
			Help: "Placement decisions: the region of the edge chosen and why it was chosen (hint, rtt, cidr, default, any, static); edge_region none with reason no_edge when no edge could take the participant."}, []string{"edge_region", "reason"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "store_operation_duration_seconds",
			Help: "Time of a store operation, by operation (the Store method).", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_errors_total",
			Help: "Store operations that failed (not found, conflict, used and expired are answers, not failures), by operation."}, []string{"op"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tokens_issued_total",
			Help: "Tokens issued: REST token pairs by grant type (client_credentials, password, refresh_token) and media tokens of joins (media)."}, []string{"kind"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rate_limited_total",
			Help: "Requests refused by a rate limit (429), by limiter (the rateLimit section's names)."}, []string{"limiter"}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "store_up",
			Help: "1 when the last readiness check reached the store, else 0."}),
		storeChecked: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_pings_total",
			Help: "Readiness checks of the store made (answers within the cache time reuse the last one)."}),
		storeDownSeen: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "store_ping_failures_total",
			Help: "Readiness checks that did not reach the store in time."}),
	}
	// The label values known in advance are there from the start (at 0),
	// so that dashboards and alerts see a series before the first event.
	for _, l := range Limiters() {
		m.rateLimited.WithLabelValues(l)
	}
	for _, k := range []string{"client_credentials", "password", "refresh_token", "media"} {
		m.tokens.WithLabelValues(k)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.joins, m.joinLatency, m.placements, m.storeLatency,
		m.storeErrors, m.tokens, m.rateLimited, m.storeUp, m.storeChecked, m.storeDownSeen} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("controlplane metrics: %w", err)
		}
	}
	return m, nil
}

// Request counts an answered HTTP request. route is the matched pattern
// (RouteUnmatched for none), method one of the HTTP methods.
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	method = knownMethod(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(took.Seconds())
}

// knownMethod keeps the label bounded: a made-up method is "other".
func knownMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

// Join counts a room join: outcome "ok" or the error code answered, the
// region of the edge chosen ("" when none).
func (m *Metrics) Join(outcome, edgeRegion string, took time.Duration) {
	if m == nil {
		return
	}
	if edgeRegion == "" {
		edgeRegion = RegionNone
	}
	m.joins.WithLabelValues(outcome, edgeRegion).Inc()
	m.joinLatency.WithLabelValues(outcome).Observe(took.Seconds())
}

// TokenIssued counts a token issued, by kind.
func (m *Metrics) TokenIssued(kind string) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues(kind).Inc()
}

// Limiters are the names of the rate limits (the rateLimit section's),
// the limiter label of RateLimited.
func Limiters() []string {
	return []string{"tokenPerAddress", "tokenPerClient", "tokenPerUsername", "createUserPerClient", "joinPerAddress", "guestJoinPerAddress"}
}

// RateLimited counts a request refused by limiter (one of Limiters).
func (m *Metrics) RateLimited(limiter string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limiter).Inc()
}

// StorePing records a readiness check of the store.
func (m *Metrics) StorePing(err error) {
	if m == nil {
		return
	}
	m.storeChecked.Inc()
	if err != nil {
		m.storeDownSeen.Inc()
		m.storeUp.Set(0)
		return
	}
	m.storeUp.Set(1)
}

// ObserveStore is a store.Observer: the latency of each operation, and
// its failures.
func (m *Metrics) ObserveStore(op string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeLatency.WithLabelValues(op).Observe(took.Seconds())
	if err != nil && !isAnswer(err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// isAnswer tells the store's domain answers from its failures.
func isAnswer(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUsed, store.ErrExpired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Store returns s observed by m (s itself when m is nil).
func (m *Metrics) Store(s store.Store) store.Store {
	if m == nil {
		return s
	}
	return store.Observed(s, m.ObserveStore)
}

// Placer returns p with its decisions counted (p itself when m is nil).
func (m *Metrics) Placer(p placement.Placer) placement.Placer {
	if m == nil || p == nil {
		return p
	}
	return countedPlacer{p: p, m: m}
}

// countedPlacer counts the decisions of the Placer it wraps.
type countedPlacer struct {
	p placement.Placer
	m *Metrics
}

// Place implements placement.Placer.
func (c countedPlacer) Place(ctx context.Context, req placement.Request) (placement.Placement, error) {
	pl, err := c.p.Place(ctx, req)
	switch {
	case err == nil:
		reason := pl.Reason
		if reason == "" {
			reason = "unknown"
		}
		c.m.placements.WithLabelValues(pl.Region, reason).Inc()
	case errors.Is(err, placement.ErrNoEdge):
		c.m.placements.WithLabelValues(RegionNone, "no_edge").Inc()
	}
	return pl, err
}
