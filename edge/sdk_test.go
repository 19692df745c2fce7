package edge

import (
	"testing"
	"time"
)

func TestSDKPublishSubscribe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with SDK participants in a namespace")
	}
	f := newFixture(t, fixtureOpts{netns: true})
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

	pub.send("mute video")
	m := sub.waitFor("mute", 10*time.Second, sub.ev("muted"))
	if m.Track != video.SID {
		t.Fatalf("muted %s, want %s", m.Track, video.SID)
	}
	time.Sleep(2 * time.Second) // let media flow: the report counts packets
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
		t.Logf("%s: %d packets, %d gaps", kind, r.Packets, r.Gaps)
	}
}
