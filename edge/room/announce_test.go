package room

import (
	"context"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
)

// TestSpanTrackPublishedInTheRoom: a participant on A already in the room
// spanning A and B publishes a track (its only one, so no later change of
// its info follows) the way the publisher's connection announces it: B
// relays it. The room state B hears carries only the codecs of the tracks
// A's room knows, so a track announced before A's room knew it never
// crossed.
func TestSpanTrackPublishedInTheRoom(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	subscribe(t, b.m, "r", "bob")
	p, err := a.m.Join(JoinParams{Room: "r", Identity: "alice", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, false)
	rb := b.m.Room("r")
	eventually(t, "B knows alice", func() bool { return rb.RemoteParticipant("alice") != nil })

	const sid = "TR_aalice"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.call(ctx, func() {
		info := &livekit.TrackInfo{Sid: sid, Type: livekit.TrackType_AUDIO, MimeType: webrtc.MimeTypeOpus}
		tr, terr := newPubTrackCodec(p, info, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111})
		if terr != nil {
			err = terr
			return
		}
		p.announce(tr)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "B lists alice's track", func() bool {
		info := rb.RemoteParticipant("alice")
		return info != nil && len(info.Tracks) == 1
	})
	eventually(t, "B relays alice's track", func() bool { return rb.Track(sid) != nil })
	if tr := rb.Track(sid); tr.pull == nil || tr.Info().MimeType != webrtc.MimeTypeOpus {
		t.Fatalf("B's track %s: relayed %v, mime %q", sid, tr.pull != nil, tr.Info().MimeType)
	}
}
