package room

import (
	"testing"

	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/edge/relay"
)

// TestSpanCountsRepairAndReplay: what the origin sends again across a
// link is counted apart from the publisher's media: an answer to the other
// edge's NACK as a repair of its layer, the cached keyframe a layer starts
// from as a replay of that layer; the rest as media.
func TestSpanCountsRepairAndReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time media")
	}
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publishEvery(t, a.m, "r", "alice", 0) // a keyframe at the start only
	s := subscribe(t, b.m, "r", "bob")
	vid := pb.video.sid
	eventually(t, "bob receives the high layer", func() bool {
		s.bind(t)
		d := s.down(t, vid)
		return d != nil && d.down.Current() == 2
	})
	tr := b.m.Room("r").Track(vid)
	eventually(t, "only the high layer is pulled", func() bool { return tr.Pulled() == 0b100 && originMask(pb.video) == 0b100 })
	sent := func() [relay.MaxLayers][relay.NumKinds]uint64 { return a.r.Stats("edge-b").LayerBytesSent }
	// The layer started crossing from the origin's cache (a replay), then
	// goes on with the publisher's packets as they arrive.
	if sent()[2][relay.KindReplay] == 0 {
		t.Fatalf("the high layer's start is not counted as a replay: %v", sent())
	}
	eventually(t, "the high layer's media is counted as media", func() bool { return sent()[2][relay.KindMedia] > 0 })

	before := sent()[2][relay.KindRepair]
	tr.pull.RequestRetransmission(2, 0, []uint16{uint16(pb.seq[2].Load() - 1)})
	eventually(t, "the answer to the NACK is counted as a repair of the high layer", func() bool {
		return sent()[2][relay.KindRepair] > before
	})

	if sent()[0][relay.KindReplay] != 0 {
		t.Fatal("a replay of the low layer before it was pulled")
	}
	s.setQuality(t, livekit.VideoQuality_LOW, vid)
	eventually(t, "the low layer starts from the origin's cached keyframe, counted as a replay", func() bool {
		return sent()[0][relay.KindReplay] > 0
	})
}
