package turn

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// traffic counts relayed packets. Each owner (a UDP socket's reader, a relay
// socket's reader) has its own, so the hot path never shares a cache line;
// the collector sums them at scrape time.
type traffic struct {
	toPeerPackets, toPeerBytes     atomic.Uint64
	toClientPackets, toClientBytes atomic.Uint64
	dropped                        atomic.Uint64 // over the bandwidth cap
}

// sentToPeer counts a packet of size bytes relayed to a peer.
func (t *traffic) sentToPeer(size int) {
	t.toPeerPackets.Add(1)
	t.toPeerBytes.Add(uint64(size)) //nolint:gosec // a length
}

// sentToClient counts a packet of size bytes relayed to a client.
func (t *traffic) sentToClient(size int) {
	t.toClientPackets.Add(1)
	t.toClientBytes.Add(uint64(size)) //nolint:gosec // a length
}

func (t *traffic) addTo(dst *traffic) {
	dst.toPeerPackets.Add(t.toPeerPackets.Load())
	dst.toPeerBytes.Add(t.toPeerBytes.Load())
	dst.toClientPackets.Add(t.toClientPackets.Load())
	dst.toClientBytes.Add(t.toClientBytes.Load())
	dst.dropped.Add(t.dropped.Load())
}

// Stats is a snapshot of the server's counters (the same figures as its
// Prometheus metrics).
type Stats struct {
	Allocations, Permissions, Channels int64
	ToPeerPackets, ToPeerBytes         uint64
	ToClientPackets, ToClientBytes     uint64
	DroppedPackets                     uint64
	AuthFailures                       uint64
	RefusedPeers                       uint64
	QuotaRejections                    uint64
}

// gauges and rare counters, updated off the hot path.
type metrics struct {
	allocations, permissions, channels atomic.Int64
	authExpired, authForged, authBad   atomic.Uint64
	authRevoked                        atomic.Uint64
	refusedPeers, quotaRejections      atomic.Uint64

	mu      sync.Mutex
	retired traffic // of closed relay sockets
	live    map[*traffic]struct{}
}

func newMetrics() *metrics {
	return &metrics{live: map[*traffic]struct{}{}}
}

func (m *metrics) track(t *traffic) {
	m.mu.Lock()
	m.live[t] = struct{}{}
	m.mu.Unlock()
}

func (m *metrics) retire(t *traffic) {
	m.mu.Lock()
	if _, ok := m.live[t]; ok {
		delete(m.live, t)
		t.addTo(&m.retired)
	}
	m.mu.Unlock()
}

func (m *metrics) stats() Stats {
	var sum traffic
	m.mu.Lock()
	m.retired.addTo(&sum)
	for t := range m.live {
		t.addTo(&sum)
	}
	m.mu.Unlock()
	return Stats{
		Allocations:     m.allocations.Load(),
		Permissions:     m.permissions.Load(),
		Channels:        m.channels.Load(),
		ToPeerPackets:   sum.toPeerPackets.Load(),
		ToPeerBytes:     sum.toPeerBytes.Load(),
		ToClientPackets: sum.toClientPackets.Load(),
		ToClientBytes:   sum.toClientBytes.Load(),
		DroppedPackets:  sum.dropped.Load(),
		AuthFailures:    m.authExpired.Load() + m.authForged.Load() + m.authBad.Load() + m.authRevoked.Load(),
		RefusedPeers:    m.refusedPeers.Load(),
		QuotaRejections: m.quotaRejections.Load(),
	}
}

var (
	descAllocations = prometheus.NewDesc("spacecast_turn_allocations", "Active TURN allocations.", nil, nil)
	descPermissions = prometheus.NewDesc("spacecast_turn_permissions", "Active TURN permissions.", nil, nil)
	descChannels    = prometheus.NewDesc("spacecast_turn_channels", "Active TURN channel bindings.", nil, nil)
	descPackets     = prometheus.NewDesc("spacecast_turn_relayed_packets_total", "Packets relayed, by direction.", []string{"direction"}, nil)
	descBytes       = prometheus.NewDesc("spacecast_turn_relayed_bytes_total", "Payload bytes relayed, by direction.", []string{"direction"}, nil)
	descDropped     = prometheus.NewDesc("spacecast_turn_dropped_packets_total", "Packets dropped over an allocation's bandwidth cap.", nil, nil)
	descAuth        = prometheus.NewDesc("spacecast_turn_auth_failures_total", "Refused credentials, by reason.", []string{"reason"}, nil)
	descRefused     = prometheus.NewDesc("spacecast_turn_refused_peers_total", "Permissions, channel binds and sends refused by the relay policy.", nil, nil)
	descQuota       = prometheus.NewDesc("spacecast_turn_quota_rejections_total", "Allocations refused by the per-user quota.", nil, nil)
)

// collector exposes metrics to Prometheus.
type collector struct{ m *metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAllocations, descPermissions, descChannels, descPackets, descBytes, descDropped, descAuth, descRefused, descQuota} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.stats()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descAllocations, s.Allocations)
	gauge(descPermissions, s.Permissions)
	gauge(descChannels, s.Channels)
	counter(descPackets, s.ToPeerPackets, "to_peer")
	counter(descPackets, s.ToClientPackets, "to_client")
	counter(descBytes, s.ToPeerBytes, "to_peer")
	counter(descBytes, s.ToClientBytes, "to_client")
	counter(descDropped, s.DroppedPackets)
	counter(descAuth, c.m.authExpired.Load(), "expired")
	counter(descAuth, c.m.authForged.Load(), "forged")
	counter(descAuth, c.m.authBad.Load(), "malformed")
	counter(descAuth, c.m.authRevoked.Load(), "revoked")
	counter(descRefused, s.RefusedPeers)
	counter(descQuota, s.QuotaRejections)
}
