package room

import (
	"bytes"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/rtc"
)

// fakeContext is what pion's Bind gives a track: the codecs and header
// extensions the subscriber negotiated, its SSRC and the writer.
type fakeContext struct {
	codecs []webrtc.RTPCodecParameters
	w      webrtc.TrackLocalWriter
}

func (c fakeContext) CodecParameters() []webrtc.RTPCodecParameters { return c.codecs }
func (c fakeContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return nil
}
func (c fakeContext) SSRC() webrtc.SSRC                       { return 4242 }
func (c fakeContext) SSRCRetransmission() webrtc.SSRC         { return 0 }
func (c fakeContext) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (c fakeContext) WriteStream() webrtc.TrackLocalWriter    { return c.w }
func (c fakeContext) ID() string                              { return "ctx" }
func (c fakeContext) RTCPReader() interceptor.RTCPReader      { return nil }

// packetWriter records what reaches pion's writer.
type packetWriter struct {
	pts      []uint8
	payloads [][]byte
}

func (w *packetWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.pts = append(w.pts, h.PayloadType)
	w.payloads = append(w.payloads, append([]byte(nil), p...))
	return len(p), nil
}
func (w *packetWriter) Write(b []byte) (int, error) { return len(b), nil }

// Opus with RED (RFC 2198) from a publisher that offers it (livekit-client
// does) reaches a subscriber that negotiated RED as it is, redundancy and
// all, under the subscriber's payload type; one that negotiated only Opus
// gets the primary encoding.
func TestREDPassedThrough(t *testing.T) {
	redParams := func(pt webrtc.PayloadType) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: rtc.MimeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}, PayloadType: pt}
	}
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}
	// A RED payload: one redundant block (the previous frame, 3 bytes, 960
	// ticks old), then the primary (4 bytes), both Opus (111).
	red := []byte{0x80 | 111, 0x0f, 0x00, 0x03, 111, 'o', 'l', 'd', 'n', 'e', 'w', '!'}
	for _, tc := range []struct {
		name        string
		negotiated  []webrtc.RTPCodecParameters
		wantPT      uint8
		wantPayload []byte
	}{
		{"subscriber with RED", []webrtc.RTPCodecParameters{redParams(100), opus}, 100, red},
		{"subscriber with Opus only", []webrtc.RTPCodecParameters{opus}, 111, []byte("new!")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, clock := testRoom()
			pub := &Participant{room: r, sid: "PA_pub", wake: make(chan struct{}, 1), stop: make(chan struct{}), log: r.log}
			tr, err := newPubTrackCodec(pub, &livekit.TrackInfo{Sid: "TR_mic"}, webrtc.RTPCodecTypeAudio, redParams(63))
			if err != nil {
				t.Fatal(err)
			}
			sub := testSubscriber(t, r, "PA_sub")
			sub.sink.SetInline(true)
			d, err := newDownTrack(tr, sub)
			if err != nil {
				t.Fatal(err)
			}
			sub.downs[tr.sid] = d
			w := &packetWriter{}
			got, err := d.Bind(fakeContext{codecs: tc.negotiated, w: w})
			if err != nil {
				t.Fatal(err)
			}
			if uint8(got.PayloadType) != tc.wantPT {
				t.Fatalf("bound to %s/%d, want payload type %d", got.MimeType, got.PayloadType, tc.wantPT)
			}
			sub.startAudio(d, 0)
			h := rtp.Header{Version: 2, PayloadType: 63, SequenceNumber: 7, Timestamp: 960, SSRC: 5}
			pkt, _ := h.Marshal()
			rd := &clockedReader{clock: clock, pkts: [][]byte{append(pkt, red...)}, at: []int64{int64(time.Second)}}
			l, err := tr.media.AddLayer(0, 5, rd, 0)
			if err != nil {
				t.Fatal(err)
			}
			l.Run()
			if len(w.pts) != 1 || w.pts[0] != tc.wantPT || !bytes.Equal(w.payloads[0], tc.wantPayload) {
				t.Fatalf("sent payload types %v, payloads %q; want %d and %q", w.pts, w.payloads, tc.wantPT, tc.wantPayload)
			}
		})
	}
}

// The answer to a publisher puts RED first for an audio track whose
// AddTrackRequest allows it (livekit-client's disable_red false), and not
// for one that disables it or is end-to-end encrypted.
func TestAddTrackAsksForRED(t *testing.T) {
	r, _ := testRoom()
	p := testSubscriber(t, r, "PA_pub")
	p.pending, p.byCID, p.wantCodec = map[string]*livekit.TrackInfo{}, map[string]*PubTrack{}, map[string]string{}
	p.info.Store(&livekit.ParticipantInfo{Sid: "PA_pub", Permission: &livekit.ParticipantPermission{CanPublish: true}})
	p.onAddTrack(&livekit.AddTrackRequest{Cid: "mic", Type: livekit.TrackType_AUDIO})
	p.onAddTrack(&livekit.AddTrackRequest{Cid: "plain", Type: livekit.TrackType_AUDIO, DisableRed: true})
	p.onAddTrack(&livekit.AddTrackRequest{Cid: "e2ee", Type: livekit.TrackType_AUDIO, Encryption: livekit.Encryption_GCM})
	if len(p.pending) != 3 {
		t.Fatalf("%d tracks pending, want 3", len(p.pending))
	}
	if got := p.wantCodec["mic"]; got != rtc.MimeRED {
		t.Errorf("RED allowed: the answer prefers %q, want %s", got, rtc.MimeRED)
	}
	for _, cid := range []string{"plain", "e2ee"} {
		if got, ok := p.wantCodec[cid]; ok {
			t.Errorf("%s: the answer prefers %q, want the offer's order", cid, got)
		}
	}
}

// A RED track is widened (two earlier frames a packet) while any of its
// subscribers' receiver reports show loss that is not congestion, and no
// longer once none does (or the lossy ones left).
func TestLossWidensRED(t *testing.T) {
	r, _ := testRoom()
	pub := &Participant{room: r, sid: "PA_talker", identity: "talker", wake: make(chan struct{}, 1), stop: make(chan struct{}), log: r.log}
	tr, err := newPubTrackCodec(pub, &livekit.TrackInfo{Sid: "TR_red"}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2}})
	if err != nil {
		t.Fatal(err)
	}
	a := subscribeTest(t, testSubscriber(t, r, "PA_a"), tr)
	b := subscribeTest(t, testSubscriber(t, r, "PA_b"), tr)
	// subscribeTest bound each one's (first) down to SSRC 1.
	report := func(d *DownTrack, lost uint8) {
		rr := &rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: lost}}}
		buf, err := rr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d.handleRTCP(buf, nil, make([]byte, 1500))
	}
	for _, st := range []struct {
		what string
		do   func()
		want bool
	}{
		{"no reports", func() {}, false},
		{"a loses 5 %", func() { report(a, 13) }, true},
		{"b loses 1.5 %", func() { report(b, 4) }, true},
		{"a clean again, b still lossy", func() { report(a, 0) }, true},
		{"b: below the bar but not clean", func() { report(b, 1) }, true},
		{"b clean", func() { report(b, 0) }, false},
		{"a lossy again", func() { report(a, 20) }, true},
		{"a's estimator sees congestion: its loss is its bottleneck's", func() { a.noteLoss(20, true) }, false},
		{"a's loss without congestion", func() { a.noteLoss(20, false) }, true},
		{"a leaves", func() { a.close() }, false},
	} {
		st.do()
		if got := tr.media.REDWidening(); got != st.want {
			t.Fatalf("%s: widening %v, want %v", st.what, got, st.want)
		}
	}
}
