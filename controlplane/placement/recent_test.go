package placement

import (
	"context"
	"testing"
	"time"

	"github.com/spacecast/spacecast/gossip"
)

// staticView is a fleet view that gossip has not updated yet: every edge
// idle, no room anywhere.
type staticView struct{ members []gossip.Member }

func (v staticView) Nodes() []gossip.Member         { return v.members }
func (v staticView) Hosts(string) []gossip.RoomHost { return nil }

func idleEdges(ids ...string) staticView {
	var v staticView
	for _, id := range ids {
		v.members = append(v.members, gossip.Member{State: gossip.StateAlive, Meta: gossip.Meta{
			NodeID: id, Role: gossip.RoleEdge, Region: "eu", SignalURL: "ws://" + id}})
	}
	return v
}

// A join storm over many rooms, faster than gossip spreads load, is spread
// evenly over the region's edges; a room's later participants follow its
// first one before the directory knows where that went; after the window
// the replica trusts gossip again.
func TestRecentPlacements(t *testing.T) {
	g, err := NewGossip(idleEdges("e1", "e2", "e3"), Policy{DefaultRegion: "eu", RecentWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	g.recent.now = func() time.Time { return now }
	ctx := context.Background()
	count := map[string]int{}
	first := map[string]string{}
	for i := range 30 {
		room := "room-" + string(rune('a'+i%10))
		pl, err := g.Place(ctx, Request{RoomID: room})
		if err != nil {
			t.Fatal(err)
		}
		count[pl.NodeID]++
		if f, ok := first[room]; !ok {
			first[room] = pl.NodeID
		} else if f != pl.NodeID {
			t.Fatalf("%s split over %s and %s before the directory caught up", room, f, pl.NodeID)
		}
	}
	// Ten rooms of three: rooms are spread 4/3/3 over the edges.
	for id, n := range count {
		if n < 9 || n > 12 {
			t.Fatalf("placements per edge %v: not spread (%s has %d)", count, id, n)
		}
	}
	// Past the window, an idle-looking fleet is taken at its word.
	now = now.Add(2 * time.Minute)
	pl, err := g.Place(ctx, Request{RoomID: "room-a"})
	if err != nil {
		t.Fatal(err)
	}
	if pl.NodeID != "e1" {
		t.Fatalf("after the window: %s, want e1 (ties by node id)", pl.NodeID)
	}
	if len(g.recent.perNode) != 1 || len(g.recent.perRoom) != 1 || len(g.recent.picks)-g.recent.head != 1 {
		t.Fatalf("old placements kept: %d nodes, %d rooms", len(g.recent.perNode), len(g.recent.perRoom))
	}
}

// Without the memory, the same storm piles onto one edge: this is what the
// window prevents.
func TestChooseAloneWouldPile(t *testing.T) {
	f := FleetOf(idleEdges("e1", "e2", "e3").members, nil)
	seen := map[string]bool{}
	for i := range 10 {
		pl, err := Choose(Policy{DefaultRegion: "eu"}, f, Request{RoomID: "r" + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		seen[pl.NodeID] = true
	}
	if len(seen) != 1 {
		t.Fatalf("a stale snapshot spread joins by itself: %v", seen)
	}
}
