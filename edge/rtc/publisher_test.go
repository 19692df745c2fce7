package rtc

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// A publisher's browser adapts its encodings to what the edge's
// transport-cc feedback says of its uplink: the edge's answer to a
// publisher negotiates transport-cc (the feedback and the extension) on
// audio and video, and the edge sends the feedback for what it receives.
// The answer also keeps what protects audio against loss: Opus inband FEC
// (useinbandfec=1 in the Opus fmtp, which tells the publisher the edge's
// side can use it) and RED when the publisher offers it.
func TestPublisherGetsTransportFeedback(t *testing.T) {
	edgeAPI, err := NewAPI(APIOptions{Role: Publisher, Loopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := edgeAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()

	// The publisher: Chromium's audio codecs (Opus with FEC, RED over
	// it), VP8, and transport-cc offered (the feedback and the extension:
	// transport-wide sequence numbers on what it sends).
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeAudio)
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: MimeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}, PayloadType: 63}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
		t.Fatal(err)
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	client, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s)).
		NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "s")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := client.AddTrack(video)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	edge.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})

	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(client)
	if err := client.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	offer = *client.LocalDescription()
	if err := edge.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	PreferOfferedCodecs(edge, offer.SDP, map[string]string{})
	answer, err := edge.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(edge)
	if err := edge.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := client.SetRemoteDescription(*edge.LocalDescription()); err != nil {
		t.Fatal(err)
	}

	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(edge.LocalDescription().SDP); err != nil {
		t.Fatal(err)
	}
	for _, md := range sd.MediaDescriptions {
		var fb, ext, fec, red bool
		for _, a := range md.Attributes {
			fb = fb || a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " transport-cc")
			ext = ext || a.Key == "extmap" && strings.Contains(a.Value, sdp.TransportCCURI)
			fec = fec || a.Key == "fmtp" && strings.Contains(a.Value, "useinbandfec=1")
			red = red || a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), "red/48000")
		}
		if !fb || !ext {
			t.Errorf("%s: the answer negotiates transport-cc feedback %v, extension %v; want both", md.MediaName.Media, fb, ext)
		}
		if md.MediaName.Media == "audio" && (!fec || !red) {
			t.Errorf("audio: the answer keeps Opus FEC %v, RED %v; want both", fec, red)
		}
	}

	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		frame := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = video.WriteSample(media.Sample{Data: frame, Duration: 20 * time.Millisecond})
			}
		}
	}()
	defer func() { close(stop); <-done }()
	got := make(chan struct{})
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := sender.Read(buf)
			if err != nil {
				return
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.TransportLayerCC); ok {
					close(got)
					return
				}
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no transport-cc feedback from the edge within 10 s of sending it media")
	}
}
