package placement

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/gossip"
)

// memberlist's Shutdown does not wait for a probe in flight: its goroutine
// waits out the probe's ack timer (up to the probe interval, stretched by
// the node's health score) and then ends. Everything else must stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

func edge(id, region string, participants, max int) Edge {
	return Edge{NodeID: id, Region: region, SignalURL: "wss://" + id + ".test", Participants: participants, MaxParticipants: max}
}

func TestChoose(t *testing.T) {
	policy := Policy{
		DefaultRegion: "eu",
		CIDRs: []CIDRRegion{
			{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Region: "us"},
			{Prefix: netip.MustParsePrefix("198.18.5.0/24"), Region: "ap"},
		},
	}
	fleet := []Edge{
		edge("eu-1", "eu", 50, 100),
		edge("eu-2", "eu", 10, 100),
		edge("us-1", "us", 10, 100),
		edge("ap-1", "ap", 10, 100),
	}
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	tests := []struct {
		name    string
		policy  Policy
		edges   []Edge
		hosts   map[string]int
		req     Request
		want    string
		wantErr error
	}{
		{"default region, least loaded", policy, fleet, nil, Request{}, "eu-2", nil},
		{"hint wins over everything", policy, fleet, nil,
			Request{RegionHint: "ap", RTTs: map[string]time.Duration{"us": ms(5)}, ClientAddr: netip.MustParseAddr("198.18.0.1")}, "ap-1", nil},
		{"hint of an unknown region falls through to RTT", policy, fleet, nil,
			Request{RegionHint: "mars", RTTs: map[string]time.Duration{"us": ms(20), "ap": ms(90)}}, "us-1", nil},
		{"lowest RTT", policy, fleet, nil,
			Request{RTTs: map[string]time.Duration{"eu": ms(80), "us": ms(20), "ap": ms(150)}}, "us-1", nil},
		{"RTT to a region without edges ignored", policy, fleet, nil,
			Request{RTTs: map[string]time.Duration{"sa": ms(5), "ap": ms(40)}}, "ap-1", nil},
		{"RTTs beat CIDR", policy, fleet, nil,
			Request{RTTs: map[string]time.Duration{"eu": ms(30)}, ClientAddr: netip.MustParseAddr("198.18.0.1")}, "eu-2", nil},
		{"CIDR map", policy, fleet, nil, Request{ClientAddr: netip.MustParseAddr("198.19.1.1")}, "us-1", nil},
		{"CIDR longest prefix", policy, fleet, nil, Request{ClientAddr: netip.MustParseAddr("198.18.5.7")}, "ap-1", nil},
		{"CIDR on a v4-mapped address", policy, fleet, nil, Request{ClientAddr: netip.MustParseAddr("::ffff:198.19.1.1")}, "us-1", nil},
		{"no CIDR match: default", policy, fleet, nil, Request{ClientAddr: netip.MustParseAddr("127.0.0.1")}, "eu-2", nil},
		{"sticky room beats load", policy, fleet, map[string]int{"eu-1": 3}, Request{}, "eu-1", nil},
		{"sticky only within the region", policy, fleet, map[string]int{"us-1": 3}, Request{}, "eu-2", nil},
		{"sticky picks the host with most of the room", policy,
			[]Edge{edge("eu-1", "eu", 50, 100), edge("eu-2", "eu", 10, 100), edge("eu-3", "eu", 0, 100)},
			map[string]int{"eu-1": 2, "eu-3": 9}, Request{}, "eu-3", nil},
		{"full sticky host: least loaded instead", policy,
			[]Edge{edge("eu-1", "eu", 100, 100), edge("eu-2", "eu", 10, 100), edge("eu-3", "eu", 5, 100)},
			map[string]int{"eu-1": 100}, Request{}, "eu-3", nil},
		{"draining never chosen", policy,
			[]Edge{{NodeID: "eu-1", Region: "eu", SignalURL: "wss://x", Draining: true}, edge("eu-2", "eu", 90, 100)},
			map[string]int{"eu-1": 1}, Request{}, "eu-2", nil},
		{"load by CPU when participants tie", policy,
			[]Edge{{NodeID: "eu-1", Region: "eu", SignalURL: "wss://a", CPU: 80}, {NodeID: "eu-2", Region: "eu", SignalURL: "wss://b", CPU: 20}},
			nil, Request{}, "eu-2", nil},
		{"capacity-relative load", policy,
			[]Edge{edge("eu-1", "eu", 40, 50), edge("eu-2", "eu", 100, 1000)}, nil, Request{}, "eu-2", nil},
		{"unlimited edge", policy, []Edge{edge("eu-1", "eu", 5000, 0)}, nil, Request{}, "eu-1", nil},
		{"region all full: next RTT region", policy,
			[]Edge{edge("eu-1", "eu", 100, 100), edge("us-1", "us", 1, 100), edge("ap-1", "ap", 1, 100)},
			nil, Request{RegionHint: "eu", RTTs: map[string]time.Duration{"eu": ms(10), "ap": ms(50), "us": ms(90)}}, "ap-1", nil},
		{"region all draining: default region", policy,
			[]Edge{{NodeID: "us-1", Region: "us", SignalURL: "wss://x", Draining: true}, edge("eu-1", "eu", 1, 100), edge("ap-1", "ap", 0, 100)},
			nil, Request{RegionHint: "us"}, "eu-1", nil},
		{"default region empty: least utilised anywhere", Policy{DefaultRegion: "eu"},
			[]Edge{edge("us-1", "us", 60, 100), edge("ap-1", "ap", 20, 100)}, nil, Request{}, "ap-1", nil},
		{"no default region", Policy{}, []Edge{edge("us-1", "us", 60, 100)}, nil, Request{}, "us-1", nil},
		{"edge without signalling URL skipped", policy,
			[]Edge{{NodeID: "eu-1", Region: "eu"}, edge("eu-2", "eu", 99, 100)}, nil, Request{}, "eu-2", nil},
		{"everything full", policy, []Edge{edge("eu-1", "eu", 100, 100)}, nil, Request{}, "", ErrNoEdge},
		{"empty fleet", policy, nil, nil, Request{}, "", ErrNoEdge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Choose(tc.policy, Fleet{Edges: tc.edges, RoomHosts: tc.hosts}, tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got.NodeID != tc.want {
				t.Fatalf("placed on %q, want %q", got.NodeID, tc.want)
			}
			if err == nil && got.SignalURL == "" {
				t.Fatal("placement without signalling URL")
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := (Policy{CIDRs: []CIDRRegion{{Region: "eu"}}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("prefixless CIDR: %v", err)
	}
	if err := (Policy{CIDRs: []CIDRRegion{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Region: "eu"}}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// fakeView is a fixed fleet view.
type fakeView struct {
	members []gossip.Member
	hosts   map[string][]gossip.RoomHost
}

func (f fakeView) Nodes() []gossip.Member              { return f.members }
func (f fakeView) Hosts(room string) []gossip.RoomHost { return f.hosts[room] }

func member(id, role, region string, mut func(*gossip.Meta)) gossip.Member {
	m := gossip.Meta{NodeID: id, Role: role, Region: region, SignalURL: "wss://" + id + ".test",
		ProbeURL: "https://" + id + ".test/probe", MaxParticipants: 100}
	if mut != nil {
		mut(&m)
	}
	return gossip.Member{State: gossip.StateAlive, Meta: m}
}

func TestGossipPlacer(t *testing.T) {
	view := fakeView{
		members: []gossip.Member{
			member("cp-1", gossip.RoleControlPlane, "eu", nil),
			member("eu-1", gossip.RoleEdge, "eu", func(m *gossip.Meta) { m.Load.Participants = 10 }),
			member("eu-2", gossip.RoleEdge, "eu", func(m *gossip.Meta) { m.Load.Participants = 50 }),
			member("eu-3", gossip.RoleEdge, "eu", func(m *gossip.Meta) { m.Leaving = true }),
			member("us-1", gossip.RoleEdge, "us", func(m *gossip.Meta) { m.Draining = true }),
			{State: gossip.StateAlive, Meta: gossip.Meta{NodeID: "broken"}, MetaErr: errors.New("bad")},
		},
		hosts: map[string][]gossip.RoomHost{"room-b": {{NodeID: "eu-2", Room: gossip.Room{Participants: 4}}}},
	}
	g, err := NewGossip(view, Policy{DefaultRegion: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"least loaded edge, never the control plane or a leaving edge", Request{RoomID: "room-a"}, "eu-1"},
		{"sticky by room id", Request{RoomID: "room-b"}, "eu-2"},
		{"sticky by alias when no id", Request{RoomAlias: "room-b"}, "eu-2"},
		{"draining region falls back", Request{RoomID: "room-a", RegionHint: "us"}, "eu-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := g.Place(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if p.NodeID != tc.want {
				t.Fatalf("placed on %s, want %s", p.NodeID, tc.want)
			}
		})
	}
	regions := Regions(view.members)
	if len(regions) != 1 || regions[0].Name != "eu" || len(regions[0].ProbeURLs) != 2 {
		t.Fatalf("Regions() = %+v", regions)
	}
	if _, err := NewGossip(nil, Policy{}); err == nil {
		t.Fatal("nil view accepted")
	}
}

// TestChooseReason: every placement says why its region was chosen, the
// label placements are counted by.
func TestChooseReason(t *testing.T) {
	policy := Policy{DefaultRegion: "eu", CIDRs: []CIDRRegion{{Prefix: netip.MustParsePrefix("198.18.0.0/15"), Region: "us"}}}
	fleet := []Edge{edge("eu-1", "eu", 0, 100), edge("us-1", "us", 0, 100), edge("ap-1", "ap", 0, 100)}
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	for _, tc := range []struct {
		name   string
		policy Policy
		edges  []Edge
		req    Request
		region string
		reason string
	}{
		{"hint", policy, fleet, Request{RegionHint: "ap"}, "ap", ReasonHint},
		{"rtt", policy, fleet, Request{RTTs: map[string]time.Duration{"us": ms(10), "ap": ms(90)}}, "us", ReasonRTT},
		{"cidr", policy, fleet, Request{ClientAddr: netip.MustParseAddr("198.18.0.9")}, "us", ReasonCIDR},
		{"default", policy, fleet, Request{}, "eu", ReasonDefault},
		{"unknown hint: rtt", Policy{}, fleet, Request{RegionHint: "mars", RTTs: map[string]time.Duration{"us": ms(10), "ap": ms(90)}}, "us", ReasonRTT},
		{"no preference at all", Policy{}, []Edge{edge("ap-1", "ap", 0, 100)}, Request{}, "ap", ReasonAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := Choose(tc.policy, Fleet{Edges: tc.edges}, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if pl.Region != tc.region || pl.Reason != tc.reason {
				t.Errorf("placed in %s for %q, want %s for %q", pl.Region, pl.Reason, tc.region, tc.reason)
			}
		})
	}
	pl, err := Static{Edge: Placement{SignalURL: "ws://edge.test", Region: "local"}}.Place(context.Background(), Request{})
	if err != nil || pl.Reason != ReasonStatic {
		t.Errorf("static placement: %q, %v; want reason %q", pl.Reason, err, ReasonStatic)
	}
}
