package gossip

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// listings builds relayers' listings: relayer → "id" (alive in its region
// pool), "id/wan" (alive in the WAN pool), "-id" (gone from its region
// pool), "-id/wan" (gone from the WAN pool).
func listings(self string, by map[string][]string) *vmap[listValue] {
	m := newVmap[listValue](self, t0, nil)
	for origin, lines := range by {
		o := newVmap[listValue](origin, t0, nil)
		for _, l := range lines {
			id, wan := strings.CutSuffix(l, "/wan")
			id, gone := strings.CutPrefix(id, "-")
			d := o.set(id, listValue{Alive: !gone, WAN: wan})
			if origin == self {
				m.set(id, d.Entry.Val)
			} else {
				m.apply(d)
			}
		}
	}
	return m
}

// region builds region-pool members: "id" or "id*" (a relayer).
func region(ids ...string) map[string]Member {
	out := map[string]Member{}
	for _, id := range ids {
		id, relays := strings.CutSuffix(id, "*")
		out[id] = Member{State: StateAlive, Meta: Meta{NodeID: id, WAN: relays}}
	}
	return out
}

// TestRelayedView checks how a node sees other regions from its region's
// relayers' listings. We are a1 in region a; b1 and b2 relay for region b.
func TestRelayedView(t *testing.T) {
	records := map[string]*remoteNode{}
	for _, id := range []string{"b1", "b2", "b3", "c1", "c2"} {
		records[id] = &remoteNode{member: Member{State: StateAlive, Meta: Meta{NodeID: id}}}
	}
	tests := []struct {
		name       string
		selfRelays bool
		lan        map[string]Member
		lists      map[string][]string
		nodes      map[string]*remoteNode
		want       []string
	}{
		{
			name: "through a relayer of ours",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"a1", "a2", "b1/wan", "b2/wan"},
				"b1": {"b1", "b2", "b3"},
			},
			want: []string{"b1", "b2", "b3"},
		},
		{
			name:       "we relay",
			selfRelays: true,
			lan:        region("a1"),
			lists: map[string][]string{
				"a1": {"a1", "b1/wan"},
				"b1": {"b1", "b2", "b3"},
			},
			want: []string{"b1", "b2", "b3"},
		},
		{
			name: "a listing of a region-pool member that does not relay is ignored",
			lan:  region("a1", "a2"),
			lists: map[string][]string{
				"a2": {"a1", "a2", "b1/wan"},
				"b1": {"b1", "b2"},
			},
		},
		{
			name: "a node gone from its region pool is gone",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"b1/wan", "b2/wan"},
				"b1": {"b1", "b2", "-b3"},
				"b2": {"b1", "b2", "-b3"},
			},
			want: []string{"b1", "b2"},
		},
		{
			name: "one relayer that still sees a node is enough (it is being detected)",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"b1/wan", "b2/wan"},
				"b1": {"b1", "b2", "b3"},
				"b2": {"b1", "b2", "-b3"},
			},
			want: []string{"b1", "b2", "b3"},
		},
		{
			name: "a region whose relayers the WAN pool declared dead is gone",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"-b1/wan", "-b2/wan", "c1/wan"},
				"b1": {"b1", "b2", "b3"},
				"c1": {"c1", "c2"},
			},
			want: []string{"c1", "c2"},
		},
		{
			name: "the WAN verdict of one of our relayers is not enough while another vouches",
			lan:  region("a1", "a2*", "a3*"),
			lists: map[string][]string{
				"a2": {"-b1/wan"},
				"a3": {"b1/wan"},
				"b1": {"b1", "b2"},
			},
			want: []string{"b1", "b2"},
		},
		{
			name: "a crashed relayer, listed gone by another relayer of its region, is not trusted",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"b1/wan", "b2/wan"}, // the WAN pool has not noticed yet
				"b1": {"b1", "b2", "b3"},   // frozen when it crashed
				"b2": {"-b1", "b2", "-b3"}, // b3 crashed with it
			},
			want: []string{"b2"},
		},
		{
			name: "two relayers split inside their region are both kept",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"b1/wan", "b2/wan"},
				"b1": {"b1", "-b2", "b3"},
				"b2": {"-b1", "b2"},
			},
			want: []string{"b1", "b2", "b3"},
		},
		{
			name: "no record, no member",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"b1/wan"},
				"b1": {"b1", "b2"},
			},
			nodes: map[string]*remoteNode{"b1": records["b1"]},
			want:  []string{"b1"},
		},
		{
			name: "our region pool has the last word on our region",
			lan:  region("a1", "a2*"),
			lists: map[string][]string{
				"a2": {"b1/wan"},
				"b1": {"b1", "a3", "a1"},
			},
			want: []string{"b1"},
		},
		{
			name: "a relayer of ours that is leaving is not used",
			lan: func() map[string]Member {
				m := region("a1", "a2*")
				a2 := m["a2"]
				a2.Meta.Leaving = true
				m["a2"] = a2
				return m
			}(),
			lists: map[string][]string{
				"a2": {"b1/wan"},
				"b1": {"b1"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := tc.nodes
			if nodes == nil {
				nodes = records
			}
			view, _ := relayedView(viewInput{self: "a1", selfRelays: tc.selfRelays, lan: tc.lan, lists: listings("a1", tc.lists), nodes: nodes})
			var got []string
			for id := range view {
				got = append(got, id)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("view %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRoutes: news goes where it is missing, and never back where it came
// from by anti-entropy.
func TestRoutes(t *testing.T) {
	tests := []struct {
		name                       string
		from                       poolKind
		merged, lanOwned, relaying bool
		lan, wan                   bool
	}{
		{"own change, not relaying", poolNone, false, true, false, true, false},
		{"own change, relaying", poolNone, false, true, true, true, true},
		{"our region's news from our pool: on, and out to the WAN", poolLAN, false, true, true, true, true},
		{"another region's news from our pool: on, not back to the WAN", poolLAN, false, false, true, true, false},
		{"another region's news from the WAN: in, and on in the WAN", poolWAN, false, false, true, true, true},
		{"our region's news back from the WAN: not into our pool", poolWAN, false, true, true, false, true},
		{"merged from our pool: our pool's anti-entropy spreads it", poolLAN, true, true, true, false, true},
		{"merged from the WAN: into our pool only", poolWAN, true, false, true, true, false},
		{"not relaying: never the WAN", poolLAN, false, true, false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lan, wan := routes(tc.from, tc.merged, tc.lanOwned, tc.relaying)
			if lan != tc.lan || wan != tc.wan {
				t.Fatalf("routes = lan %v wan %v, want lan %v wan %v", lan, wan, tc.lan, tc.wan)
			}
		})
	}
}

// TestWANElection: every control plane with a wan section relays; of a
// region's edges with one, the wan.members with the lowest ids do.
func TestWANElection(t *testing.T) {
	edge := func(id, region string, wan, leaving bool) Member {
		m := Member{State: StateAlive, Meta: Meta{NodeID: id, Role: RoleEdge, Region: region, Leaving: leaving}}
		if wan {
			m.Meta.WANAddr = "198.18.0.1:7947"
		}
		return m
	}
	fleet := func(ms ...Member) map[string]Member {
		out := map[string]Member{}
		for _, m := range ms {
			out[m.ID()] = m
		}
		return out
	}
	tests := []struct {
		name    string
		self    string
		role    string
		members int
		lan     map[string]Member
		want    bool
	}{
		{"control plane", "cp", RoleControlPlane, 1, fleet(edge("a", "eu", true, false)), true},
		{"lowest id", "a", RoleEdge, 1, fleet(edge("a", "eu", true, false), edge("b", "eu", true, false)), true},
		{"not the lowest", "b", RoleEdge, 1, fleet(edge("a", "eu", true, false), edge("b", "eu", true, false)), false},
		{"second of two", "b", RoleEdge, 2, fleet(edge("a", "eu", true, false), edge("b", "eu", true, false), edge("c", "eu", true, false)), true},
		{"a lower edge without a wan section does not count", "b", RoleEdge, 1, fleet(edge("a", "eu", false, false), edge("b", "eu", true, false)), true},
		{"a lower edge that is leaving does not count", "b", RoleEdge, 1, fleet(edge("a", "eu", true, true), edge("b", "eu", true, false)), true},
		{"a lower edge of another region does not count", "b", RoleEdge, 1, fleet(edge("a", "us", true, false), edge("b", "eu", true, false)), true},
		{"alone", "z", RoleEdge, 1, fleet(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{NodeID: tc.self, Role: tc.role, Region: "eu", WAN: WANConfig{BindAddr: "127.0.0.1:0", Members: tc.members}}
			lan := tc.lan
			lan[tc.self] = Member{State: StateAlive, Meta: Meta{NodeID: tc.self, Role: tc.role, Region: "eu", WANAddr: "198.18.0.9:7947"}}
			n := &Node{cfg: cfg, lan: &pool{members: lan}, wan: &pool{}}
			if got := n.wantWAN(); got != tc.want {
				t.Fatalf("wantWAN() = %v, want %v", got, tc.want)
			}
		})
	}
	n := &Node{cfg: Config{NodeID: "cp", Role: RoleControlPlane}, lan: &pool{members: map[string]Member{}}}
	if n.wantWAN() {
		t.Fatal("a node without a wan section wants the WAN pool")
	}
}

// A listing's entries are kept as gone for a while, then dropped.
func TestReconcileListing(t *testing.T) {
	now := t0
	n := &Node{
		cfg: Config{NodeID: "a1", Region: "a"}, relaying: true, now: func() time.Time { return now },
		lists: newVmap[listValue]("a1", t0, nil), deadAt: map[string]time.Time{},
		lan: &pool{members: region("a1", "a2")},
		wan: &pool{members: map[string]Member{
			"a1": {Meta: Meta{NodeID: "a1", Region: "a"}},
			"b1": {Meta: Meta{NodeID: "b1", Region: "b"}},
			"a9": {Meta: Meta{NodeID: "a9", Region: "a"}}, // ours, but not in our region pool (crashed)
		}},
	}
	look := func() map[string]listValue {
		out := map[string]listValue{}
		n.lists.each("a1", func(id string, v listValue) { out[id] = v })
		return out
	}
	n.reconcileListing()
	got := look()
	if len(got) != 3 || got["a2"] != (listValue{Alive: true}) || got["b1"] != (listValue{Alive: true, WAN: true}) {
		t.Fatalf("listing %+v", got)
	}
	delete(n.lan.members, "a2")
	delete(n.wan.members, "b1")
	if ds := n.reconcileListing(); len(ds) != 2 {
		t.Fatalf("%d deltas for two nodes gone", len(ds))
	}
	if got := look(); got["a2"] != (listValue{}) || got["b1"] != (listValue{WAN: true}) {
		t.Fatalf("listing after departures %+v", got)
	}
	if ds := n.reconcileListing(); len(ds) != 0 {
		t.Fatalf("nothing changed, yet %d deltas", len(ds))
	}
	now = now.Add(remoteTTL + time.Second)
	n.reconcileListing()
	if got := look(); len(got) != 1 {
		t.Fatalf("gone entries kept past the TTL: %+v", got)
	}
}

func TestNewNeedsWANSockets(t *testing.T) {
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	cfg := validConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.WAN.BindAddr = "127.0.0.1:0"
	if _, err := New(cfg, Deps{PacketConn: pc, Listener: ln}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New without WAN sockets: %v", err)
	}
}
