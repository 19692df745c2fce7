package gossip

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testFleet runs in-process nodes in several regions on loopback. Every
// packet and stream between two regions waits out a one-way delay drawn
// between minDelay and maxDelay (so packets also overtake each other), and
// a region can be cut off from the others.
type testFleet struct {
	t                  *testing.T
	minDelay, maxDelay time.Duration
	loss               float64   // share of the packets between regions lost
	wan                WANConfig // without addresses: the profile, timing and members
	rec                *recorder

	mu         sync.Mutex
	region     map[string]string // gossip address (either pool) → region
	cut        map[string]bool
	nodes      map[string]*testNode
	regionSeed map[string]string
	wanSeeds   []string
}

func newTestFleet(t *testing.T, minDelay, maxDelay time.Duration, wan WANConfig) *testFleet {
	return &testFleet{
		t: t, minDelay: minDelay, maxDelay: maxDelay, wan: wan, rec: &recorder{},
		region: map[string]string{}, cut: map[string]bool{}, nodes: map[string]*testNode{}, regionSeed: map[string]string{},
	}
}

// drop and delay are a node's view of the links (Deps.Drop, Deps.Delay).
func (f *testFleet) drop(self string) func(string) bool {
	return func(peer string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		r, ok := f.region[peer]
		return ok && r != self && (f.cut[self] || f.cut[r] || rand.Float64() < f.loss)
	}
}

func (f *testFleet) delay(self string) func(string) time.Duration {
	return func(peer string) time.Duration {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r, ok := f.region[peer]; !ok || r == self || f.maxDelay == 0 {
			return 0
		}
		return f.minDelay + rand.N(f.maxDelay-f.minDelay+1)
	}
}

// regionOf returns n's region.
func (f *testFleet) regionOf(n *testNode) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.region[n.Addr()]
}

func (f *testFleet) setCut(region string, cut bool) {
	f.mu.Lock()
	f.cut[region] = cut
	f.mu.Unlock()
}

// withWANSection gives a node a wan section from the fleet's template.
func (f *testFleet) withWANSection() nodeOpt {
	f.mu.Lock()
	seeds := slices.Clone(f.wanSeeds)
	f.mu.Unlock()
	return func(c *Config, _ *Deps) {
		c.WAN = f.wan
		c.WAN.BindAddr = "127.0.0.1:0"
		c.WAN.Seeds = seeds
	}
}

func withRole(role string) nodeOpt { return func(c *Config, _ *Deps) { c.Role = role } }

// add starts a node in region; the first node of a region seeds the
// others, and control planes seed the WAN pool. wan gives it a wan
// section.
func (f *testFleet) add(id, region, role string, wan bool, opts ...nodeOpt) *testNode {
	f.t.Helper()
	f.mu.Lock()
	var seeds []string
	if s, ok := f.regionSeed[region]; ok {
		seeds = []string{s}
	}
	f.mu.Unlock()
	opts = append([]nodeOpt{withRegion(region), withRole(role), withDrop(f.drop(region)),
		func(c *Config, d *Deps) { c.Profile = ProfileLAN; d.Delay = f.delay(region) }}, opts...)
	if wan {
		opts = append(opts, f.withWANSection())
	}
	tn := startNode(f.t, id, seeds, opts...)
	f.rec.watch(f.t, tn)
	// Cleanups run last first: the latest of these stops every node at
	// once (a graceful leave takes a few gossip rounds), the others find
	// nothing left to do.
	f.t.Cleanup(f.stopAll)
	f.mu.Lock()
	f.region[tn.Addr()] = region
	if tn.WANAddr() != "" {
		f.region[tn.WANAddr()] = region
		if role == RoleControlPlane {
			f.wanSeeds = append(f.wanSeeds, tn.WANAddr())
		}
	}
	if _, ok := f.regionSeed[region]; !ok {
		f.regionSeed[region] = tn.Addr()
	}
	f.nodes[id] = tn
	f.mu.Unlock()
	return tn
}

func (f *testFleet) stopAll() {
	var wg sync.WaitGroup
	for _, n := range f.all() {
		wg.Go(func() { n.stop(f.t) })
	}
	wg.Wait()
}

func (f *testFleet) all() []*testNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*testNode, 0, len(f.nodes))
	for _, n := range f.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *testNode) int { return strings.Compare(a.ID(), b.ID()) })
	return out
}

// waitWhole waits until every node of f sees every node of f, and says
// what each node saw when it times out.
func (f *testFleet) waitWhole(t *testing.T, d time.Duration) {
	t.Helper()
	everyone := ids(f.all())
	deadline := time.Now().Add(d)
	for {
		whole := true
		for _, n := range f.all() {
			whole = whole && sees(n.Node, everyone...)
		}
		if whole {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range f.all() {
		var got []string
		for _, m := range n.Nodes() {
			got = append(got, m.ID())
		}
		n.mu.Lock()
		wan := -1
		if n.wan != nil {
			wan = len(n.wan.members)
		}
		t.Logf("%s relaying %v, WAN members %d, sees %v", n.ID(), n.relaying, wan, got)
		n.mu.Unlock()
	}
	t.Fatalf("the fleet did not form in %v", d)
}

// sees reports whether n's view is exactly ids.
func sees(n *Node, ids ...string) bool {
	var got []string
	for _, m := range n.Nodes() {
		got = append(got, m.ID())
	}
	slices.Sort(ids)
	return slices.Equal(got, ids)
}

func ids(nodes []*testNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID()
	}
	return out
}

// recorder remembers every event of the nodes it watches.
type recorder struct {
	mu     sync.Mutex
	events []recEvent
}

type recEvent struct {
	observer, subject string
	kind              EventKind
	at                time.Time
}

func (r *recorder) watch(t *testing.T, n *testNode) {
	id := n.ID()
	unsub := n.Subscribe(func(e Event) {
		r.mu.Lock()
		r.events = append(r.events, recEvent{observer: id, subject: e.Member.ID(), kind: e.Kind, at: time.Now()})
		r.mu.Unlock()
	})
	t.Cleanup(unsub)
}

// when returns when observer first saw kind about subject after since.
func (r *recorder) when(observer, subject string, kind EventKind, since time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.observer == observer && e.subject == subject && e.kind == kind && !e.at.Before(since) {
			return e.at, true
		}
	}
	return time.Time{}, false
}

// failures lists the fail events whose subject is not in dead.
func (r *recorder) failures(dead ...string) []recEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recEvent
	for _, e := range r.events {
		if e.kind == EventFail && !slices.Contains(dead, e.subject) {
			out = append(out, e)
		}
	}
	return out
}

// fastWAN is a WAN pool timing for tests that wait for the WAN pool's own
// verdict: still far above the injected round trips.
func fastWAN(members int) WANConfig {
	return WANConfig{Members: members, Profile: ProfileWAN, Timing: Timing{
		ProbeInterval: 600 * time.Millisecond, ProbeTimeout: 450 * time.Millisecond, SuspicionMult: 3, SuspicionMaxMult: 3,
		GossipInterval: 200 * time.Millisecond, RejoinInterval: 500 * time.Millisecond, PushPullInterval: 10 * time.Second,
		GossipToTheDead: 5 * time.Second, DeadReclaim: time.Second, TCPTimeout: 3 * time.Second, LeaveTimeout: time.Second,
	}}
}

// realWAN is the wan profile, as in production, but rejoining quickly
// (in tests the seeds come up a moment after the nodes that use them).
func realWAN(members int) WANConfig {
	return WANConfig{Members: members, Profile: ProfileWAN, Timing: Timing{RejoinInterval: 500 * time.Millisecond}}
}

// threeRegions starts, in regions a, b and c: a control plane, edges x1 and
// x2 with a wan section and edge x3 without.
func threeRegions(t *testing.T, f *testFleet) {
	t.Helper()
	for _, r := range []string{"a", "b", "c"} {
		f.add("cp-"+r, r, RoleControlPlane, true)
		f.add("edge-"+r+"1", r, RoleEdge, true)
		f.add("edge-"+r+"2", r, RoleEdge, true)
		f.add("edge-"+r+"3", r, RoleEdge, false)
	}
	f.waitWhole(t, 30*time.Second)
}

// TestFleetAcrossRegions: three regions 100–150 ms apart, each with a
// control plane and three edges, one relaying edge per region. Every node
// sees the whole fleet, with the right relayers; metadata, the room
// directory (hosts, publishers, track sources) and revocations cross the
// regions from nodes that are not in the WAN pool to nodes that are not
// either; nobody is declared dead; and once it is quiet, nothing keeps
// being re-broadcast.
func TestFleetAcrossRegions(t *testing.T) {
	f := newTestFleet(t, 100*time.Millisecond, 150*time.Millisecond, realWAN(1))
	start := time.Now()
	threeRegions(t, f)
	t.Logf("fleet of 12 in 3 regions formed in %s", time.Since(start).Round(time.Millisecond))
	n := f.nodes
	for _, tn := range f.all() {
		want := strings.HasPrefix(tn.ID(), "cp-") || strings.HasSuffix(tn.ID(), "1")
		if tn.Relaying() != want {
			t.Errorf("%s relaying = %v, want %v", tn.ID(), tn.Relaying(), want)
		}
		m, _ := memberByID(n["edge-a3"].Node, tn.ID())
		if m.Meta.Region != f.region[tn.Addr()] || (m.Meta.Role == RoleControlPlane) != strings.HasPrefix(tn.ID(), "cp-") {
			t.Errorf("edge-a3 sees %s as %+v", tn.ID(), m.Meta)
		}
	}

	t.Run("metadata", func(t *testing.T) {
		media := []netip.AddrPort{netip.MustParseAddrPort("198.18.3.3:7882"), netip.MustParseAddrPort("198.18.3.3:7881")}
		if err := n["edge-c3"].UpdateMeta(Meta{SignalURL: "wss://edge-c3.example.test", MaxParticipants: 7,
			MediaAddrs: media, RelayAddr: "198.18.3.3:7000"}); err != nil {
			t.Fatal(err)
		}
		n["edge-c3"].SetDraining(true)
		waitFor(t, 10*time.Second, "edge-c3's metadata in every region", func() bool {
			for _, tn := range f.all() {
				m, ok := tn.Member("edge-c3")
				if !ok || !m.Meta.Draining || m.Meta.SignalURL != "wss://edge-c3.example.test" || m.Meta.MaxParticipants != 7 ||
					!slices.Equal(m.Meta.MediaAddrs, media) {
					return false
				}
				if a, ok := tn.RelayAddr("edge-c3"); !ok || a != "198.18.3.3:7000" {
					return false
				}
			}
			return true
		})
		if _, ok := n["edge-a3"].RelayAddr("edge-b3"); ok {
			t.Fatal("a relay address for an edge that advertises none")
		}
		if _, ok := n["edge-a3"].Member("nobody"); ok {
			t.Fatal("a member that does not exist")
		}
	})

	t.Run("room directory", func(t *testing.T) {
		n["edge-b2"].SetRoom("r", Room{Participants: 1, Tracks: []Track{{SID: "TA", Participant: "alice", Kind: "audio"}, {SID: "TV", Participant: "alice", Kind: "video"}}})
		n["edge-c2"].SetRoom("r", Room{Participants: 3, Tracks: []Track{{SID: "TA", Participant: "alice", Kind: "audio", Origin: "edge-b2"}}})
		waitFor(t, 10*time.Second, "room r in every region", func() bool {
			for _, tn := range f.all() {
				h := tn.Hosts("r")
				if len(h) != 2 || h[0].NodeID != "edge-b2" || h[1].NodeID != "edge-c2" || len(h[0].Room.Tracks) != 2 {
					return false
				}
			}
			return true
		})
		pubs := n["edge-a3"].Publishers("r")
		if len(pubs) != 1 || pubs[0].Identity != "alice" || pubs[0].NodeID != "edge-b2" || pubs[0].Region != "b" || len(pubs[0].Tracks) != 2 {
			t.Fatalf("publishers %+v", pubs)
		}
		src := n["edge-a3"].TrackSources("r", "TA")
		if len(src) != 2 || src[0].NodeID != "edge-b2" || src[1].NodeID != "edge-c2" || src[1].Region != "c" || src[1].Track.Origin != "edge-b2" {
			t.Fatalf("sources %+v", src)
		}
		n["edge-b2"].RemoveRoom("r")
		waitFor(t, 10*time.Second, "edge-b2's room gone everywhere", func() bool {
			for _, tn := range f.all() {
				if h := tn.Hosts("r"); len(h) != 1 || h[0].NodeID != "edge-c2" {
					return false
				}
			}
			return true
		})
	})

	t.Run("revocation", func(t *testing.T) {
		var mu sync.Mutex
		heard := map[string]time.Time{}
		for _, tn := range f.all() {
			unsub := tn.Subscribe(func(e Event) {
				if e.Kind == EventRevoke && e.Revocation.Subject == "mallory" {
					mu.Lock()
					if _, ok := heard[tn.ID()]; !ok {
						heard[tn.ID()] = time.Now()
					}
					mu.Unlock()
				}
			})
			t.Cleanup(unsub)
		}
		start := time.Now()
		// Made on an edge that is not in the WAN pool: it reaches the
		// others through its region's relayers.
		if err := n["edge-b3"].Revoke(Revocation{Kind: RevokeParticipant, Room: "r", Subject: "mallory", Until: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "revocation in every region", func() bool {
			for _, tn := range f.all() {
				if !tn.Revoked("r", "mallory", "") {
					return false
				}
			}
			mu.Lock()
			defer mu.Unlock()
			return len(heard) == len(f.all())
		})
		var inRegion, across time.Duration
		for id, at := range heard {
			if f.regionOf(f.nodes[id]) == "b" {
				inRegion = max(inRegion, at.Sub(start))
			} else {
				across = max(across, at.Sub(start))
			}
		}
		t.Logf("revocation made on edge-b3: heard by every node of region b within %s, of regions a and c within %s",
			inRegion.Round(time.Millisecond), across.Round(time.Millisecond))
	})

	if fails := f.rec.failures(); len(fails) > 0 {
		t.Fatalf("false failures: %+v", fails)
	}
	waitFor(t, 20*time.Second, "every broadcast queue drained (nothing loops)", func() bool {
		for _, tn := range f.all() {
			if tn.lan.queue.NumQueued() > 0 || (tn.wan != nil && tn.wan.queue.NumQueued() > 0) {
				return false
			}
		}
		return true
	})
}

// TestCrossRegionFailureDetection: a crashed edge, relaying or not, is
// declared dead in every region within its own region's detection time
// plus the relay, although the WAN pool runs the WAN profile (probes every
// 5 s: its own verdict would take tens of seconds); its rooms vanish
// everywhere; nobody else is declared dead; a crashed relayer's place is
// taken by the next edge of its region. The cases run one after the other
// in one fleet.
func TestCrossRegionFailureDetection(t *testing.T) {
	f := newTestFleet(t, 100*time.Millisecond, 150*time.Millisecond, realWAN(1))
	for _, r := range []string{"a", "b", "c"} {
		f.add("cp-"+r, r, RoleControlPlane, true)
		f.add("edge-"+r+"1", r, RoleEdge, true, withoutLeave())
		f.add("edge-"+r+"2", r, RoleEdge, true, withoutLeave())
	}
	f.waitWhole(t, 30*time.Second)
	var dead []string
	tests := []struct {
		name, victim, heir string
	}{
		{"edge in the region pool only", "edge-a2", ""},
		{"relaying edge", "edge-b1", "edge-b2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			victim := f.nodes[tc.victim]
			victim.SetRoom("doomed", Room{Participants: 1, Tracks: []Track{{SID: "TD", Participant: "dora"}}})
			var rest []*testNode
			for _, n := range f.all() {
				if n != victim && !slices.Contains(dead, n.ID()) {
					rest = append(rest, n)
				}
			}
			waitFor(t, 10*time.Second, "the victim's room everywhere", func() bool {
				for _, n := range rest {
					if len(n.Hosts("doomed")) != 1 {
						return false
					}
				}
				return true
			})
			crash := time.Now()
			victim.stop(t)
			dead = append(dead, tc.victim)
			var own, others time.Duration
			waitFor(t, 8*time.Second, "every region declared the crash", func() bool {
				for _, n := range rest {
					at, ok := f.rec.when(n.ID(), tc.victim, EventFail, crash)
					if !ok {
						return false
					}
					if f.regionOf(n) == f.regionOf(victim) {
						own = max(own, at.Sub(crash))
					} else {
						others = max(others, at.Sub(crash))
					}
				}
				return true
			})
			t.Logf("%s crashed: declared dead by every node of its region within %s, of the other regions within %s",
				tc.victim, own.Round(time.Millisecond), others.Round(time.Millisecond))
			for _, n := range rest {
				if len(n.Hosts("doomed")) != 0 || len(n.TrackSources("doomed", "TD")) != 0 {
					t.Fatalf("%s still lists the dead edge's room", n.ID())
				}
			}
			if tc.heir != "" {
				waitFor(t, 10*time.Second, tc.heir+" relaying in the crashed relayer's place", f.nodes[tc.heir].Relaying)
			}
			if fails := f.rec.failures(dead...); len(fails) > 0 {
				t.Fatalf("false failures: %+v", fails)
			}
		})
	}
}

// TestRegionCutOffAndHeal: a region cut off from the others is declared
// dead by the others on the WAN pool's verdict; the regions still
// connected never lose each other; changes made on both sides during the
// cut (a room gone, a room new, a revocation) merge once it heals.
func TestRegionCutOffAndHeal(t *testing.T) {
	f := newTestFleet(t, 100*time.Millisecond, 150*time.Millisecond, fastWAN(1))
	for _, r := range []string{"a", "b", "c"} {
		f.add("cp-"+r, r, RoleControlPlane, true)
		f.add("edge-"+r+"1", r, RoleEdge, true)
		f.add("edge-"+r+"2", r, RoleEdge, false)
	}
	everyone := ids(f.all())
	f.waitWhole(t, 30*time.Second)
	n := f.nodes
	n["edge-a2"].SetRoom("before", Room{Participants: 1})
	waitFor(t, 10*time.Second, "room before the cut in c", func() bool { return len(n["edge-c2"].Hosts("before")) == 1 })

	f.setCut("c", true)
	cut := time.Now()
	var ab, c []string
	for _, id := range everyone {
		if strings.Contains(id, "-c") {
			c = append(c, id)
		} else {
			ab = append(ab, id)
		}
	}
	waitFor(t, 30*time.Second, "a and b without c", func() bool {
		for _, tn := range f.all() {
			if !slices.Contains(c, tn.ID()) && !sees(tn.Node, ab...) {
				return false
			}
		}
		return true
	})
	t.Logf("region c cut off: declared dead by regions a and b in %s", time.Since(cut).Round(time.Millisecond))
	for _, e := range f.rec.failures(c...) {
		if !slices.Contains(c, e.observer) {
			t.Fatalf("a or b lost a node of a or b: %+v", e)
		}
	}
	n["edge-a2"].RemoveRoom("before")
	n["edge-c2"].SetRoom("during", Room{Participants: 2, Tracks: []Track{{SID: "TC", Participant: "carol"}}})
	if err := n["cp-b"].Revoke(Revocation{Kind: RevokeUser, Subject: "mallory", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	f.setCut("c", false)
	healed := time.Now()
	f.waitWhole(t, 30*time.Second)
	t.Logf("healed: every node sees every node %s later", time.Since(healed).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "directory and revocations merged", func() bool {
		for _, tn := range f.all() {
			if len(tn.Hosts("before")) != 0 || len(tn.Hosts("during")) != 1 || !tn.Revoked("", "mallory", "") {
				return false
			}
		}
		return true
	})
	t.Logf("healed: directory and revocations merged %s later", time.Since(healed).Round(time.Millisecond))
}

// TestRegionPoolRefusesOtherRegions: an edge of region b given a seed of
// region a (a misconfiguration) is not let into region a's pool, where
// region a's timing would probe it across the WAN; it is alone in its
// region's pool, relays for it, and the fleet still sees it through the
// WAN pool. The refusal is logged with the fix.
func TestRegionPoolRefusesOtherRegions(t *testing.T) {
	f := newTestFleet(t, 0, 0, fastWAN(1))
	logs := &logWatch{}
	cp := f.add("cp-a", "a", RoleControlPlane, true, withLogger(slog.New(logs)))
	f.add("edge-a1", "a", RoleEdge, true)
	wrong := func(c *Config, _ *Deps) { c.Seeds = []string{cp.Addr()} }
	b1 := f.add("edge-b1", "b", RoleEdge, true, wrong)
	f.waitWhole(t, 30*time.Second)
	cp.mu.Lock()
	_, inA := cp.lan.members["edge-b1"]
	cp.mu.Unlock()
	b1.mu.Lock()
	alone := len(b1.lan.members) == 1
	b1.mu.Unlock()
	if inA || !alone || !b1.Relaying() {
		t.Fatalf("edge-b1 in region a's pool %v, alone in its own %v, relaying %v", inA, alone, b1.Relaying())
	}
	if logs.count("of region \"b\", this pool of \"a\"") == 0 {
		t.Fatal("the refusal was not logged")
	}
}
