package gossip

import (
	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// The gossip metrics. The member's region is the label member_region: the
// registerer of a process adds the process's own region as region.
var (
	descMembers = prometheus.NewDesc("spacecast_gossip_members",
		"Members of this node's pools (lan: its region's, wan: the WAN pool while it relays), by state (alive; failed: declared dead, still retried) and the member's region.",
		[]string{"pool", "state", "member_region"}, nil)
	descFleet = prometheus.NewDesc("spacecast_gossip_fleet_members",
		"Alive nodes of the fleet this node sees (its region's pool and the nodes of other regions the relayers vouch for), by region and role.",
		[]string{"member_region", "role"}, nil)
	descHealth = prometheus.NewDesc("spacecast_gossip_health_score",
		"Memberlist's awareness (Lifeguard) health score of this node in a pool: 0 is healthy, higher means it misses probes (its own network or CPU is slow).",
		[]string{"pool"}, nil)
	descQueue = prometheus.NewDesc("spacecast_gossip_broadcast_queue",
		"Broadcasts waiting to be gossiped in a pool (room directory, revocations, relayed records).",
		[]string{"pool"}, nil)
	descPushPull = prometheus.NewDesc("spacecast_gossip_push_pull_total",
		"Full-state exchanges (push/pull syncs) merged in a pool.",
		[]string{"pool"}, nil)
	descRelaying = prometheus.NewDesc("spacecast_gossip_relaying",
		"1 while this node is one of its region's WAN members (relays between regions).", nil, nil)
)

// Collector returns the node's metrics, read at each scrape: members by
// pool, state and region; the fleet view by region and role; each pool's
// health score, broadcast queue and push/pull syncs; whether it relays.
// Register it on the process's registry (whatever role runs gossip).
// Nothing is labelled by room or participant.
func (n *Node) Collector() prometheus.Collector { return collector{n} }

// collector is the prometheus.Collector of a Node.
type collector struct{ n *Node }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMembers, descFleet, descHealth, descQueue, descPushPull, descRelaying} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	type key struct{ pool, state, region string }
	members := map[key]int{}
	type fleetKey struct{ region, role string }
	fleet := map[fleetKey]int{}
	pools := []*pool{n.lan}
	if n.wan != nil {
		pools = append(pools, n.wan)
	}
	n.mu.Lock()
	relaying := n.relaying
	for _, p := range pools {
		for _, m := range p.members {
			members[key{p.kind.String(), "alive", m.Meta.Region}]++
		}
		for _, f := range p.failed {
			members[key{p.kind.String(), "failed", f.region}]++
		}
	}
	for _, m := range n.lan.members {
		fleet[fleetKey{m.Meta.Region, m.Meta.Role}]++
	}
	for _, rn := range n.remote {
		fleet[fleetKey{rn.member.Meta.Region, rn.member.Meta.Role}]++
	}
	type snap struct {
		p  *pool
		ml *memberlist.Memberlist
	}
	mls := make([]snap, 0, len(pools))
	for _, p := range pools {
		mls = append(mls, snap{p: p, ml: p.ml})
	}
	n.mu.Unlock()
	for k, v := range members {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(v), k.pool, k.state, k.region)
	}
	for k, v := range fleet {
		ch <- prometheus.MustNewConstMetric(descFleet, prometheus.GaugeValue, float64(v), k.region, k.role)
	}
	for _, r := range mls {
		name := r.p.kind.String()
		if r.ml != nil {
			ch <- prometheus.MustNewConstMetric(descHealth, prometheus.GaugeValue, float64(r.ml.GetHealthScore()), name)
		}
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(r.p.queue.NumQueued()), name)
		ch <- prometheus.MustNewConstMetric(descPushPull, prometheus.CounterValue, float64(r.p.pushPulls.Load()), name)
	}
	v := 0.0
	if relaying {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(descRelaying, prometheus.GaugeValue, v)
}
