package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
)

// TestRoomAcrossRegions: two edges in two regions, each with a relay, the
// real binary and gossip. Two participants of one room placed by region
// land on different edges and see each other (the room directory says the
// room is on both, gossip says where each relay listens, the relay carries
// the room's state). When one edge is killed, the participant on the other
// sees its peer leave once gossip declares the edge dead.
func TestRoomAcrossRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process fleet: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	w.startControlPlane("cp-1")
	w.addEdge("edge-a1", "a")
	b1 := w.addEdge("edge-b1", "b")
	w.eventually("both edges in the region list", 20*time.Second, func() bool {
		r := w.regions()
		return len(r["a"]) == 1 && len(r["b"]) == 1
	})
	owner, space := w.owner()
	rm := w.room(owner, space, "across")

	ja, c := w.join(rm, map[string]any{"regionHint": "a"})
	if c != 200 || ja.Edge.NodeID != "edge-a1" {
		t.Fatalf("join in a: HTTP %d on %q", c, ja.Edge.NodeID)
	}
	pa, code := w.connect(ja.Edge.URL, ja.MediaToken)
	if pa == nil {
		t.Fatalf("connect to edge-a1: HTTP %d", code)
	}
	jb, c := w.join(rm, map[string]any{"regionHint": "b"})
	if c != 200 || jb.Edge.NodeID != "edge-b1" {
		t.Fatalf("join in b: HTTP %d on %q", c, jb.Edge.NodeID)
	}
	pb, code := w.connect(jb.Edge.URL, jb.MediaToken)
	if pb == nil {
		t.Fatalf("connect to edge-b1: HTTP %d", code)
	}
	idA, idB := pa.join.Participant.Identity, pb.join.Participant.Identity
	took := w.eventually("each participant sees the other across the edges", 20*time.Second, func() bool {
		_, okA := pa.state(idB)
		_, okB := pb.state(idA)
		return okA && okB
	})
	t.Logf("the room joined up across the relay %s after the second participant connected", took.Round(time.Millisecond))

	w.kill(b1)
	took = w.eventually("the participant on edge-b1 leaves the room on edge-a1", 30*time.Second, func() bool {
		s, ok := pa.state(idB)
		return ok && s == livekit.ParticipantInfo_DISCONNECTED
	})
	t.Logf("a participant of a killed edge left the room on the other edge %s after the kill", took.Round(time.Millisecond))
}
