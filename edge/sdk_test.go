package edge

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

func TestSDKPublishSubscribe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	reg := prometheus.NewRegistry()
	f := newFixture(t, fixtureOpts{netns: true, registerer: reg})
	g := joinGrant("r1")
	pub := f.spawn("alice", f.token("alice", g, time.Minute))
	pub.waitFor("connected", 20*time.Second, pub.ev("connected"))
	sub := f.spawn("bob", f.token("bob", g, time.Minute))
	sub.waitFor("connected", 20*time.Second, sub.ev("connected"))

	pub.send("publish")
	video := pub.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
	audio := pub.waitFor("audio published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "audio" })
	seen := map[string]bool{}
	for len(seen) < 2 {
		e := sub.waitFor("subscriptions", 20*time.Second, sub.ev("subscribed"))
		if e.From != "alice" {
			t.Fatalf("subscribed to a track of %q", e.From)
		}
		seen[e.Track] = true
	}
	if !seen[video.SID] || !seen[audio.SID] {
		t.Fatalf("subscribed %v, want %s and %s", seen, video.SID, audio.SID)
	}

	pub.send("data reliable * hello-reliable")
	d := sub.waitFor("data", 10*time.Second, sub.ev("data"))
	if d.From != "alice" || d.Payload != "hello-reliable" {
		t.Fatalf("data = %+v", d)
	}
	pub.send("data lossy bob hello-lossy")
	sub.waitFor("lossy data", 10*time.Second, func(e event) bool { return e.Ev == "data" && e.Payload == "hello-lossy" })
	q := sub.waitFor("connection quality", 10*time.Second, func(e event) bool { return e.Ev == "quality" && e.From == "alice" })
	if q.Msg != "EXCELLENT" {
		t.Errorf("alice's connection quality %s on a clean link", q.Msg)
	}

	pub.send("mute video")
	m := sub.waitFor("mute", 10*time.Second, sub.ev("muted"))
	if m.Track != video.SID {
		t.Fatalf("muted %s, want %s", m.Track, video.SID)
	}
	sub.stats("100 video packets", 20*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= 100 && r[audio.SID].Packets >= 100
	})
	rep := sub.quit()
	pub.quit()
	for sid, kind := range map[string]string{video.SID: "video", audio.SID: "audio"} {
		r := rep[sid]
		if r.Packets < 20 {
			t.Errorf("%s: %d packets received, want >= 20", kind, r.Packets)
		}
		if r.Gaps != 0 {
			t.Errorf("%s: %d sequence gaps on a clean link", kind, r.Gaps)
		}
		if r.SenderReports == 0 {
			t.Errorf("%s: no sender report from the edge", kind)
		}
		t.Logf("%s: %d packets, %d gaps", kind, r.Packets, r.Gaps)
	}
	// The media socket sent each keyframe's packets (three) to bob in one
	// segmented write, and the fan-outs in fewer calls than packets.
	sent, calls := counter(reg, "spacecast_edge_udp_sent_packets_total"), counter(reg, "spacecast_edge_udp_send_calls_total")
	if seg := counter(reg, "spacecast_edge_udp_segmented_packets_total"); seg < 3 || calls >= sent {
		t.Errorf("media socket: %v packets in %v calls, %v segmented: want keyframes segmented", sent, calls, seg)
	}
	// bob's RTP was encrypted and sent by the edge itself (edge/srtpout),
	// not through pion's write path: the keys it derived from the DTLS
	// handshake are the ones bob decrypted with.
	fwd, direct := counter(reg, "spacecast_edge_rtp_packets_forwarded_total"), counter(reg, "spacecast_edge_rtp_packets_direct_total")
	if fwd == 0 || direct < fwd*0.95 {
		t.Errorf("%v of %v forwarded packets sent on the edge's own SRTP path, want all", direct, fwd)
	}
	t.Logf("%v of %v forwarded packets sent on the edge's own SRTP path", direct, fwd)
}

func TestSDKIdentityReplacement(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
	g := joinGrant("r2")
	first := f.spawn("alice#1", f.token("alice", g, time.Minute))
	c1 := first.waitFor("connected", 20*time.Second, first.ev("connected"))
	second := f.spawn("alice#2", f.token("alice", g, time.Minute))
	c2 := second.waitFor("connected", 20*time.Second, second.ev("connected"))
	d := first.waitFor("disconnect", 10*time.Second, first.ev("disconnected"))
	if d.Reason != string(lksdk.DuplicateIdentity) {
		t.Fatalf("first session disconnected with %q, want %q", d.Reason, lksdk.DuplicateIdentity)
	}
	p := f.edge.Rooms().Room("r2").Participant("alice")
	if p == nil || p.SID() != c2.SID || c1.SID == c2.SID {
		t.Fatalf("room holds %v, want the second session %s", p, c2.SID)
	}
	second.quit()
}

func TestSDKModeration(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
	g := joinGrant("r3")
	aliceTok := f.token("alice", g, time.Minute)
	alice := f.spawn("alice", aliceTok)
	alice.waitFor("connected", 20*time.Second, alice.ev("connected"))
	bob := f.spawn("bob", f.token("bob", g, time.Minute))
	bob.waitFor("connected", 20*time.Second, bob.ev("connected"))
	alice.send("publish")
	video := alice.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
	bob.waitFor("subscribed", 20*time.Second, func(e event) bool { return e.Ev == "subscribed" && e.Track == video.SID })

	key, secret := f.cluster.SigningSecret()
	rs := lksdk.NewRoomServiceClient(f.httpURL, key, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A moderator mutes alice's camera: alice is told, bob sees it muted.
	res, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: "r3", Identity: "alice", TrackSid: video.SID, Muted: true})
	if err != nil {
		t.Fatalf("MutePublishedTrack: %v", err)
	}
	if !res.Track.Muted {
		t.Fatalf("track not muted: %+v", res.Track)
	}
	bob.waitFor("muted", 10*time.Second, func(e event) bool { return e.Ev == "muted" && e.Track == video.SID })

	list, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "r3"})
	if err != nil || len(list.Participants) != 2 {
		t.Fatalf("ListParticipants = %v, %v", list, err)
	}

	// A moderator removes alice: she is disconnected and stays out.
	if _, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "r3", Identity: "alice"}); err != nil {
		t.Fatalf("RemoveParticipant: %v", err)
	}
	d := alice.waitFor("disconnect", 10*time.Second, alice.ev("disconnected"))
	if d.Reason != string(lksdk.ParticipantRemoved) {
		t.Fatalf("alice disconnected with %q, want %q", d.Reason, lksdk.ParticipantRemoved)
	}
	if f.edge.Rooms().Room("r3").Participant("alice") != nil {
		t.Fatal("alice is still in the room")
	}
	// Her old token no longer gets her in.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.httpURL+"/rtc?access_token="+aliceTok, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("rejoin with the old token: HTTP %d, want 403", resp.StatusCode)
	}

	// Not an admin: refused.
	other := lksdk.NewRoomServiceClient(f.httpURL, key, "wrong-secret-wrong-secret-wrong-secret")
	if _, err := other.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "r3"}); err == nil {
		t.Fatal("a client with a wrong secret listed participants")
	}
	bob.quit()
}

func TestSDKPermissions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
	no := false
	alice := f.spawn("alice", f.token("alice", joinGrant("r4"), time.Minute))
	alice.waitFor("connected", 20*time.Second, alice.ev("connected"))
	mute := f.spawn("mute", f.token("mute", &auth.VideoGrant{RoomJoin: true, Room: "r4", CanPublish: &no, CanPublishData: &no}, time.Minute))
	mute.waitFor("connected", 20*time.Second, mute.ev("connected"))
	deaf := f.spawn("deaf", f.token("deaf", &auth.VideoGrant{RoomJoin: true, Room: "r4", CanSubscribe: &no}, time.Minute))
	deaf.waitFor("connected", 20*time.Second, deaf.ev("connected"))

	alice.send("publish")
	video := alice.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })

	// canPublish=false: the edge refuses the track.
	mute.send("publish")
	e := mute.waitFor("publish refused", 20*time.Second, mute.ev("error"))
	t.Logf("refused publish: %s", e.Msg)
	if n := len(f.edge.Rooms().Room("r4").Participant("mute").Info().Tracks); n != 0 {
		t.Fatalf("mute has %d published tracks", n)
	}
	// canSubscribe=false: deaf receives nothing while mute (allowed) does.
	mute.waitFor("subscribed", 20*time.Second, func(e event) bool { return e.Ev == "subscribed" && e.Track == video.SID })

	// (Data after the publish attempt: deaf, who may not subscribe, has a
	// publisher-primary connection, and the Go SDK sends data on it without
	// waiting for its data channels to open.)
	// canPublishData=false: mute's data is dropped; deaf's arrives.
	mute.send("data reliable * from-mute")
	deaf.send("data reliable * from-deaf")
	d := alice.waitFor("data", 10*time.Second, alice.ev("data"))
	if d.From != "deaf" || d.Payload != "from-deaf" {
		t.Fatalf("alice got %+v, want deaf's packet only", d)
	}
	// Destinations: a packet for deaf reaches deaf and nobody else.
	alice.send("data reliable deaf for-deaf")
	alice.send("data reliable * for-all")
	fromAlice := func(e event) bool { return e.Ev == "data" && e.From == "alice" }
	if e := deaf.waitFor("data", 10*time.Second, fromAlice); e.Payload != "for-deaf" {
		t.Fatalf("deaf got %+v first", e)
	}
	if e := mute.waitFor("data", 10*time.Second, fromAlice); e.Payload != "for-all" {
		t.Fatalf("mute got %+v, a packet addressed to deaf", e)
	}

	if rep := deaf.quit(); len(rep) != 0 {
		t.Fatalf("deaf received tracks: %+v", rep)
	}
	mute.quit()
	alice.quit()
}

func TestSDKSimulcastAndUnpublish(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
	g := joinGrant("r5")
	pub := f.spawn("alice", f.token("alice", g, time.Minute))
	pub.waitFor("connected", 20*time.Second, pub.ev("connected"))
	sub := f.spawn("bob", f.token("bob", g, time.Minute))
	sub.waitFor("connected", 20*time.Second, sub.ev("connected"))
	pub.send("simulcast")
	video := pub.waitFor("simulcast published", 20*time.Second, pub.ev("published"))
	sub.waitFor("subscribed", 20*time.Second, func(e event) bool { return e.Ev == "subscribed" && e.Track == video.SID })

	// The high layer (900-byte frames) by default.
	sub.stats("high layer", 20*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= 30 && r[video.SID].LastSize > 800
	})
	// Ask for the low layer: the edge switches at a keyframe, without a
	// sequence gap.
	sub.send("quality " + video.SID + " low")
	rep := sub.stats("low layer", 20*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].LastSize > 0 && r[video.SID].LastSize < 300
	})
	if g := rep[video.SID].Gaps; g != 0 {
		t.Fatalf("%d sequence gaps across the layer switch", g)
	}
	sub.send("quality " + video.SID + " medium")
	sub.stats("medium layer", 20*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].LastSize > 300 && r[video.SID].LastSize < 800
	})

	pub.send("unpublish video")
	sub.waitFor("unpublished", 20*time.Second, func(e event) bool { return e.Ev == "unpublished" && e.Track == video.SID })
	if n := len(f.edge.Rooms().Room("r5").Participant("alice").Info().Tracks); n != 0 {
		t.Fatalf("alice still lists %d tracks", n)
	}
	rep = sub.quit()
	if g := rep[video.SID].Gaps; g != 0 {
		t.Fatalf("%d sequence gaps", g)
	}
	pub.quit()
}

func TestSDKResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
	g := joinGrant("r6")
	pub := f.spawn("alice", f.token("alice", g, time.Minute))
	pub.waitFor("connected", 20*time.Second, pub.ev("connected"))
	sub := f.spawn("bob", f.token("bob", g, time.Minute))
	c := sub.waitFor("connected", 20*time.Second, sub.ev("connected"))
	pub.send("publish")
	video := pub.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
	sub.waitFor("subscribed", 20*time.Second, func(e event) bool { return e.Ev == "subscribed" && e.Track == video.SID })
	before := sub.stats("media", 20*time.Second, func(r map[string]trackReport) bool { return r[video.SID].Packets >= 20 })[video.SID].Packets

	// Both drop their signalling connection and resume: same session, ICE
	// restarted on both peer connections, media keeps flowing.
	sub.send("reconnect")
	pub.send("reconnect")
	sub.waitFor("reconnected", 30*time.Second, sub.ev("reconnected"))
	pub.waitFor("reconnected", 30*time.Second, pub.ev("reconnected"))
	if p := f.edge.Rooms().Room("r6").Participant("bob"); p == nil || p.SID() != c.SID {
		t.Fatal("bob did not resume his session")
	}
	sub.stats("media after resume", 20*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= before+60
	})
	pub.send("data reliable * after-resume")
	sub.waitFor("data after resume", 10*time.Second, func(e event) bool { return e.Ev == "data" && e.Payload == "after-resume" })
	sub.quit()
	pub.quit()
}

func TestSDKNetworkDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace; waits for ICE to fail")
	}
	f := newFixture(t, fixtureOpts{netns: true, mutate: func(c *Config) { c.Room.DepartureTimeout = time.Minute }})
	g := joinGrant("r7")
	pub := f.spawn("alice", f.token("alice", g, time.Minute))
	pub.waitFor("connected", 20*time.Second, pub.ev("connected"))
	sub := f.spawn("bob", f.token("bob", g, time.Minute))
	c := sub.waitFor("connected", 20*time.Second, sub.ev("connected"))
	pub.send("publish")
	video := pub.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
	sub.waitFor("subscribed", 20*time.Second, func(e event) bool { return e.Ev == "subscribed" && e.Track == video.SID })
	before := sub.stats("media", 20*time.Second, func(r map[string]trackReport) bool { return r[video.SID].Packets >= 20 })[video.SID].Packets

	// The participants' network goes away long enough for ICE to fail,
	// then comes back: the SDKs resume (same session) with an ICE restart.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := f.host.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sub.waitFor("reconnecting", 60*time.Second, sub.ev("reconnecting"))
	t.Logf("SDK noticed the drop after %v", time.Since(start).Round(time.Second))
	if err := f.host.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	sub.waitFor("reconnected", 60*time.Second, sub.ev("reconnected"))
	if p := f.edge.Rooms().Room("r7").Participant("bob"); p == nil || p.SID() != c.SID {
		t.Fatal("bob did not resume his session")
	}
	sub.stats("media after the drop", 30*time.Second, func(r map[string]trackReport) bool {
		return r[video.SID].Packets >= before+60
	})
	sub.quit()
	pub.quit()
}

func TestSDKManualSubscription(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
	alice := f.spawn("alice", f.token("alice", joinGrant("r8"), time.Minute))
	alice.waitFor("connected", 20*time.Second, alice.ev("connected"))
	alice.send("publish")
	video := alice.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })

	// bob (a raw signalling client) joins without auto-subscribe: his
	// subscriber offers carry no media until he asks for the track.
	c, _, err := f.dial("auto_subscribe=0&access_token=" + f.token("bob", joinGrant("r8"), time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	offerWith := func(m *livekit.SignalResponse) bool {
		return m.GetOffer() != nil && strings.Contains(m.GetOffer().Sdp, video.SID)
	}
	first := c.expect("join", func(m *livekit.SignalResponse) bool { return m.GetJoin() != nil })
	if n := len(first.GetJoin().OtherParticipants); n != 1 {
		t.Fatalf("bob sees %d participants", n)
	}
	o := c.expect("the data-channel offer", func(m *livekit.SignalResponse) bool { return m.GetOffer() != nil })
	if offerWith(o) {
		t.Fatal("bob was subscribed without asking")
	}
	c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
		TrackSids: []string{video.SID}, Subscribe: true,
	}}})
	// (If alice's media has not arrived yet the edge answers
	// SE_TRACK_NOTFOUND and subscribes bob when it does.) The first offer is
	// still unanswered: answering it lets the edge send the next one, with
	// the track.
	// A pion peer on loopback makes the answers (its checks never leave
	// this machine: it gathers on lo only and gets no candidate from the
	// edge, which trickles them on the signalling connection).
	se := webrtc.SettingEngine{}
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	answerEmpty := func(offer string) {
		t.Helper()
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			t.Fatal(err)
		}
		a, err := pc.CreateAnswer(nil)
		if err == nil {
			err = pc.SetLocalDescription(a)
		}
		if err != nil {
			t.Fatal(err)
		}
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: a.SDP}}})
	}
	answerEmpty(o.GetOffer().Sdp)
	o = c.expect("an offer with the video track", offerWith)
	answerEmpty(o.GetOffer().Sdp)
	c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
		TrackSids: []string{video.SID}, Subscribe: false,
	}}})
	c.expect("an offer without it", func(m *livekit.SignalResponse) bool {
		return m.GetOffer() != nil && !strings.Contains(m.GetOffer().Sdp, video.SID)
	})
	alice.quit()
}
