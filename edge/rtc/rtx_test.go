package rtc

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The RTX codecs: one per video codec, apt pointing at it, distinct
// payload types; subscribers are offered the one of their track's codec.
func TestRTXCodecs(t *testing.T) {
	audio, video := SupportedCodecs()
	used := map[webrtc.PayloadType]string{}
	for _, c := range append(audio, video...) {
		used[c.PayloadType] = c.MimeType
	}
	for _, c := range video {
		r := RTXFor(c)
		if r.PayloadType == 0 {
			t.Fatalf("no RTX payload type for %s/%d", c.MimeType, c.PayloadType)
		}
		if other, ok := used[r.PayloadType]; ok {
			t.Fatalf("RTX payload type %d of %d already used by %s", r.PayloadType, c.PayloadType, other)
		}
		used[r.PayloadType] = "rtx"
		got := SubscriberCodecs(c)
		if len(got) != 2 || got[1].MimeType != webrtc.MimeTypeRTX || got[1].SDPFmtpLine != "apt="+strconv.Itoa(int(c.PayloadType)) {
			t.Fatalf("subscriber codecs for %s: %+v", c.MimeType, got)
		}
	}
	for _, c := range audio {
		if got := SubscriberCodecs(c); len(got) == 0 || got[len(got)-1].MimeType == webrtc.MimeTypeRTX {
			t.Fatalf("audio %s offered with RTX: %+v", c.MimeType, got)
		}
	}
}

// RTX is negotiated both ways: the answer to a publisher that offers it
// (as Chromium does) keeps it, so the publisher retransmits and probes on
// RTX rather than padding its media stream; a subscriber's offer carries
// it, with an FID group pairing the RTX SSRC with the media SSRC.
func TestRTXNegotiated(t *testing.T) {
	apis, err := NewAPIs(APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A publisher offering VP8 with RTX (pion's defaults, like a browser's).
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	client, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	edge, err := apis.Publisher.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()
	if err := edge.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	PreferOfferedCodecs(edge, offer.SDP, map[string]string{})
	answer, err := edge.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	vp8, rtx := payloadTypes(t, answer.SDP, "VP8"), payloadTypes(t, answer.SDP, "rtx")
	if len(vp8) == 0 || len(rtx) == 0 || !strings.Contains(answer.SDP, "apt="+vp8[0]) {
		t.Fatalf("answer without RTX for VP8 (VP8 %v, rtx %v):\n%s", vp8, rtx, answer.SDP)
	}
	if offered := payloadTypes(t, offer.SDP, "VP8"); vp8[0] != offered[0] {
		t.Fatalf("answer's VP8 payload type %s, offer's %s", vp8[0], offered[0])
	}

	// A subscriber's offer for a VP8 track.
	sub, _, err := apis.Subscriber.NewPeerConnection(webrtc.Configuration{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	tr, err := sub.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	_, video := SupportedCodecs()
	if err := tr.SetCodecPreferences(SubscriberCodecs(video[0])); err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(video[0].RTPCodecCapability, "TR_x", "PA|TR_x")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Sender().ReplaceTrack(track); err != nil {
		t.Fatal(err)
	}
	so, err := sub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rtx := payloadTypes(t, so.SDP, "rtx"); len(rtx) != 1 || !strings.Contains(so.SDP, "a=ssrc-group:FID ") {
		t.Fatalf("subscriber offer without an RTX stream (rtx %v):\n%s", rtx, so.SDP)
	}
}

// payloadTypes lists the payload types of an encoding name in an SDP.
func payloadTypes(t *testing.T, s, name string) []string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, md := range sd.MediaDescriptions {
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, _ := strings.Cut(a.Value, " ")
			if strings.HasPrefix(strings.ToLower(enc), strings.ToLower(name)+"/") {
				out = append(out, pt)
			}
		}
	}
	return out
}
