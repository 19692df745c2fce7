package rtc

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// twccPath is a subscriber connection's interceptors as NewAPI chains them
// (estimator, then transport-wide numbering), with a simulated subscriber
// that answers each round of packets with transport-cc feedback.
type twccPath struct {
	chain    interceptor.Interceptor
	send     interceptor.RTPWriter
	rtcp     interceptor.RTCPReader
	sent     []sentPkt
	feedback []byte
}

type sentPkt struct {
	seq uint16
	at  time.Time
}

const twccExtID = 5

func newTWCCPath(t *testing.T) *twccPath {
	t.Helper()
	p := &twccPath{}
	ir := &interceptor.Registry{}
	ir.Add(bweFactory{logs: logging.NewDefaultLoggerFactory()})
	hdr, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	ir.Add(hdr)
	if p.chain, err = ir.Build("pc"); err != nil {
		t.Fatal(err)
	}
	info := &interceptor.StreamInfo{SSRC: 1, ClockRate: 90000, MimeType: "video/VP8",
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: twccExtID}}}
	p.send = p.chain.BindLocalStream(info, interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		var ext rtp.TransportCCExtension
		if err := ext.Unmarshal(h.GetExtension(twccExtID)); err != nil {
			t.Errorf("packet without a transport-wide sequence number: %v", err)
		}
		p.sent = append(p.sent, sentPkt{seq: ext.TransportSequence, at: time.Now()})
		return len(payload), nil
	}))
	p.rtcp = p.chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, p.feedback), a, nil
	}))
	return p
}

// round sends 600 kbit/s of 1200-byte packets for 200 ms over a link that
// loses every lossEvery-th packet (0: none) and delivers the rest after
// 20 ms, then reads the subscriber's feedback and returns the estimate it
// produced.
func (p *twccPath) round(t *testing.T, lossEvery int) uint64 {
	t.Helper()
	p.sent = p.sent[:0]
	for i := 0; i < 12; i++ {
		h := &rtp.Header{Version: 2, SSRC: 1, PayloadType: 96}
		if _, err := p.send.Write(h, make([]byte, 1200), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond / 12)
	}
	rec := twcc.NewRecorder(7)
	for i, s := range p.sent {
		if lossEvery > 0 && i%lossEvery == 0 {
			continue
		}
		rec.Record(1, s.seq, s.at.Add(20*time.Millisecond).UnixMicro())
	}
	var err error
	if p.feedback, err = rtcp.Marshal(rec.BuildFeedbackPacket()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, attrs, err := p.rtcp.Read(buf, nil)
	if err != nil || n != len(p.feedback) {
		t.Fatalf("rtcp read = %d, %v", n, err)
	}
	est, ok := EstimateOf(attrs)
	if !ok {
		t.Fatal("transport-cc feedback produced no estimate")
	}
	return est
}

// TestTWCCEstimate: a subscriber whose transport-cc feedback reports heavy
// loss gets a low estimate, one on a clean link a high one.
func TestTWCCEstimate(t *testing.T) {
	tests := []struct {
		name      string
		lossEvery int // every n-th packet lost (0: none)
		maxEst    uint64
		minEst    uint64
	}{
		{"lossy link", 2, 300_000, twccMinBitrate},
		{"clean link", 0, twccMaxBitrate, 600_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newTWCCPath(t)
				defer p.chain.Close()
				var est uint64
				for i := 0; i < 60; i++ { // 12 s of feedback
					est = p.round(t, tt.lossEvery)
				}
				t.Logf("estimate after 12 s: %d bit/s", est)
				if est < tt.minEst || est > tt.maxEst {
					t.Fatalf("estimate %d bit/s, want within [%d, %d]", est, tt.minEst, tt.maxEst)
				}
			})
		})
	}
}

// TestSubscriberOfferTWCC: subscriber connections with TWCC offer
// transport-cc (the feedback and the extension) on video, not on audio,
// and without TWCC not at all; REMB is offered either way.
func TestSubscriberOfferTWCC(t *testing.T) {
	tests := []struct {
		name string
		opts APIOptions
		want bool
	}{
		{"subscriber with TWCC", APIOptions{Role: Subscriber, TWCC: true}, true},
		{"subscriber without TWCC", APIOptions{Role: Subscriber}, false},
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
				want := tt.want && md.MediaName.Media == "video"
				if fb != want || ext != want {
					t.Errorf("%s: transport-cc feedback %v, extension %v; want %v", md.MediaName.Media, fb, ext, want)
				}
				if md.MediaName.Media == "video" && !remb {
					t.Errorf("video without goog-remb")
				}
			}
		})
	}
}

// BenchmarkSubscriberInterceptors is the per-packet cost of a subscriber
// connection's interceptors (sender reports, and with TWCC the
// transport-wide numbering and GCC's record of every packet sent), without
// SRTP and the socket.
func BenchmarkSubscriberInterceptors(b *testing.B) {
	for _, withTWCC := range []bool{false, true} {
		name := "remb"
		if withTWCC {
			name = "twcc"
		}
		b.Run(name, func(b *testing.B) {
			ir := &interceptor.Registry{}
			if err := webrtc.ConfigureRTCPReports(ir); err != nil {
				b.Fatal(err)
			}
			if withTWCC {
				ir.Add(bweFactory{logs: logging.NewDefaultLoggerFactory()})
				hdr, err := twcc.NewHeaderExtensionInterceptor()
				if err != nil {
					b.Fatal(err)
				}
				ir.Add(hdr)
			}
			chain, err := ir.Build("pc")
			if err != nil {
				b.Fatal(err)
			}
			defer chain.Close()
			info := &interceptor.StreamInfo{SSRC: 1, ClockRate: 90000, MimeType: "video/VP8",
				RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: twccExtID}}}
			w := chain.BindLocalStream(info, interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
				return len(p), nil
			}))
			payload := make([]byte, 1200)
			h := &rtp.Header{Version: 2, SSRC: 1, PayloadType: 96}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.SequenceNumber = uint16(i)
				h.Extensions = h.Extensions[:0]
				h.Extension = false
				if _, err := w.Write(h, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
