package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// scrape reads a process's /metrics.
func (w *world) scrape(p *proc) map[string]*dto.MetricFamily {
	w.t.Helper()
	resp, err := w.hc.Get("http://" + p.addr() + ":" + metricsPort + "/metrics")
	if err != nil {
		w.t.Fatalf("scrape %s: %v", p.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("scrape %s: HTTP %d", p.name, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		w.t.Fatalf("scrape %s: %v", p.name, err)
	}
	return fams
}

// startTURN starts `spacecast turn` alone in a namespace of its own.
func (w *world) startTURN(name, region string) *proc {
	w.t.Helper()
	h, err := w.net.AddHost(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	ip := h.Addr().String()
	cfg := w.write(name+".yaml", fmt.Sprintf(`log: {level: info, format: json}
turn:
  listen: %[1]s:%[2]s
  tlsListen: "off"
  udpSockets: 1
  relayBind: %[1]s
  allow: [198.18.0.0/15]
metrics: {listen: %[1]s:%[3]s, region: %[4]s, node: %[5]s}
`, ip, turnPort, metricsPort, region, name))
	p := &proc{name: name, region: region, host: h, args: []string{"turn", "--config", cfg}}
	w.run(p)
	return p
}

// families are the metric families each role serves after a call, by
// role: what the operations docs list and the dashboard and alerts use.
var families = map[string][]string{
	"controlplane": {
		"spacecast_controlplane_http_requests_total", "spacecast_controlplane_http_request_duration_seconds",
		"spacecast_controlplane_joins_total", "spacecast_controlplane_join_duration_seconds",
		"spacecast_controlplane_placements_total", "spacecast_controlplane_store_operation_duration_seconds",
		"spacecast_controlplane_tokens_issued_total", "spacecast_controlplane_rate_limited_total",
		"spacecast_controlplane_store_up",
		"spacecast_webhook_queue_depth", "spacecast_webhook_delivery_seconds", "spacecast_webhook_delivered_total",
		"spacecast_gossip_members", "spacecast_gossip_fleet_members", "spacecast_gossip_health_score",
		"spacecast_gossip_broadcast_queue", "spacecast_gossip_push_pull_total",
		"process_cpu_seconds_total", "go_goroutines",
	},
	"edge": {
		"spacecast_edge_rooms", "spacecast_edge_participants", "spacecast_edge_participants_joined_total",
		"spacecast_edge_rtp_packets_forwarded_total", "spacecast_edge_rtp_packets_dropped_total",
		"spacecast_edge_nack_sent_total", "spacecast_edge_pli_sent_total", "spacecast_edge_subscriber_bandwidth_bps",
		"spacecast_edge_relay_links", "spacecast_turn_allocations",
		"spacecast_gossip_members", "spacecast_gossip_fleet_members", "spacecast_gossip_health_score",
		"spacecast_gossip_broadcast_queue", "spacecast_gossip_push_pull_total",
		"process_cpu_seconds_total",
	},
	"turn": {"spacecast_turn_allocations", "spacecast_turn_relayed_packets_total", "process_cpu_seconds_total"},
}

// TestMetricsOfEveryRole: after a call between two regions (a control
// plane, an edge in each region, participants on both, and a TURN server
// alone), every role's /metrics serves the families of the operations
// docs, every series labelled with the process's region and node and none
// with a room, a participant or a raw path; the joins are counted by edge
// region and the placements by reason; and every metric the shipped
// dashboard and alert rules query is served by some role (or is one that
// appears only on its first event, listed below).
func TestMetricsOfEveryRole(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process fleet: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	cp := w.startControlPlane("cp-1")
	a1 := w.addEdge("edge-a1", "a")
	b1 := w.addEdge("edge-b1", "b")
	turn := w.startTURN("turn-1", "a")
	w.eventually("both edges in the region list", 20*time.Second, func() bool {
		r := w.regions()
		return len(r["a"]) == 1 && len(r["b"]) == 1
	})
	owner, space := w.owner()
	rm := w.room(owner, space, "metrics")
	var parts []*participant
	for _, region := range []string{"a", "b"} {
		ja, c := w.join(rm, map[string]any{"regionHint": region})
		if c != 200 || ja.Edge.Region != region {
			t.Fatalf("join in %s: HTTP %d in %q", region, c, ja.Edge.Region)
		}
		p, code := w.connect(ja.Edge.URL, ja.MediaToken)
		if p == nil {
			t.Fatalf("connect in %s: HTTP %d", region, code)
		}
		parts = append(parts, p)
	}
	w.eventually("the participants see each other across the regions", 20*time.Second, func() bool {
		_, okA := parts[0].state(parts[1].join.Participant.Identity)
		_, okB := parts[1].state(parts[0].join.Participant.Identity)
		return okA && okB
	})

	type role struct {
		kind string
		p    *proc
		node string
	}
	served := map[string]bool{}
	forbidden := regexp.MustCompile(`(?i)^(room|participant|identity|sid|path|alias|user|client|space)$`)
	for _, r := range []role{{"controlplane", cp, "cp-1"}, {"edge", a1, "edge-a1"}, {"edge", b1, "edge-b1"}, {"turn", turn, "turn-1"}} {
		region := r.p.region
		if r.kind == "controlplane" {
			region = "a"
		}
		var fams map[string]*dto.MetricFamily
		// Gauges read at scrape time (the room on each edge) may lag the
		// signalling by a moment: scrape until the edge counts its room.
		w.eventually(r.p.name+" metrics after the call", 10*time.Second, func() bool {
			fams = w.scrape(r.p)
			if r.kind != "edge" {
				return true
			}
			f := fams["spacecast_edge_participants"]
			return f != nil && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetGauge().GetValue() == 1
		})
		for name := range fams {
			served[name] = true
		}
		for _, want := range families[r.kind] {
			if fams[want] == nil {
				t.Errorf("%s (%s) serves no %s", r.p.name, r.kind, want)
			}
		}
		for name, f := range fams {
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
					if forbidden.MatchString(l.GetName()) {
						t.Errorf("%s: %s has a %s label: unbounded cardinality", r.p.name, name, l.GetName())
					}
					if strings.Contains(l.GetValue(), rm.alias) || strings.Contains(l.GetValue(), rm.id) {
						t.Errorf("%s: %s{%s=%q} names the room", r.p.name, name, l.GetName(), l.GetValue())
					}
				}
				if labels["region"] != region || labels["node"] != r.node {
					t.Errorf("%s: %s %v: want region %q and node %q", r.p.name, name, labels, region, r.node)
				}
			}
		}
		if r.kind == "controlplane" {
			joins := byLabels(fams["spacecast_controlplane_joins_total"], "outcome", "edge_region")
			if joins["ok/a"] != 1 || joins["ok/b"] != 1 {
				t.Errorf("joins by outcome and edge region: %v, want one ok in a and one in b", joins)
			}
			if pl := byLabels(fams["spacecast_controlplane_placements_total"], "edge_region", "reason"); pl["a/hint"] != 1 || pl["b/hint"] != 1 {
				t.Errorf("placements: %v, want one in a and one in b, both by hint", pl)
			}
			members := byLabels(fams["spacecast_gossip_fleet_members"], "member_region", "role")
			if members["a/edge"] != 1 || members["b/edge"] != 1 || members["a/controlplane"] != 1 {
				t.Errorf("the control plane's fleet view: %v, want an edge in a and in b, itself in a", members)
			}
		}
	}

	// Every metric the shipped dashboard and alerts query is served.
	for _, name := range queriedMetrics(t) {
		if served[name] || served[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] {
			continue
		}
		if why, ok := firstEventOnly[name]; ok {
			t.Logf("%s not served yet: %s", name, why)
			continue
		}
		t.Errorf("the dashboard or the alerts query %s, which no role serves", name)
	}
}

// firstEventOnly are the families with labels that no call makes: a
// labelled family shows only once one of its series has been used.
var firstEventOnly = map[string]string{
	"spacecast_controlplane_store_errors_total": "counted on the first failed store operation, by operation",
}

func byLabels(f *dto.MetricFamily, names ...string) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		vals := make([]string, len(names))
		for _, l := range m.GetLabel() {
			for i, n := range names {
				if l.GetName() == n {
					vals[i] = l.GetValue()
				}
			}
		}
		out[strings.Join(vals, "/")] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return out
}

// queriedMetrics are the metric names in deploy/'s dashboard queries and
// alert expressions.
func queriedMetrics(t *testing.T) []string {
	t.Helper()
	var exprs []string
	b, err := os.ReadFile("../../deploy/grafana/spacecast.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	b, err = os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	name := regexp.MustCompile(`\b(spacecast_[a-z_]+|process_[a-z_]+|go_[a-z_]+)\b`)
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) < 20 {
		t.Fatalf("only %d metric names found in the dashboard and the alerts", len(out))
	}
	return out
}
