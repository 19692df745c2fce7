package edge

import (
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

func metadataRequest(id uint32, name string, attrs map[string]string) *livekit.SignalRequest {
	return &livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
		RequestId: id, Name: name, Attributes: attrs,
	}}}
}

func answerTo(id uint32) func(*livekit.SignalResponse) bool {
	return func(m *livekit.SignalResponse) bool {
		rr := m.GetRequestResponse()
		return rr != nil && rr.GetRequestId() == id
	}
}

// updateOf matches a ParticipantUpdate about identity that ok accepts.
func updateOf(identity string, ok func(*livekit.ParticipantInfo) bool) func(*livekit.SignalResponse) bool {
	return func(m *livekit.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.Identity == identity && ok(p) {
				return true
			}
		}
		return false
	}
}

// TestParticipantCannotForgeServerAttributesOrRename: the control plane
// grants canUpdateOwnMetadata for hand raising too, and puts the role in a
// spacecast.* attribute. A participant may raise its hand, but may not set
// or delete a server-owned attribute (its role) nor rename itself unless
// the control plane said renaming is allowed (spacecast.canRename).
func TestParticipantCannotForgeServerAttributesOrRename(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	yes := true
	g := &auth.VideoGrant{RoomJoin: true, Room: "r", CanUpdateOwnMetadata: &yes}
	role := map[string]string{"spacecast.role": "participant"}
	alice, _ := f.rawJoin("alice", g, role)
	bob, _ := f.rawJoin("bob", joinGrant("r"), nil)

	refused := []struct {
		name  string
		req   *livekit.SignalRequest
		want  livekit.RequestResponse_Reason
		notIn string
	}{
		{"promote itself", metadataRequest(1, "", map[string]string{"spacecast.role": "moderator"}), livekit.RequestResponse_NOT_ALLOWED, ""},
		{"look-alike key", metadataRequest(2, "", map[string]string{"Spacecast.Role": "moderator"}), livekit.RequestResponse_NOT_ALLOWED, ""},
		{"delete its role", metadataRequest(3, "", map[string]string{"spacecast.role": ""}), livekit.RequestResponse_NOT_ALLOWED, ""},
		{"new server key", metadataRequest(4, "", map[string]string{"spacecast.verified": "1", "hand": "1"}), livekit.RequestResponse_NOT_ALLOWED, ""},
		{"rename with hand raising only", metadataRequest(5, "The Host", nil), livekit.RequestResponse_NOT_ALLOWED, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			alice.t = t
			if err := alice.send(tt.req); err != nil {
				t.Fatal(err)
			}
			rr := alice.expect("the answer", answerTo(tt.req.GetUpdateMetadata().RequestId)).GetRequestResponse()
			if rr.Reason != tt.want || rr.Message == "" {
				t.Fatalf("answer %v, want %v with a reason", rr, tt.want)
			}
		})
	}
	alice.t = t
	// Raising a hand works, and is all that changed.
	if err := alice.send(metadataRequest(9, "", map[string]string{"hand": "1"})); err != nil {
		t.Fatal(err)
	}
	if rr := alice.expect("ok", answerTo(9)).GetRequestResponse(); rr.Reason != livekit.RequestResponse_OK {
		t.Fatalf("hand raise: %v", rr)
	}
	info := bob.expect("alice's raised hand", updateOf("alice", func(p *livekit.ParticipantInfo) bool { return p.Attributes["hand"] == "1" })).
		GetUpdate().GetParticipants()[0]
	if info.Attributes["spacecast.role"] != "participant" || info.Name != "alice" || len(info.Attributes) != 2 {
		t.Fatalf("alice as bob sees her: name %q, attributes %v", info.Name, info.Attributes)
	}

	// Where the control plane allows renaming, it says so.
	carol, _ := f.rawJoin("carol", g, map[string]string{"spacecast.role": "participant", "spacecast.canRename": "true"})
	if err := carol.send(metadataRequest(1, "Carol B.", nil)); err != nil {
		t.Fatal(err)
	}
	if rr := carol.expect("ok", answerTo(1)).GetRequestResponse(); rr.Reason != livekit.RequestResponse_OK {
		t.Fatalf("allowed rename: %v", rr)
	}
}

// TestAttributeFloodBounded: a participant looping large attribute updates
// is held to a size and a rate; what it may change reaches the others
// coalesced, so their queues never fill and nobody else is disconnected.
func TestAttributeFloodBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, fixtureOpts{registerer: reg})
	yes := true
	alice, _ := f.rawJoin("alice", &auth.VideoGrant{RoomJoin: true, Room: "r", CanUpdateOwnMetadata: &yes}, nil)
	bob, _ := f.rawJoin("bob", joinGrant("r"), nil)

	// 200 KiB of attributes (under the signalling message cap) is refused
	// with a reason; alice stays.
	huge := strings.Repeat("x", 200<<10)
	if err := alice.send(metadataRequest(1, "", map[string]string{"blob": huge})); err != nil {
		t.Fatal(err)
	}
	if rr := alice.expect("the answer", answerTo(1)).GetRequestResponse(); rr.Reason != livekit.RequestResponse_LIMIT_EXCEEDED {
		t.Fatalf("200 KiB of attributes: %v, want LIMIT_EXCEEDED", rr)
	}
	// Then a loop of the largest updates allowed, as fast as alice can
	// send them, while bob does not read.
	const loops = 150 // within the signalling rate: each gets an answer
	big := strings.Repeat("y", 15<<10)
	for i := 0; i < loops; i++ {
		v := string(rune('a'+i%26)) + big
		if err := alice.send(metadataRequest(uint32(100+i), "", map[string]string{"blob": v})); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	last := alice.expect("the last answer", answerTo(100+loops-1)).GetRequestResponse()
	if last.Reason != livekit.RequestResponse_LIMIT_EXCEEDED {
		t.Fatalf("update %d of a flood: %v, want LIMIT_EXCEEDED", loops, last)
	}
	if n := counter(reg, "spacecast_edge_metadata_updates_refused_total"); n < loops/2 {
		t.Fatalf("refused updates counted: %v", n)
	}
	// bob is still here and hears alice's newest state, having been sent
	// a handful of coalesced updates rather than one per request.
	if err := bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 1}}); err != nil {
		t.Fatal(err)
	}
	updates := 0
	bob.expect("a pong after the flood", func(m *livekit.SignalResponse) bool {
		if m.GetLeave() != nil {
			t.Fatalf("bob was disconnected: %v", m.GetLeave())
		}
		if updateOf("alice", func(*livekit.ParticipantInfo) bool { return true })(m) {
			updates++
		}
		return m.GetPong() != 0
	})
	if updates > 30 {
		t.Fatalf("bob was sent %d updates of alice for %d requests: not coalesced", updates, loops)
	}
	if f.edge.Rooms().Room("r").Participant("bob") == nil || f.edge.Rooms().Room("r").Participant("alice") == nil {
		t.Fatal("a participant was disconnected")
	}
	if got := f.edge.Rooms().Room("r").Participant("alice").Info().Attributes["blob"]; len(got) > 16<<10 {
		t.Fatalf("alice holds %d bytes of attributes", len(got))
	}
}

// TestSignalFloodDroppedThenDisconnected: signalling requests past the
// participant's rate are dropped and counted; a client that keeps flooding
// is disconnected with a LeaveRequest, and the room goes on.
func TestSignalFloodDroppedThenDisconnected(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, fixtureOpts{registerer: reg})
	mallory, _ := f.rawJoin("mallory", joinGrant("r"), nil)
	bob, _ := f.rawJoin("bob", joinGrant("r"), nil)
	const flood = 5000
	for i := 0; i < flood; i++ {
		if mallory.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: int64(i + 1)}}) != nil {
			break // the edge closed the connection
		}
	}
	msgs, closed := mallory.closedAfter(10 * time.Second)
	pongs, leave := 0, (*livekit.LeaveRequest)(nil)
	for _, m := range msgs {
		if m.GetPong() != 0 {
			pongs++
		}
		if m.GetLeave() != nil {
			leave = m.GetLeave()
		}
	}
	if !closed || leave == nil || leave.CanReconnect {
		t.Fatalf("flooder: closed %v, leave %v after %d messages (%d pongs); want a final LeaveRequest and the socket closed", closed, leave, len(msgs), pongs)
	}
	if pongs >= flood {
		t.Fatalf("%d pongs for %d pings: nothing dropped", pongs, flood)
	}
	if counter(reg, "spacecast_edge_signal_requests_dropped_total") == 0 || counter(reg, "spacecast_edge_participants_flood_closed_total") != 1 {
		t.Fatal("drops or the disconnect not counted")
	}
	if err := bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 7}}); err != nil {
		t.Fatal(err)
	}
	bob.expect("bob's pong", func(m *livekit.SignalResponse) bool { return m.GetPong() != 0 })
}

// TestDataFloodAndServerKinds: a participant cannot send the packet kinds
// the server sends (speaker updates); data packets past its rate are
// dropped and counted, and a sender that keeps flooding is disconnected
// while the receiver stays.
func TestDataFloodAndServerKinds(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, fixtureOpts{registerer: reg})
	yes := true
	g := &auth.VideoGrant{RoomJoin: true, Room: "r", CanPublishData: &yes}
	mallory, _ := f.rawJoin("mallory", g, nil)
	bob, _ := f.rawJoin("bob", g, nil)
	dc := mallory.dataChannel()
	bob.dataChannel()
	// Until the edge's side of bob's channels is open too, packets for him
	// are undelivered: send until one arrives.
	ready := time.After(10 * time.Second)
	for delivered := false; !delivered; {
		if err := dc.Send(userPacket(t, "ready")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-bob.data:
			delivered = true
		case <-time.After(100 * time.Millisecond): // resend interval
		case <-ready:
			t.Fatal("no data reached bob")
		}
	}
	for len(bob.data) > 0 {
		<-bob.data
	}

	//lint:ignore SA1019 the forged packet uses the deprecated speaker update, as an old client's would
	forged, err := proto.Marshal(&livekit.DataPacket{Value: &livekit.DataPacket_Speaker{Speaker: &livekit.ActiveSpeakerUpdate{
		Speakers: []*livekit.SpeakerInfo{{Sid: "PA_bob", Level: 1, Active: true}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Send(forged); err != nil {
		t.Fatal(err)
	}
	if err := dc.Send(userPacket(t, "hello")); err != nil {
		t.Fatal(err)
	}
	for first := true; first; {
		select {
		case b := <-bob.data:
			pkt := &livekit.DataPacket{}
			if proto.Unmarshal(b, pkt) == nil && string(pkt.GetUser().GetPayload()) == "ready" {
				continue // one still in flight from the loop above
			}
			first = false
			if string(pkt.GetUser().GetPayload()) != "hello" || pkt.ParticipantIdentity != "mallory" {
				t.Fatalf("bob's next packet: %v, want mallory's hello (the speaker update dropped)", pkt)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("bob got nothing")
		}
	}

	const flood = 5000
	pkt := userPacket(t, strings.Repeat("z", 1000))
	for i := 0; i < flood; i++ {
		if dc.Send(pkt) != nil {
			break
		}
	}
	msgs, closed := mallory.closedAfter(15 * time.Second)
	var leave *livekit.LeaveRequest
	for _, m := range msgs {
		if m.GetLeave() != nil {
			leave = m.GetLeave()
		}
	}
	if !closed || leave == nil {
		t.Fatalf("flooder: closed %v, leave %v; want disconnected with a LeaveRequest", closed, leave)
	}
	if counter(reg, "spacecast_edge_data_packets_dropped_total") == 0 || counter(reg, "spacecast_edge_participants_flood_closed_total") != 1 {
		t.Fatal("drops or the disconnect not counted")
	}
	if n := len(bob.data); n >= flood {
		t.Fatalf("bob received %d of %d flooded packets", n, flood)
	}
	if err := bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 7}}); err != nil {
		t.Fatal(err)
	}
	bob.expect("bob's pong", func(m *livekit.SignalResponse) bool {
		if m.GetLeave() != nil {
			t.Fatalf("bob disconnected: %v", m.GetLeave())
		}
		return m.GetPong() != 0
	})
}

// TestTrackKindMatchesSource: camera and screen share are video,
// microphone and screen-share audio are audio. An AddTrack whose type
// contradicts its source is refused, and a track announced as audio whose
// media is video is never published: in a room with camera publishing off,
// a participant allowed the microphone cannot send video disguised as it.
func TestTrackKindMatchesSource(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, fixtureOpts{registerer: reg})
	micOnly := &auth.VideoGrant{RoomJoin: true, Room: "r", CanPublishSources: []string{"microphone"}}
	mallory, _ := f.rawJoin("mallory", micOnly, nil)
	bob, _ := f.rawJoin("bob", joinGrant("r"), nil)

	for i, tt := range []struct {
		name   string
		typ    livekit.TrackType
		source livekit.TrackSource
	}{
		{"video as microphone", livekit.TrackType_VIDEO, livekit.TrackSource_MICROPHONE},
		{"audio as camera", livekit.TrackType_AUDIO, livekit.TrackSource_CAMERA},
		{"audio as screen share", livekit.TrackType_AUDIO, livekit.TrackSource_SCREEN_SHARE},
		{"video as screen-share audio", livekit.TrackType_VIDEO, livekit.TrackSource_SCREEN_SHARE_AUDIO},
		{"data track", livekit.TrackType_DATA, livekit.TrackSource_MICROPHONE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mallory.t = t
			cid := "bad" + strings.Repeat("x", i)
			if err := mallory.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
				Cid: cid, Type: tt.typ, Source: tt.source,
			}}}); err != nil {
				t.Fatal(err)
			}
			m := mallory.expect("the answer", func(m *livekit.SignalResponse) bool {
				return m.GetTrackPublished().GetCid() == cid || m.GetRequestResponse().GetAddTrack().GetCid() == cid
			})
			if m.GetTrackPublished() != nil || m.GetRequestResponse().GetReason() != livekit.RequestResponse_INVALID_REQUEST {
				t.Fatalf("answer %v, want INVALID_REQUEST", m)
			}
		})
	}
	mallory.t = t

	// Announced as a microphone (allowed), sent as VP8 video.
	if err := mallory.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "mic", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE,
	}}}); err != nil {
		t.Fatal(err)
	}
	mallory.expect("the microphone's TrackPublished", func(m *livekit.SignalResponse) bool { return m.GetTrackPublished().GetCid() == "mic" })
	before := counter(reg, "spacecast_edge_signal_errors_total")
	keyframe := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	mallory.publishRaw("mic", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, keyframe, 33*time.Millisecond)

	// The edge gets the media (pion's OnTrack) and either publishes it or
	// refuses it: wait for one of the two.
	deadline := time.Now().Add(15 * time.Second)
	for {
		p := f.edge.Rooms().Room("r").Participant("mallory")
		if p == nil {
			t.Fatal("mallory left")
		}
		if n := len(p.Info().Tracks); n > 0 {
			t.Fatalf("video announced as a microphone was published: %v", p.Info().Tracks)
		}
		if counter(reg, "spacecast_edge_signal_errors_total") > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge neither published nor refused mallory's media")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	// bob, subscribed to everything, is offered no track of mallory's.
	if err := bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 3}}); err != nil {
		t.Fatal(err)
	}
	bob.expect("a pong", func(m *livekit.SignalResponse) bool {
		if o := m.GetOffer(); o != nil && strings.Contains(o.Sdp, "m=video") {
			t.Fatalf("bob was offered video: %s", o.Sdp)
		}
		return m.GetPong() != 0
	})
}
