package edge

import (
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// A subscriber whose bandwidth does not fit even the lowest layer of a
// video track gets it paused and is told so (StreamStateUpdate PAUSED),
// then resumed and told again once the bandwidth is back: through the
// edge, with pion peers, following the subscriber's REMB (the edge in
// rtc.congestionControl remb, so that the test sets the estimate).
func TestPausedVideoIsToldAndResumed(t *testing.T) {
	f := newFixture(t, fixtureOpts{mutate: func(c *Config) { c.RTC.CongestionControl = "remb" }})
	alice, _ := f.rawJoin("alice", joinGrant("r"), nil)
	bob, _ := f.rawJoin("bob", joinGrant("r"), nil)
	ssrcs := make(chan webrtc.SSRC, 1)
	bob.sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		ssrcs <- tr.SSRC()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})

	if err := alice.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "cam", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA, Width: 320, Height: 180,
	}}}); err != nil {
		t.Fatal(err)
	}
	sid := alice.expect("TrackPublished", func(m *livekit.SignalResponse) bool { return m.GetTrackPublished().GetCid() == "cam" }).
		GetTrackPublished().GetTrack().GetSid()
	keyframe := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	alice.publishRaw("cam", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, keyframe, 33*time.Millisecond)

	var ssrc webrtc.SSRC
	select {
	case ssrc = <-ssrcs:
	case <-time.After(15 * time.Second):
		t.Fatal("bob received no video")
	}
	// bob's REMB, every 100 ms until the test moves on.
	remb := func(bps float32, until func(*livekit.SignalResponse) bool) {
		t.Helper()
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				_ = bob.sub.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bps, SSRCs: []uint32{uint32(ssrc)}}})
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		defer func() { close(stop); <-done }()
		bob.expect("a stream state", until)
	}
	state := func(want livekit.StreamState) func(*livekit.SignalResponse) bool {
		return func(m *livekit.SignalResponse) bool {
			for _, s := range m.GetStreamStateUpdate().GetStreamStates() {
				if s.TrackSid == sid && s.State == want {
					return true
				}
			}
			return false
		}
	}
	remb(1000, state(livekit.StreamState_PAUSED))
	remb(10e6, state(livekit.StreamState_ACTIVE))
}
