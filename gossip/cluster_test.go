package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// memberlist's Shutdown does not wait for a probe in flight: its goroutine
// waits out the probe's ack timer (up to the probe interval, stretched by
// the node's health score) and then ends. Everything else must stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// testNode is one in-process node and the goroutine that runs it.
type testNode struct {
	*Node
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
}

func (tn *testNode) stop(t *testing.T) {
	t.Helper()
	tn.cancel()
	select {
	case <-tn.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("node %s did not stop", tn.ID())
	}
}

type nodeOpt func(*Config, *Deps)

func withKeys(keys ...[]byte) nodeOpt {
	return func(_ *Config, d *Deps) { d.Keyring = keys }
}

func withRegion(r string) nodeOpt { return func(c *Config, _ *Deps) { c.Region = r } }

func withoutLeave() nodeOpt { return func(c *Config, _ *Deps) { c.LeaveOnStop = false } }

func withDrop(f func(string) bool) nodeOpt { return func(_ *Config, d *Deps) { d.Drop = f } }

func withLogger(l *slog.Logger) nodeOpt { return func(_ *Config, d *Deps) { d.Logger = l } }

func withBind(addr string) nodeOpt { return func(c *Config, _ *Deps) { c.BindAddr = addr } }

// startNode binds 127.0.0.1:0 (or the bind option), builds and runs a node
// with the local profile; t.Cleanup stops it.
func startNode(t *testing.T, id string, seeds []string, opts ...nodeOpt) *testNode {
	t.Helper()
	cfg := Default()
	cfg.NodeID = id
	cfg.Region = "eu"
	cfg.Profile = ProfileLocal
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Seeds = seeds
	var deps Deps
	for _, o := range opts {
		o(&cfg, &deps)
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		// A restarted node rebinds its old port, which the kernel may still
		// hold for a moment.
		pc, ln, err = Listen(cfg.BindAddr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	deps.PacketConn, deps.Listener = pc, ln
	if cfg.WAN.Enabled() {
		for {
			pc, ln, err = Listen(cfg.WAN.BindAddr)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		deps.WANPacketConn, deps.WANListener = pc, ln
	}
	n, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tn.done)
		_ = n.Run(ctx)
	}()
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// startCluster starts n nodes seeded by the first.
func startCluster(t *testing.T, n int, opts ...nodeOpt) []*testNode {
	t.Helper()
	nodes := []*testNode{startNode(t, "n0", nil, opts...)}
	for i := 1; i < n; i++ {
		nodes = append(nodes, startNode(t, "n"+strconv.Itoa(i), []string{nodes[0].Addr()}, opts...))
	}
	waitFor(t, 10*time.Second, "cluster formed", func() bool { return allSee(nodes, n) })
	return nodes
}

func allSee(nodes []*testNode, want int) bool {
	for _, n := range nodes {
		if len(n.Nodes()) != want {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func memberByID(n *Node, id string) (Member, bool) {
	for _, m := range n.Nodes() {
		if m.ID() == id {
			return m, true
		}
	}
	return Member{}, false
}

func TestJoinAndMetadata(t *testing.T) {
	nodes := startCluster(t, 5)
	meta := Meta{
		SignalURL:       "wss://edge-1.example.test",
		TURNURLs:        []string{"turn:edge-1.example.test:3478?transport=udp", "turns:edge-1.example.test:5349"},
		MediaAddrs:      []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:7882"), netip.MustParseAddrPort("198.18.0.1:7881")},
		RelayAddr:       "198.18.0.1:7000",
		ProbeURL:        "https://edge-1.example.test/probe",
		MaxParticipants: 500,
		Version:         "1.2.3",
	}
	if err := nodes[1].UpdateMeta(meta); err != nil {
		t.Fatal(err)
	}
	nodes[1].SetDraining(true)
	waitFor(t, 5*time.Second, "metadata everywhere", func() bool {
		for _, n := range nodes {
			m, ok := memberByID(n.Node, "n1")
			if !ok || m.Meta.SignalURL != meta.SignalURL || !m.Meta.Draining || !slices.Equal(m.Meta.MediaAddrs, meta.MediaAddrs) ||
				len(m.Meta.TURNURLs) != 2 || m.Meta.MaxParticipants != 500 || m.Meta.Region != "eu" || m.Meta.Role != RoleEdge {
				return false
			}
		}
		return true
	})
	nodes[2].SetLoad(Load{CPU: 42.5, Participants: 7, Tracks: 12, BandwidthKbps: 9000})
	waitFor(t, 5*time.Second, "load everywhere", func() bool {
		for _, n := range nodes {
			m, ok := memberByID(n.Node, "n2")
			if !ok || m.Meta.Load.Participants != 7 || m.Meta.Load.CPU != 42.5 {
				return false
			}
		}
		return true
	})
}

// UpdateMeta refuses what cannot be advertised with a clear error, and
// the metadata in force stays whole: nothing is truncated.
func TestUpdateMetaRefuses(t *testing.T) {
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.NodeID, cfg.Region, cfg.BindAddr = "a", "eu", "127.0.0.1:0"
	cfg.URLAllowlist = []string{"*.example.com", "198.18.0.0/15", "2001:db8::/32"}
	n, err := New(cfg, Deps{PacketConn: pc, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	good := Meta{
		SignalURL: "wss://edge-1.eu-west.example.com", TURNURLs: []string{"turn:edge-1.eu-west.example.com:3478?transport=udp"},
		MediaAddrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:7882"), netip.MustParseAddrPort("198.18.0.1:7881")},
		RelayAddr:  "relay-1.eu-west.example.com:7000", ProbeURL: "https://edge-1.eu-west.example.com/probe",
	}
	if err := n.UpdateMeta(good); err != nil {
		t.Fatal(err)
	}
	// Long but plausible values: every part fits alone, not together.
	long := good
	host := strings.Repeat("edge-with-a-very-long-name-", 3) + "1.eu-west.example.com"
	long.SignalURL = "wss://" + host + "/spacecast/signalling"
	long.ProbeURL = "https://" + host + "/spacecast/signalling/probe"
	long.TURNURLs = []string{"turn:" + host + ":3478?transport=udp", "turn:" + host + ":3478?transport=tcp", "turns:" + host + ":443?transport=tcp"}
	for i := range 12 {
		long.MediaAddrs = append(long.MediaAddrs, netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1").Next().Next(), uint16(7000+i)))
	}
	tests := []struct {
		name string
		m    Meta
		want error
		says []string // what the error names
	}{
		{"too large", long, ErrMetaTooLarge, []string{"bytes", "3 TURN URLs", "14 media addresses", "signalling URL"}},
		{"one huge URL", Meta{SignalURL: "wss://edge.example.com/" + strings.Repeat("x", 600)}, ErrMetaTooLarge, []string{"signalling URL 623 B"}},
		{"media address without port", Meta{MediaAddrs: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), 0)}}, ErrBadMeta, []string{"198.18.0.1:0"}},
		{"unspecified media address", Meta{MediaAddrs: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:7882")}}, ErrBadMeta, nil},
		{"zero media address", Meta{MediaAddrs: []netip.AddrPort{{}}}, ErrBadMeta, nil},
		{"relay address without port", Meta{RelayAddr: "relay-1.example.com"}, ErrBadMeta, []string{"relay-1.example.com"}},
		{"relay address on an unspecified host", Meta{RelayAddr: "0.0.0.0:7000"}, ErrBadMeta, nil},
		{"relay address off the allowlist", Meta{RelayAddr: "relay.example.org:7000"}, ErrURLNotAllowed, []string{"relay.example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := n.UpdateMeta(tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("UpdateMeta: %v, want %v", err, tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if got := n.Meta(); got.SignalURL != good.SignalURL || !slices.Equal(got.MediaAddrs, good.MediaAddrs) || got.RelayAddr != good.RelayAddr {
				t.Fatalf("metadata changed by a refused update: %+v", got)
			}
		})
	}
	// Duplicates and mapped addresses are folded.
	dup := good
	dup.MediaAddrs = []netip.AddrPort{netip.MustParseAddrPort("[::ffff:198.18.0.1]:7882"), netip.MustParseAddrPort("198.18.0.1:7882")}
	if err := n.UpdateMeta(dup); err != nil {
		t.Fatal(err)
	}
	if got := n.Meta().MediaAddrs; len(got) != 1 || got[0] != netip.MustParseAddrPort("198.18.0.1:7882") {
		t.Fatalf("media addresses %v", got)
	}
}

func TestFailureDetectedAndRoomsDropped(t *testing.T) {
	nodes := startCluster(t, 5, withoutLeave())
	nodes[4].SetRoom("r1", Room{Participants: 2})
	waitFor(t, 5*time.Second, "room known", func() bool { return len(nodes[0].Hosts("r1")) == 1 })

	var mu sync.Mutex
	failed := map[string]bool{}
	unsub := nodes[0].Subscribe(func(e Event) {
		if e.Kind == EventFail {
			mu.Lock()
			failed[e.Member.ID()] = true
			mu.Unlock()
		}
	})
	defer unsub()
	nodes[4].stop(t) // no leave: a crash as far as the others know
	waitFor(t, 10*time.Second, "failure detected everywhere", func() bool {
		for _, n := range nodes[:4] {
			if _, ok := memberByID(n.Node, "n4"); ok {
				return false
			}
		}
		return true
	})
	waitFor(t, 2*time.Second, "fail event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failed["n4"]
	})
	for _, n := range nodes[:4] {
		if h := n.Hosts("r1"); len(h) != 0 {
			t.Fatalf("%s still lists hosts of r1 on a dead node: %v", n.ID(), h)
		}
	}
}

func TestGracefulLeave(t *testing.T) {
	nodes := startCluster(t, 3)
	var mu sync.Mutex
	var kinds []EventKind
	unsub := nodes[0].Subscribe(func(e Event) {
		if e.Member.ID() == "n2" {
			mu.Lock()
			kinds = append(kinds, e.Kind)
			mu.Unlock()
		}
	})
	defer unsub()
	nodes[2].stop(t)
	waitFor(t, 5*time.Second, "leave event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(kinds) > 0 && kinds[len(kinds)-1] == EventLeave
	})
}

// partition cuts the links between two groups of addresses.
type partition struct {
	mu    sync.Mutex
	group map[string]int
	cut   bool
}

func (p *partition) dropFor(self func() string) func(string) bool {
	return func(peer string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.cut {
			return false
		}
		g1, ok1 := p.group[self()]
		g2, ok2 := p.group[peer]
		return ok1 && ok2 && g1 != g2
	}
}

func (p *partition) set(cut bool) {
	p.mu.Lock()
	p.cut = cut
	p.mu.Unlock()
}

func TestPartitionHealsAndDirectoryConverges(t *testing.T) {
	p := &partition{group: map[string]int{}}
	const n = 6
	nodes := make([]*testNode, 0, n)
	addrs := make([]string, n)
	for i := range n {
		i := i
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].Addr()}
		}
		tn := startNode(t, "n"+strconv.Itoa(i), seeds, withDrop(p.dropFor(func() string { return addrs[i] })))
		addrs[i] = tn.Addr()
		p.mu.Lock()
		p.group[tn.Addr()] = i % 2
		p.mu.Unlock()
		nodes = append(nodes, tn)
	}
	waitFor(t, 10*time.Second, "cluster formed", func() bool { return allSee(nodes, n) })
	nodes[0].SetRoom("before", Room{Participants: 1})
	waitFor(t, 5*time.Second, "room before cut", func() bool { return len(nodes[5].Hosts("before")) == 1 })

	p.set(true)
	waitFor(t, 15*time.Second, "each side declares the other dead", func() bool { return allSee(nodes, n/2) })
	// Changes on both sides while cut.
	nodes[0].RemoveRoom("before")
	nodes[0].SetRoom("even", Room{Participants: 3, Tracks: []Track{{SID: "TR_a", Participant: "alice", Kind: "video"}}})
	nodes[1].SetRoom("odd", Room{Participants: 4})
	// While the cut lasts, memberlist still gossips to the nodes it just
	// declared dead (GossipToTheDead), so a broadcast's few transmissions can
	// all go to the unreachable side; the push/pull anti-entropy (10 s in the
	// local profile) then completes the side's view.
	waitFor(t, 15*time.Second, "rooms known on own side", func() bool {
		return len(nodes[2].Hosts("even")) == 1 && len(nodes[3].Hosts("odd")) == 1
	})

	p.set(false)
	waitFor(t, 15*time.Second, "membership healed", func() bool { return allSee(nodes, n) })
	waitFor(t, 10*time.Second, "directory converged", func() bool {
		for _, tn := range nodes {
			if len(tn.Hosts("even")) != 1 || len(tn.Hosts("odd")) != 1 || len(tn.Hosts("before")) != 0 {
				return false
			}
			if h := tn.Hosts("even"); h[0].NodeID != "n0" || len(h[0].Room.Tracks) != 1 {
				return false
			}
		}
		return true
	})
}

func TestRestartedNodeRejoins(t *testing.T) {
	nodes := startCluster(t, 4, withoutLeave())
	old := nodes[3]
	addr := old.Addr()
	old.SetRoom("stale", Room{Participants: 1})
	waitFor(t, 5*time.Second, "room known", func() bool { return len(nodes[0].Hosts("stale")) == 1 })
	old.stop(t)
	// Restart at once, same id and address, before the others notice: the
	// new process must take its place and its old rooms must vanish.
	again := startNode(t, "n3", []string{nodes[0].Addr()}, withBind(addr), withoutLeave())
	again.SetRoom("fresh", Room{Participants: 2})
	waitFor(t, 10*time.Second, "restarted node everywhere with its new rooms", func() bool {
		for _, tn := range append(nodes[:3], again) {
			if len(tn.Nodes()) != 4 || len(tn.Hosts("fresh")) != 1 {
				return false
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "old rooms gone", func() bool {
		for _, tn := range nodes[:3] {
			if len(tn.Hosts("stale")) != 0 {
				return false
			}
		}
		return true
	})
}

func TestSeedRetryUntilSeedUp(t *testing.T) {
	// Reserve an address for the seed, start the joiner first.
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedAddr := ln.Addr().String()
	_ = pc.Close()
	_ = ln.Close()
	joiner := startNode(t, "late", []string{seedAddr})
	seed := startNode(t, "seed", nil, withBind(seedAddr))
	waitFor(t, 10*time.Second, "joiner reached the late seed", func() bool {
		return len(joiner.Nodes()) == 2 && len(seed.Nodes()) == 2
	})
}

func TestRevocationPropagates(t *testing.T) {
	nodes := startCluster(t, 5)
	until := time.Now().Add(time.Hour)
	tests := []struct {
		name               string
		rev                Revocation
		room, id, token    string
		otherRoom, otherID string
	}{
		{"participant", Revocation{Kind: RevokeParticipant, Room: "r1", Subject: "alice", Until: until}, "r1", "alice", "", "r2", "bob"},
		{"user", Revocation{Kind: RevokeUser, Subject: "carol", Until: until}, "any", "carol", "", "", "dave"},
		{"token", Revocation{Kind: RevokeToken, Subject: "jti-1", Until: until}, "r9", "erin", "jti-1", "", "frank"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := nodes[i].Revoke(tc.rev); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "revocation everywhere", func() bool {
				for _, n := range nodes {
					if !n.Revoked(tc.room, tc.id, tc.token) {
						return false
					}
				}
				return true
			})
			if tc.otherRoom != "" && nodes[4].Revoked(tc.otherRoom, tc.id, "") {
				t.Error("participant revocation leaks into another room")
			}
			if nodes[4].Revoked(tc.room, tc.otherID, "") {
				t.Error("revocation matches another identity")
			}
		})
	}
	// A node that joins later learns them by full-state sync.
	late := startNode(t, "late", []string{nodes[2].Addr()})
	waitFor(t, 5*time.Second, "late node learned revocations", func() bool {
		return late.Revoked("r1", "alice", "") && late.Revoked("", "carol", "") && late.Revoked("", "", "jti-1")
	})
}

// Every node hears a revocation as an EventRevoke (edges disconnect the
// participant it bars), with the bound in force; a late joiner hears the
// ones it learns by full-state sync.
func TestRevocationEvents(t *testing.T) {
	nodes := startCluster(t, 3)
	var mu sync.Mutex
	heard := map[string][]Revocation{}
	listen := func(n *testNode) {
		unsub := n.Subscribe(func(e Event) {
			if e.Kind == EventRevoke {
				mu.Lock()
				heard[n.ID()] = append(heard[n.ID()], e.Revocation)
				mu.Unlock()
			}
		})
		t.Cleanup(unsub)
	}
	for _, n := range nodes {
		listen(n)
	}
	before := time.Now().Truncate(time.Second)
	r := Revocation{Kind: RevokeParticipant, Room: "r1", Subject: "alice", Until: time.Now().Add(time.Hour), IssuedBefore: before}
	if err := nodes[0].Revoke(r); err != nil {
		t.Fatal(err)
	}
	got := func(id string) []Revocation {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(heard[id])
	}
	waitFor(t, 5*time.Second, "every node heard the revocation", func() bool {
		for _, n := range nodes {
			if len(got(n.ID())) == 0 {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		h := got(n.ID())
		if len(h) != 1 || h[0].Subject != "alice" || h[0].Room != "r1" || !h[0].IssuedBefore.Equal(before) {
			t.Fatalf("%s heard %+v", n.ID(), h)
		}
	}
	// Repeating it is no news: nobody hears it twice.
	if err := nodes[1].Revoke(r); err != nil {
		t.Fatal(err)
	}
	late := startNode(t, "late-rev", []string{nodes[2].Addr()})
	listen(late)
	waitFor(t, 5*time.Second, "late node learned the revocation", func() bool { return late.Revoked("r1", "alice", "") })
	for _, n := range nodes {
		if h := got(n.ID()); len(h) != 1 {
			t.Fatalf("%s heard the same revocation %d times", n.ID(), len(h))
		}
	}
}

func TestRevokeRejectsInvalid(t *testing.T) {
	nodes := startCluster(t, 1)
	for name, r := range map[string]Revocation{
		"no kind":    {Subject: "a", Until: time.Now().Add(time.Hour)},
		"no subject": {Kind: RevokeUser, Until: time.Now().Add(time.Hour)},
		"no room":    {Kind: RevokeParticipant, Subject: "a", Until: time.Now().Add(time.Hour)},
		"no expiry":  {Kind: RevokeToken, Subject: "a"},
	} {
		if err := nodes[0].Revoke(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDirectoryReachesLateJoiner(t *testing.T) {
	nodes := startCluster(t, 3)
	nodes[1].SetRoom("r", Room{Participants: 1, Tracks: []Track{{SID: "TR_1"}, {SID: "TR_2"}}})
	waitFor(t, 5*time.Second, "room known", func() bool { return len(nodes[0].Hosts("r")) == 1 })
	late := startNode(t, "late", []string{nodes[0].Addr()})
	waitFor(t, 5*time.Second, "late joiner has the directory", func() bool {
		h := late.Hosts("r")
		return len(h) == 1 && h[0].NodeID == "n1" && len(h[0].Room.Tracks) == 2
	})
	all := late.Rooms()
	if _, ok := all["n1"]["r"]; !ok {
		t.Fatalf("Rooms() = %v", all)
	}
}

func ExampleNode() {
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := Default()
	cfg.NodeID, cfg.Region, cfg.BindAddr, cfg.Profile = "edge-1", "eu-west", "127.0.0.1:0", ProfileLocal
	n, err := New(cfg, Deps{PacketConn: pc, Listener: ln})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = n.UpdateMeta(Meta{SignalURL: "wss://edge-1.example.test", MaxParticipants: 500})
	n.SetRoom("standup", Room{Participants: 1})
	fmt.Println(len(n.Hosts("standup")))
	_ = n.Close()
	// Output: 1
}

// The triggered-sync interval grows with the cluster so that the whole
// cluster runs a bounded number of full-state syncs per interval.
func TestSyncInterval(t *testing.T) {
	for _, tc := range []struct {
		members int
		want    time.Duration
	}{{1, time.Second}, {20, time.Second}, {21, 2 * time.Second}, {100, 5 * time.Second}, {200, 10 * time.Second}} {
		if got := syncInterval(time.Second, tc.members); got != tc.want {
			t.Errorf("syncInterval(1s, %d) = %s, want %s", tc.members, got, tc.want)
		}
	}
}

// A node joins through the first seed that answers: a dead seed in the
// list does not keep it out.
func TestJoinSkipsDeadSeed(t *testing.T) {
	nodes := startCluster(t, 2)
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	pc.Close()
	ln.Close()
	late := startNode(t, "late-seeds", []string{dead, nodes[1].Addr()})
	waitFor(t, 10*time.Second, "joined through the live seed", func() bool { return len(late.Nodes()) == 3 })
}

// A struggling node puts triggered syncs off, but not for ever: the sync
// with a node that came back is what restores its rooms.
func TestDeferSync(t *testing.T) {
	for _, tc := range []struct {
		health int
		waited time.Duration
		want   bool
	}{
		{0, 0, false},
		{1, 0, true},
		{8, maxSyncDefer - time.Millisecond, true},
		{8, maxSyncDefer, false},
		{0, time.Minute, false},
	} {
		if got := deferSync(tc.health, tc.waited); got != tc.want {
			t.Errorf("deferSync(%d, %v) = %v, want %v", tc.health, tc.waited, got, tc.want)
		}
	}
}
