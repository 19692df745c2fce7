package placement

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/spacecast/spacecast/gossip"
)

// runNode starts a gossip node with the local profile on 127.0.0.1:0.
func runNode(t *testing.T, id, role string, seeds []string, leave bool) (*gossip.Node, func()) {
	t.Helper()
	pc, ln, err := gossip.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := gossip.Default()
	cfg.NodeID, cfg.Role, cfg.Region = id, role, "eu"
	cfg.BindAddr, cfg.Profile, cfg.Seeds, cfg.LeaveOnStop = "127.0.0.1:0", gossip.ProfileLocal, seeds, leave
	n, err := gossip.New(cfg, gossip.Deps{PacketConn: pc, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return n, stop
}

func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A crashed edge stops getting placements once gossip declares it dead, and
// its room's next participant lands on another edge of the region.
func TestKilledEdgeLeavesPlacement(t *testing.T) {
	cp, _ := runNode(t, "cp", gossip.RoleControlPlane, nil, true)
	stops := map[string]func(){}
	var edges []*gossip.Node
	for i := range 3 {
		id := "edge-" + strconv.Itoa(i)
		e, stop := runNode(t, id, gossip.RoleEdge, []string{cp.Addr()}, false)
		if err := e.UpdateMeta(gossip.Meta{SignalURL: "ws://" + id + ".test", MaxParticipants: 100}); err != nil {
			t.Fatal(err)
		}
		edges = append(edges, e)
		stops[id] = stop
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Each poll is a join to the placer, which remembers its own placements
	// (a hundred polls on edge-1 would make it look full): poll through a
	// fresh placer each time so that only gossip decides.
	place := func(room string) (Placement, error) {
		g, err := NewGossip(cp, Policy{DefaultRegion: "eu"})
		if err != nil {
			t.Fatal(err)
		}
		return g.Place(ctx, Request{RoomID: room})
	}
	poll(t, 10*time.Second, "edges visible", func() bool { return len(FleetOf(cp.Nodes(), nil).Edges) == 3 })

	// The room lives on edge-1 (others are busier, so stickiness decides).
	edges[0].SetLoad(gossip.Load{Participants: 1})
	edges[1].SetLoad(gossip.Load{Participants: 30})
	edges[2].SetLoad(gossip.Load{Participants: 1})
	edges[1].SetRoom("room-1", gossip.Room{Participants: 30})
	poll(t, 10*time.Second, "sticky placement on edge-1", func() bool {
		p, err := place("room-1")
		return err == nil && p.NodeID == "edge-1"
	})
	stops["edge-1"]() // crash: no leave
	poll(t, 10*time.Second, "edge-1 out of placement", func() bool {
		p, err := place("room-1")
		return err == nil && p.NodeID != "edge-1"
	})
	if hs := cp.Hosts("room-1"); len(hs) != 0 {
		t.Fatalf("dead edge still hosts room-1: %v", hs)
	}
	// Draining takes an edge out at once.
	edges[0].SetDraining(true)
	poll(t, 10*time.Second, "only edge-2 left", func() bool {
		p, err := place("room-2")
		return err == nil && p.NodeID == "edge-2"
	})
	regions := Regions(cp.Nodes())
	if len(regions) != 1 || regions[0].Name != "eu" {
		t.Fatalf("Regions = %+v", regions)
	}
}
