package rtc

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"
)

// eachTransportCC finds every transport-cc packet of a compound, and stops
// at a malformed header without reading past the buffer.
func TestEachTransportCC(t *testing.T) {
	tcc := func(ssrc uint32) rtcp.Packet { return feedbackFor(ssrc) }
	compound, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 9},
		tcc(1),
		&rtcp.PictureLossIndication{MediaSSRC: 1},
		tcc(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := rtcp.Marshal([]rtcp.Packet{tcc(3), tcc(4)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
		want []uint32
		only bool
	}{
		{"compound", compound, []uint32{1, 2}, false},
		{"transport-cc alone", alone, []uint32{3, 4}, true},
		{"none", compound[:8], nil, false},
		{"cut short", compound[:len(compound)-4], []uint32{1}, false},
		{"transport-cc then a torn header", append(alone[:len(alone):len(alone)], 0x80), []uint32{3, 4}, false},
		{"bad version", append([]byte{0x0f, 205, 0, 0}, compound...), nil, false},
		{"empty", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint32
			only := eachTransportCC(tt.b, func(pkt []byte) {
				var p rtcp.TransportLayerCC
				if err := p.Unmarshal(pkt); err != nil {
					t.Fatalf("handed a packet that does not parse: %v", err)
				}
				got = append(got, p.MediaSSRC)
			})
			if only != tt.only {
				t.Errorf("transport-cc alone: %v, want %v", only, tt.only)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestSubscriberOffersTransportCC: subscriber connections offer
// transport-cc (the feedback and the extension) on audio and video by
// default and not at all with APIOptions.REMB; REMB is offered either way.
func TestSubscriberOffersTransportCC(t *testing.T) {
	tests := []struct {
		name string
		opts APIOptions
		want bool
	}{
		{"default", APIOptions{Role: Subscriber}, true},
		{"REMB only", APIOptions{Role: Subscriber, REMB: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, err := NewAPI(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			pc, err := api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
				if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
					t.Fatal(err)
				}
			}
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(offer.SDP); err != nil {
				t.Fatal(err)
			}
			for _, md := range sd.MediaDescriptions {
				var fb, ext, remb bool
				for _, a := range md.Attributes {
					fb = fb || a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " transport-cc")
					ext = ext || a.Key == "extmap" && strings.Contains(a.Value, sdp.TransportCCURI)
					remb = remb || a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " goog-remb")
				}
				if fb != tt.want || ext != tt.want {
					t.Errorf("%s: transport-cc feedback %v, extension %v; want %v", md.MediaName.Media, fb, ext, tt.want)
				}
				if md.MediaName.Media == "video" && !remb {
					t.Errorf("video without goog-remb")
				}
			}
		})
	}
}

// TestTransportFeedbackFromEverySSRC: the client's transport-cc feedback
// reaches the connection's TransportFeedback whichever SSRC it names: the
// media stream's, the RTX stream's (which nobody in pion reads; libwebrtc
// names it whenever its last packet was a retransmission or a probe) or
// one the edge never sent.
func TestTransportFeedbackFromEverySSRC(t *testing.T) {
	apis, err := NewAPIs(APIOptions{Loopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[uint32]int{}
	edge, _, err := apis.Subscriber.NewPeerConnection(webrtc.Configuration{}, func(pkt []byte) {
		mu.Lock()
		defer mu.Unlock()
		got[binary.BigEndian.Uint32(pkt[8:])]++
	})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Close()
	_, video := SupportedCodecs()
	track, err := webrtc.NewTrackLocalStaticRTP(video[0].RTPCodecCapability, "TR_x", "PA|TR_x")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := edge.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	client := loopbackClient(t)
	connect(t, edge, client)

	enc := sender.GetParameters().Encodings[0]
	media, rtx := uint32(enc.SSRC), uint32(enc.RTX.SSRC)
	if rtx == 0 {
		t.Fatal("no RTX stream negotiated")
	}
	want := []uint32{media, rtx, 0xfeed}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, ssrc := range want {
			if err := client.WriteRTCP([]rtcp.Packet{feedbackFor(ssrc)}); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		n := 0
		for _, ssrc := range want {
			if got[ssrc] > 0 {
				n++
			}
		}
		mu.Unlock()
		if n == len(want) {
			return
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("feedback seen per SSRC %v; want each of %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// feedbackFor is a transport-cc packet naming ssrc that reports one packet
// received (pion marshals the header it is given, so it is filled in).
func feedbackFor(ssrc uint32) *rtcp.TransportLayerCC {
	p := &rtcp.TransportLayerCC{SenderSSRC: 7, MediaSSRC: ssrc, BaseSequenceNumber: 1, PacketStatusCount: 1,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 1}},
		RecvDeltas:   []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}}}
	p.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: uint16(p.MarshalSize()/4 - 1)}
	return p
}

// loopbackClient is a pion peer connection with the default codecs that
// gathers on loopback only.
func loopbackClient(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(s)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// connect negotiates offerer with answerer (candidates in the
// descriptions) and waits until both are connected.
func connect(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	up := make(chan struct{}, 2)
	for _, pc := range []*webrtc.PeerConnection{offerer, answerer} {
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				up <- struct{}{}
			}
		})
	}
	describe := func(pc *webrtc.PeerConnection, create func(*webrtc.PeerConnection) (webrtc.SessionDescription, error)) webrtc.SessionDescription {
		d, err := create(pc)
		if err != nil {
			t.Fatal(err)
		}
		done := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(d); err != nil {
			t.Fatal(err)
		}
		<-done
		return *pc.LocalDescription()
	}
	offer := describe(offerer, func(pc *webrtc.PeerConnection) (webrtc.SessionDescription, error) { return pc.CreateOffer(nil) })
	if err := answerer.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer := describe(answerer, func(pc *webrtc.PeerConnection) (webrtc.SessionDescription, error) { return pc.CreateAnswer(nil) })
	if err := offerer.SetRemoteDescription(answer); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			t.Fatal("not connected within 10 s")
		}
	}
}

// TestSubscriberCodecsCarryTransportCC: the codecs a subscriber is
// offered for a track (set as codec preferences, which replace the
// MediaEngine's feedback) list transport-cc feedback when the connections
// negotiate it, so that a browser sends the feedback the edge estimates
// from; with APIOptions.REMB they do not. Opus keeps inband FEC.
func TestSubscriberCodecsCarryTransportCC(t *testing.T) {
	for _, tt := range []struct {
		name string
		remb bool
	}{{"default", false}, {"REMB only", true}} {
		t.Run(tt.name, func(t *testing.T) {
			apis, err := NewAPIs(APIOptions{REMB: tt.remb})
			if err != nil {
				t.Fatal(err)
			}
			pc, _, err := apis.Subscriber.NewPeerConnection(webrtc.Configuration{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			audio, video := SupportedCodecs()
			for _, c := range []webrtc.RTPCodecParameters{video[0], audio[0], audio[1]} {
				kind := webrtc.RTPCodecTypeVideo
				if strings.HasPrefix(c.MimeType, "audio/") {
					kind = webrtc.RTPCodecTypeAudio
				}
				tr, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
				if err != nil {
					t.Fatal(err)
				}
				if err := tr.SetCodecPreferences(apis.Subscriber.Codecs(c)); err != nil {
					t.Fatal(err)
				}
			}
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(offer.SDP); err != nil {
				t.Fatal(err)
			}
			for i, md := range sd.MediaDescriptions {
				fb, fec := false, false
				for _, a := range md.Attributes {
					fb = fb || a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " transport-cc")
					fec = fec || a.Key == "fmtp" && strings.Contains(a.Value, "useinbandfec=1")
				}
				if fb == tt.remb {
					t.Errorf("section %d (%s): transport-cc feedback %v", i, md.MediaName.Media, fb)
				}
				if md.MediaName.Media == "audio" && !fec {
					t.Errorf("section %d: Opus without inband FEC (useinbandfec=1)", i)
				}
			}
			if cs := apis.Single.Codecs(video[0]); !hasTransportCC(cs[0]) {
				t.Errorf("single connections: %+v without transport-cc", cs[0])
			}
		})
	}
}

func hasTransportCC(c webrtc.RTPCodecParameters) bool {
	for _, f := range c.RTCPFeedback {
		if f.Type == webrtc.TypeRTCPFBTransportCC {
			return true
		}
	}
	return false
}

// A transport-cc packet alone goes to the TransportFeedback and is not
// buffered for the stream's reader (which would parse it again for
// nothing); anything else is buffered as before.
func TestTransportCCAloneIsNotBuffered(t *testing.T) {
	var fed int
	rw := feedbackBuffers(func([]byte) { fed++ })(packetio.RTCPBufferPacket, 1)
	defer rw.Close()
	alone, err := rtcp.Marshal([]rtcp.Packet{feedbackFor(1)})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 9}})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{alone, rr} {
		if n, err := rw.Write(b); err != nil || n != len(b) {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	buf := make([]byte, 1500)
	n, err := rw.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if fed != 1 || string(buf[:n]) != string(rr) {
		t.Fatalf("fed %d; the reader got %x first, want the receiver report %x", fed, buf[:n], rr)
	}
}
