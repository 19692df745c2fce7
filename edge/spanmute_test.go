package edge

import (
	"context"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// TestFleetMuteAcrossEdges: three edges of one cluster, one room, a
// participant on A, a subscriber on B. Carol joins on C and publishes her
// microphone; A's RoomService (MutePublishedTrack) mutes it: C mutes Carol's track, and the subscriber on B
// is told it is muted; A's unmute is told likewise.
func TestFleetMuteAcrossEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("three edges and SDK participants in a namespace")
	}
	ff := newFleetFixture(t, "edge-a", "edge-b", "edge-c")
	a, b, c := ff.edges[0], ff.edges[1], ff.edges[2]
	const room = "mute"
	g := joinGrant(room)

	mona := a.spawn("mona", a.token("mona", g, time.Minute))
	mona.waitFor("mona connected", 20*time.Second, mona.ev("connected"))
	bob := b.spawn("bob", b.token("bob", g, time.Minute))
	bob.waitFor("bob connected", 20*time.Second, bob.ev("connected"))
	carol := c.spawn("carol", c.token("carol", g, time.Minute))
	carol.waitFor("carol connected", 20*time.Second, carol.ev("connected"))
	carol.send("audio")
	audio := carol.waitFor("audio published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "audio" })
	bob.waitFor("bob subscribed to carol's audio", 30*time.Second, func(e event) bool { return e.Ev == "subscribed" && e.Track == audio.SID })
	ra := a.edge.Rooms().Room(room)
	deadline := time.Now().Add(20 * time.Second)
	for ra.Track(audio.SID) == nil {
		if time.Now().After(deadline) {
			t.Fatal("A never relayed carol's audio")
		}
		time.Sleep(50 * time.Millisecond) // polling
	}

	key, secret := a.cluster.SigningSecret()
	rs := lksdk.NewRoomServiceClient(a.httpURL, key, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mutedOnC := func() bool {
		p := c.edge.Rooms().Room(room).Participant("carol")
		for _, ti := range p.Info().Tracks {
			if ti.Sid == audio.SID {
				return ti.Muted
			}
		}
		t.Fatalf("carol's track %s is gone from C", audio.SID)
		return false
	}
	for _, muted := range []bool{true, false} {
		res, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: room, Identity: "carol", TrackSid: audio.SID, Muted: muted})
		if err != nil {
			t.Fatalf("MutePublishedTrack(%v) on A: %v", muted, err)
		}
		if res.Track.GetMuted() != muted {
			t.Fatalf("MutePublishedTrack(%v) on A answered %+v", muted, res.Track)
		}
		ev := "muted"
		if !muted {
			ev = "unmuted"
		}
		bob.waitFor("bob told carol's audio is "+ev, 10*time.Second, func(e event) bool { return e.Ev == ev && e.Track == audio.SID && e.From == "carol" })
		deadline := time.Now().Add(10 * time.Second)
		for mutedOnC() != muted || ra.Track(audio.SID).Info().Muted != muted {
			if time.Now().After(deadline) {
				t.Fatalf("after A's mute(%v): C says %v, A says %v", muted, mutedOnC(), ra.Track(audio.SID).Info().Muted)
			}
			time.Sleep(50 * time.Millisecond) // polling
		}
	}
	carol.quit()
	bob.quit()
	mona.quit()
}
