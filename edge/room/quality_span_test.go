package room

import (
	"testing"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// TestSpanQuality: the rating an edge makes of its own participant
// reaches the room's other edge, which passes it on to its participants
// with its own ratings; a rating naming a participant that is not the
// sender's is ignored.
func TestSpanQuality(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publish(t, a.m, "r", "alice")
	bob, err := b.m.Join(JoinParams{Room: "r", Identity: "bob", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	rb := b.m.Room("r")
	eventually(t, "B has A's rating of alice", func() bool { return rb.RemoteQuality("alice") != nil })
	// What A sent is what B keeps and passes on.
	var sent *livekit.ConnectionQualityInfo
	for _, body := range b.heardKind(spanQuality) {
		u := &livekit.ConnectionQualityUpdate{}
		if err := proto.Unmarshal(body, u); err != nil {
			t.Fatal(err)
		}
		for _, in := range u.Updates {
			if in.ParticipantSid == pb.p.sid {
				sent = in
			}
		}
	}
	got := rb.RemoteQuality("alice")
	if sent == nil || got.Quality != sent.Quality || got.Score != sent.Score {
		t.Fatalf("B keeps %v of alice, A sent %v", got, sent)
	}
	passed := false
	for _, in := range rb.remoteQualities() {
		if in.ParticipantSid == pb.p.sid && in.Quality == got.Quality {
			passed = true
		}
	}
	if !passed {
		t.Fatal("alice's rating is not among those B's participants are sent")
	}

	// A rating of alice from an edge she is not on, and one of B's own
	// participant from A, are ignored.
	forged := &livekit.ConnectionQualityUpdate{Updates: []*livekit.ConnectionQualityInfo{
		{ParticipantSid: pb.p.sid, Quality: livekit.ConnectionQuality_LOST, Score: 0.5},
		{ParticipantSid: bob.sid, Quality: livekit.ConnectionQuality_LOST},
	}}
	body, err := proto.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := rb.onSpan("edge-c", spanQuality, body); err != nil {
		t.Fatal(err)
	}
	if err := rb.onSpan("edge-a", spanQuality, body[:0]); err != nil {
		t.Fatal(err) // an empty update is a valid one
	}
	if q := rb.RemoteQuality("alice"); q.Quality == livekit.ConnectionQuality_LOST {
		t.Fatal("an edge alice is not on changed her rating")
	}
	for _, in := range rb.remoteQualities() {
		if in.ParticipantSid == bob.sid {
			t.Fatal("a remote rating of B's own participant was kept")
		}
	}
	if err := rb.onSpan("edge-a", spanQuality, []byte{0xff}); err == nil {
		t.Fatal("a malformed rating was accepted")
	}
}
