package edge

import (
	"testing"
	"time"
)

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond) // polling
	}
}

// TestRegionalSource: a publisher on A (region a), a subscriber on B1 and
// one on B2 (both region b). Each track crosses the a→b link once: A
// serves B1 alone, B2 pulls from B1 (B1, the smallest node id of region b
// hosting the room, is its region's source), and B2's subscriber gets
// everything; B1 pulls the union of the layers its subscriber and B2
// need. When B1's subscriber leaves (the room closes there), B2
// pulls from A again and its subscriber keeps receiving.
func TestRegionalSource(t *testing.T) {
	if testing.Short() {
		t.Skip("three edges and SDK participants in a namespace")
	}
	regions := map[string]string{"edge-a": "a", "edge-b1": "b", "edge-b2": "b"}
	ff := newRegionFleet(t, regions, "edge-a", "edge-b1", "edge-b2")
	a, b1, b2 := ff.edges[0], ff.edges[1], ff.edges[2]
	const room = "regional"
	g := joinGrant(room)

	pub := a.spawn("alice", a.token("alice", g, time.Minute))
	pub.waitFor("alice connected", 20*time.Second, pub.ev("connected"))
	pub.send("simulcast")
	video := pub.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
	pub.send("audio")
	audio := pub.waitFor("audio published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "audio" })

	bob := b1.spawn("bob", b1.token("bob", g, time.Minute))
	bob.waitFor("bob connected", 20*time.Second, bob.ev("connected"))
	carol := b2.spawn("carol", b2.token("carol", g, time.Minute))
	carol.waitFor("carol connected", 20*time.Second, carol.ev("connected"))
	for _, p := range []*proc{bob, carol} {
		p.stats("100 packets of each track", 30*time.Second, func(r map[string]trackReport) bool {
			return r[video.SID].Packets >= 100 && r[audio.SID].Packets >= 100
		})
	}

	// Each track crosses a→b once: to B1, which serves B2.
	served := func(from *fixture, to string) int { return from.edge.Relay().Stats(to).Served }
	waitUntil(t, "A serves B1 the two tracks and B2 none; B1 serves B2 both", 20*time.Second, func() bool {
		return served(a, "edge-b1") == 2 && served(a, "edge-b2") == 0 && served(b1, "edge-b2") == 2
	})
	src := b2.edge.Rooms().Room(room).Sources()
	if src[video.SID] != "edge-b1" || src[audio.SID] != "edge-b1" {
		t.Fatalf("B2 pulls from %v, want edge-b1 for both tracks", src)
	}
	before := a.edge.Relay().Stats("edge-b2").BytesSent
	ab1, b1b2 := a.edge.Relay().Stats("edge-b1").BytesSent, b1.edge.Relay().Stats("edge-b2").BytesSent
	rep := carol.stats("100 more packets of each track through B1", 30*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= 200 && r[audio.SID].Packets >= 200
	})
	if d := a.edge.Relay().Stats("edge-b2").BytesSent - before; d != 0 {
		t.Errorf("%d RTP bytes crossed A→B2 while B2 pulled from B1", d)
	}
	ab1 = a.edge.Relay().Stats("edge-b1").BytesSent - ab1
	b1b2 = b1.edge.Relay().Stats("edge-b2").BytesSent - b1b2
	t.Logf("while carol got 100 more packets of each track: A→B1 %d RTP bytes, A→B2 %d, B1→B2 %d", ab1, a.edge.Relay().Stats("edge-b2").BytesSent-before, b1b2)
	if b1b2 == 0 {
		t.Error("nothing crossed B1→B2")
	}

	// B1 pulls what its subscriber and B2 need: bob wants the low layer
	// only, carol (behind B2) still the high one.
	bob.send("quality " + video.SID + " low")
	rb1 := b1.edge.Rooms().Room(room)
	waitUntil(t, "B1 pulls the low and the high layer", 20*time.Second, func() bool {
		return rb1.Track(video.SID).Pulled() == 0b101
	})
	rep = carol.stats("carol keeps receiving the high layer", 30*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= rep[video.SID].Packets+100
	})
	if got := b2.edge.Rooms().Room(room).Track(video.SID).Pulled(); got != 0b100 {
		t.Errorf("B2 pulls %03b of the video, want the high layer", got)
	}

	// B1's subscriber leaves: its room closes there, and B2 pulls from A.
	bob.quit()
	waitUntil(t, "A serves B2 the two tracks", 20*time.Second, func() bool {
		return served(a, "edge-b2") == 2 && b1.edge.Rooms().Room(room) == nil
	})
	v0, a0 := rep[video.SID].Packets, rep[audio.SID].Packets
	carol.stats("carol keeps receiving from A", 30*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= v0+200 && r[audio.SID].Packets >= a0+200
	})
	src = b2.edge.Rooms().Room(room).Sources()
	if src[video.SID] != "edge-a" || src[audio.SID] != "edge-a" {
		t.Fatalf("B2 pulls from %v, want edge-a for both tracks", src)
	}
	carol.quit()
	pub.quit()
}
