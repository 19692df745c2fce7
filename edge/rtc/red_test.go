package rtc

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// A publisher's Opus goes out in RED when its AddTrackRequest allows it:
// Chromium offers RED after Opus and sends with the answer's first codec,
// so the edge's answer puts RED first for that track (want maps the
// track's cid to RED) and keeps the offer's order otherwise.
func TestPublisherAnswerPutsREDFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		want  map[string]string
		first string
	}{
		{"red allowed", map[string]string{"mic": MimeRED}, "red"},
		{"red disabled", map[string]string{}, "opus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := answeredAudio(t, tc.want, nil)
			if got, _ := offeredCodec(md, md.MediaName.Formats[0]); !strings.EqualFold(got, tc.first) {
				t.Errorf("the answer's first audio codec is %q; want %q", got, tc.first)
			}
		})
	}
}

// answeredAudio negotiates a Chromium-like publisher (Opus with feedback
// fb, then RED over it) with the edge and returns the answer's audio
// section.
func answeredAudio(t *testing.T, want map[string]string, fb []webrtc.RTCPFeedback) *sdp.MediaDescription {
	t.Helper()
	edgeAPI, err := NewAPI(APIOptions{Role: Publisher, Loopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := edgeAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: fb}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: MimeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}, PayloadType: 63}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	client, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	mic, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "stream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddTrack(mic); err != nil {
		t.Fatal(err)
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := edge.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	PreferOfferedCodecs(edge, offer.SDP, want)
	answer, err := edge.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer.SDP); err != nil {
		t.Fatal(err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && len(md.MediaName.Formats) > 0 {
			return md
		}
	}
	t.Fatal("the answer has no audio section")
	return nil
}
