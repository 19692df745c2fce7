package forward

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/codec"
)

// boundTrack is a minimal pion TrackLocal: Bind hands the forwarder the
// negotiated SSRC and payload type and the Sender its writer, as the edge's
// down track does.
type boundTrack struct {
	bound chan struct{}
	once  sync.Once
	w     webrtc.TrackLocalWriter
	ssrc  uint32
	pt    uint8
}

func (b *boundTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8) {
			b.once.Do(func() {
				b.w, b.ssrc, b.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
				close(b.bound)
			})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}
func (b *boundTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (b *boundTrack) ID() string                            { return "video" }
func (b *boundTrack) RID() string                           { return "" }
func (b *boundTrack) StreamID() string                      { return "stream" }
func (b *boundTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeVideo }

func loopbackAPI(t *testing.T) *webrtc.API {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m))
}

// TestThroughPion forwards a simulcast switch from a Track's layer readers
// through a Sink into a real pion PeerConnection (loopback only): the
// subscriber's pion receives every packet with the negotiated SSRC and
// payload type, contiguous sequence numbers across the switch, timestamps
// that never go back, and no padding.
func TestThroughPion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	api := loopbackAPI(t)
	sendPC, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer sendPC.Close()
	recvPC, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer recvPC.Close()

	connected := make(chan struct{})
	var connOnce sync.Once
	sendPC.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			connOnce.Do(func() { close(connected) })
		}
	})
	track := &boundTrack{bound: make(chan struct{})}
	if _, err := sendPC.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	type rx struct {
		seq       uint16
		ts, ssrc  uint32
		pt        uint8
		hasPadBit bool
	}
	got := make(chan rx, 1024)
	var readers sync.WaitGroup
	recvPC.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		for {
			p, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			got <- rx{p.SequenceNumber, p.Timestamp, p.SSRC, p.PayloadType, p.Padding}
		}
	})

	offer, err := sendPC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gather := webrtc.GatheringCompletePromise(sendPC)
	if err := sendPC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gather
	if err := recvPC.SetRemoteDescription(*sendPC.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := recvPC.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gather = webrtc.GatheringCompletePromise(recvPC)
	if err := recvPC.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gather
	if err := sendPC.SetRemoteDescription(*recvPC.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{track.bound, connected} {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("never bound and connected")
		}
	}

	tr, err := NewTrack(TrackConfig{Codec: codec.VP8, Layers: 2, Upstream: nopUpstream{}, Now: func() int64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := NewSink(SinkConfig{Queue: QueueConfig{Size: 512}, Now: func() int64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	sink.SetInline(true)
	down, err := sink.Subscribe(tr)
	if err != nil {
		t.Fatal(err)
	}
	down.Bind(Output{Writer: track.w, SSRC: track.ssrc, PayloadType: track.pt, ClockRate: 90000})
	layerReaders := make([]*stepReader, 2)
	var wg sync.WaitGroup
	for l := range layerReaders {
		layerReaders[l] = newStepReader()
		layer, err := tr.AddLayer(l, layerSSRC[l], layerReaders[l], 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); layer.Run() }()
	}
	fw := down.fwd

	// 40 frames of layer 0, then a switch to layer 1 at its keyframe; the
	// layers' numbers have nothing in common. Each packet carries padding,
	// which must not reach the subscriber.
	const frames = 80
	fw.SetTarget(0)
	for i := 0; i < frames; i++ {
		if i == 40 {
			fw.SetTarget(1)
		}
		for l := 0; l < 2; l++ {
			b := vp8Packet(pk{seq: uint16(1000*l + i + 65500), ts: uint32(i*3000 + l*777777), layer: l, key: i == 0 || (l == 1 && i == 45), pic: uint16(i + 100*l)})
			b[0] |= 0x20
			b = append(b, 0, 0, 2)
			layerReaders[l].feed(b)
		}
	}
	for _, r := range layerReaders {
		r.close()
	}
	wg.Wait()
	want := int(down.Stats().Packets)
	var rxs []rx
	for len(rxs) < want {
		select {
		case r := <-got:
			rxs = append(rxs, r)
		case <-ctx.Done():
			t.Fatalf("received %d of %d packets", len(rxs), want)
		}
	}
	if want != 81 { // layer 0 frames 0..45 (it flows until layer 1's keyframe), layer 1 frames 45..79
		t.Fatalf("forwarded %d packets, want 81", want)
	}
	for i, r := range rxs {
		if r.ssrc != track.ssrc || r.pt != track.pt || r.hasPadBit {
			t.Fatalf("packet %d: ssrc %d pt %d padding %v; want %d %d false", i, r.ssrc, r.pt, r.hasPadBit, track.ssrc, track.pt)
		}
		if i == 0 {
			continue
		}
		if r.seq != rxs[i-1].seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, r.seq, rxs[i-1].seq)
		}
		if int32(r.ts-rxs[i-1].ts) <= 0 {
			t.Fatalf("packet %d: timestamp %d after %d", i, r.ts, rxs[i-1].ts)
		}
	}
	if err := errors.Join(sendPC.Close(), recvPC.Close()); err != nil {
		t.Fatal(err)
	}
	readers.Wait()
}
