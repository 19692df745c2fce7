package gossipmember_test

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/gossipmember"
	"github.com/spacecast/spacecast/gossip"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestPeerMedia(t *testing.T) {
	got := gossipmember.PeerMedia([]netip.AddrPort{
		ap("198.18.0.1:7882"), ap("127.0.0.1:7882"), ap("[::1]:7882"), ap("0.0.0.0:7882"),
		ap("169.254.169.254:80"), ap("[fe80::1%eth0]:7882"), ap("224.0.0.1:7882"), ap("198.18.0.1:0"),
		ap("[::ffff:198.18.0.1]:7882"), ap("10.0.0.5:7881"), ap("[2001:db8::5]:7882"),
	})
	want := []netip.AddrPort{ap("198.18.0.1:7882"), ap("10.0.0.5:7881"), ap("[2001:db8::5]:7882")}
	if !slices.Equal(got, want) {
		t.Fatalf("PeerMedia = %v, want %v", got, want)
	}
}

// fakeView is a fleet view whose members the test sets, and whose events
// it posts.
type fakeView struct {
	mu      sync.Mutex
	members []gossip.Member
	subs    map[int]func(gossip.Event)
	next    int
}

func (v *fakeView) Nodes() []gossip.Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.members)
}

func (v *fakeView) Subscribe(fn func(gossip.Event)) func() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.subs == nil {
		v.subs = map[int]func(gossip.Event){}
	}
	id := v.next
	v.next++
	v.subs[id] = fn
	return func() { v.mu.Lock(); delete(v.subs, id); v.mu.Unlock() }
}

// change replaces the members and posts kind.
func (v *fakeView) change(kind gossip.EventKind, members ...gossip.Member) {
	v.mu.Lock()
	v.members = members
	fns := make([]func(gossip.Event), 0, len(v.subs))
	for _, fn := range v.subs {
		fns = append(fns, fn)
	}
	v.mu.Unlock()
	for _, fn := range fns {
		fn(gossip.Event{Kind: kind})
	}
}

func member(id, role string, media ...string) gossip.Member {
	m := gossip.Member{State: gossip.StateAlive, Meta: gossip.Meta{NodeID: id, Role: role}}
	for _, a := range media {
		m.Meta.MediaAddrs = append(m.Meta.MediaAddrs, ap(a))
	}
	return m
}

// The TURN peer list is the edge's own endpoints plus every alive edge's
// reachable media addresses, kept current as edges come and go, and set
// only when it changes.
func TestWatchMediaPeers(t *testing.T) {
	own := []netip.AddrPort{ap("127.0.0.1:7882"), ap("198.18.0.1:7882")}
	self := member("edge-1", gossip.RoleEdge, "198.18.0.1:7882")
	v := &fakeView{members: []gossip.Member{self}}
	var sets [][]netip.AddrPort
	stop := gossipmember.WatchMediaPeers(v, own, func(l []netip.AddrPort) { sets = append(sets, l) })
	last := func() []netip.AddrPort { return sets[len(sets)-1] }
	if len(sets) != 1 || !slices.Equal(last(), own) {
		t.Fatalf("first list %v, want the edge's own %v", sets, own)
	}

	refused := member("edge-9", gossip.RoleEdge, "198.18.9.9:7882")
	refused.MetaErr = gossip.ErrURLNotAllowed
	v.change(gossip.EventJoin, self,
		member("cp-1", gossip.RoleControlPlane, "198.18.5.5:7882"),
		member("edge-2", gossip.RoleEdge, "10.1.0.2:7882", "10.1.0.2:7881", "127.0.0.1:7882"),
		member("edge-3", gossip.RoleEdge, "[2001:db8::3]:7882", "169.254.169.254:80"),
		refused)
	want := append(slices.Clone(own), ap("10.1.0.2:7882"), ap("10.1.0.2:7881"), ap("[2001:db8::3]:7882"))
	if !slices.Equal(last(), want) {
		t.Fatalf("with the fleet: %v, want %v", last(), want)
	}
	n := len(sets)
	v.change(gossip.EventUpdate, v.Nodes()...) // a load update: same list
	if len(sets) != n {
		t.Fatalf("an unchanged list was set again: %v", last())
	}
	v.change(gossip.EventFail, self, member("edge-3", gossip.RoleEdge, "[2001:db8::3]:7882"))
	want = append(slices.Clone(own), ap("[2001:db8::3]:7882"))
	if !slices.Equal(last(), want) {
		t.Fatalf("after edge-2 failed: %v, want %v", last(), want)
	}
	stop()
	n = len(sets)
	v.change(gossip.EventJoin, self, member("edge-4", gossip.RoleEdge, "10.1.0.4:7882"))
	if len(sets) != n {
		t.Fatal("set after stop")
	}
}

// Through real gossip nodes: an edge that joins brings its media
// addresses into the other edge's TURN peer list, and takes them away
// when it leaves.
func TestWatchMediaPeersOverGossip(t *testing.T) {
	a := startGossip(t, "edge-a", gossip.RoleEdge, nil)
	own := []netip.AddrPort{ap("198.18.0.1:7882")}
	if err := a.UpdateMeta(gossip.Meta{MediaAddrs: own}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var cur []netip.AddrPort
	stop := gossipmember.WatchMediaPeers(a, own, func(l []netip.AddrPort) { mu.Lock(); cur = l; mu.Unlock() })
	defer stop()
	peers := func() []netip.AddrPort { mu.Lock(); defer mu.Unlock(); return slices.Clone(cur) }

	b, stopB := startGossipStoppable(t, "edge-b", gossip.RoleEdge, []string{a.Addr()})
	if err := b.UpdateMeta(gossip.Meta{MediaAddrs: []netip.AddrPort{ap("198.18.0.2:7882"), ap("198.18.0.2:7881")}}); err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{ap("198.18.0.1:7882"), ap("198.18.0.2:7882"), ap("198.18.0.2:7881")}
	waitFor(t, "edge-b's media in edge-a's peer list", func() bool { return slices.Equal(peers(), want) })
	stopB()
	waitFor(t, "edge-b's media gone when it left", func() bool { return slices.Equal(peers(), own) })
}

// startGossipStoppable is startGossip with a stop function.
func startGossipStoppable(t *testing.T, id, role string, seeds []string) (*gossip.Node, func()) {
	t.Helper()
	cfg := gossip.Default()
	cfg.NodeID, cfg.Role, cfg.Region = id, role, "eu"
	cfg.Profile = gossip.ProfileLocal
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Seeds = seeds
	pc, ln, err := gossip.Listen(cfg.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := gossip.New(cfg, gossip.Deps{PacketConn: pc, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(t.Context()) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = n.Close()
			if err := <-done; err != nil && !errors.Is(err, gossip.ErrClosed) {
				t.Errorf("%s: %v", id, err)
			}
		})
	}
	t.Cleanup(stop)
	return n, stop
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
