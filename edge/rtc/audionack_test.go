package rtc

import (
	"slices"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Subscribers are offered NACK on Opus and RED, so that a browser asks
// again for lost audio packets (the edge answers from the track's audio
// cache); a publisher's answer carries it only when the publisher offered
// it (an answer must not add feedback).
func TestAudioNACK(t *testing.T) {
	t.Run("subscriber offer", func(t *testing.T) {
		api, err := NewAPI(APIOptions{Role: Subscriber})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		audio, _ := SupportedCodecs()
		red := SubscriberCodecs(audio[1])
		tr, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetCodecPreferences(red); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		var sd sdp.SessionDescription
		if err := sd.UnmarshalString(offer.SDP); err != nil {
			t.Fatal(err)
		}
		md := sd.MediaDescriptions[0]
		for _, pt := range []string{"63", "111"} {
			if !hasFeedback(md, pt+" nack") {
				t.Errorf("the subscriber's offer has no NACK for payload type %s", pt)
			}
		}
	})
	for _, tc := range []struct {
		name    string
		offered []webrtc.RTCPFeedback
		want    bool
	}{
		{"publisher without audio nack", nil, false},
		{"publisher with audio nack", []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := answeredAudio(t, map[string]string{"mic": MimeRED}, tc.offered)
			if got := hasFeedback(md, "111 nack"); got != tc.want {
				t.Errorf("answer's Opus NACK %v, want %v", got, tc.want)
			}
		})
	}
}

func hasFeedback(md *sdp.MediaDescription, v string) bool {
	return slices.ContainsFunc(md.Attributes, func(a sdp.Attribute) bool { return a.Key == "rtcp-fb" && a.Value == v })
}
