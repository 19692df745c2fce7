package gossip

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// gathered reads one family's samples as label string → value.
func gathered(t *testing.T, reg *prometheus.Registry, family string) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			out[key] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// TestCollector: a node's metrics count its pool's members by state and
// region, the fleet by region and role, and the push/pull syncs of its
// joins; a crashed member shows as failed.
func TestCollector(t *testing.T) {
	nodes := startCluster(t, 3, withRegion("eu"), withoutLeave())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(nodes[0].Collector())
	if n, err := testutil.GatherAndCount(reg, "spacecast_gossip_health_score", "spacecast_gossip_broadcast_queue", "spacecast_gossip_relaying"); err != nil || n != 3 {
		t.Fatalf("health, queue and relaying: %d series, %v; want 3", n, err)
	}
	if got := gathered(t, reg, "spacecast_gossip_members")["member_region=eu pool=lan state=alive "]; got != 3 {
		t.Errorf("alive lan members in eu: %v, want 3", got)
	}
	if got := gathered(t, reg, "spacecast_gossip_fleet_members"); len(got) != 1 || got["member_region=eu role=edge "] != 3 {
		t.Errorf("fleet: %v, want 3 edges in eu", got)
	}
	// n0 was the seed: each joiner pushed and pulled state with it.
	waitFor(t, 5*time.Second, "push/pulls counted", func() bool {
		return gathered(t, reg, "spacecast_gossip_push_pull_total")["pool=lan "] >= 2
	})
	nodes[2].stop(t)
	waitFor(t, 10*time.Second, "the crashed member counted failed", func() bool {
		m := gathered(t, reg, "spacecast_gossip_members")
		return m["member_region=eu pool=lan state=failed "] == 1 && m["member_region=eu pool=lan state=alive "] == 2
	})
}
