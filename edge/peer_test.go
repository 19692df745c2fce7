package edge

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"google.golang.org/protobuf/proto"
)

// rawPeer is a participant made of a raw signalling connection and pion
// peer connections on loopback (they gather on lo only). Its reader
// goroutine answers the edge's subscriber offers, applies the edge's
// candidates and hands every message to the test on msgs; data arriving on
// the edge's data channels goes to data.
type rawPeer struct {
	t    testing.TB
	ws   *websocket.Conn
	wmu  sync.Mutex
	sub  *webrtc.PeerConnection // answers the edge's offers
	pub  *webrtc.PeerConnection // offers the participant's tracks (publish)
	msgs chan *livekit.SignalResponse
	data chan []byte
	done chan struct{} // the reader returned

	mu       sync.Mutex
	reliable *webrtc.DataChannel // open, the edge's
	opened   chan struct{}
}

func loopbackAPI(t testing.TB) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// rawJoin joins identity with a token of grant g and attributes attrs and
// waits for the JoinResponse.
func (f *fixture) rawJoin(identity string, g *auth.VideoGrant, attrs map[string]string) (*rawPeer, *livekit.JoinResponse) {
	f.t.Helper()
	key, secret := f.cluster.SigningSecret()
	tok, err := auth.NewAccessToken(key, secret).SetIdentity(identity).SetName(identity).SetValidFor(time.Minute).
		SetVideoGrant(g).SetAttributes(attrs).ToJWT()
	if err != nil {
		f.t.Fatal(err)
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(f.url+"/rtc?protocol=16&access_token="+tok, nil)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	api := loopbackAPI(f.t)
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.t.Fatal(err)
	}
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.t.Fatal(err)
	}
	p := &rawPeer{t: f.t, ws: ws, sub: sub, pub: pub, msgs: make(chan *livekit.SignalResponse, 1<<14),
		data: make(chan []byte, 1<<14), done: make(chan struct{}), opened: make(chan struct{})}
	sub.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			select {
			case p.data <- m.Data:
			default:
			}
		})
		if dc.Label() == "_reliable" {
			dc.OnOpen(func() {
				p.mu.Lock()
				p.reliable = dc
				p.mu.Unlock()
				close(p.opened)
			})
		}
	})
	trickle := func(target livekit.SignalTarget) func(*webrtc.ICECandidate) {
		return func(c *webrtc.ICECandidate) {
			if c == nil {
				return
			}
			b, _ := json.Marshal(c.ToJSON())
			p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
				CandidateInit: string(b), Target: target,
			}}})
		}
	}
	sub.OnICECandidate(trickle(livekit.SignalTarget_SUBSCRIBER))
	pub.OnICECandidate(trickle(livekit.SignalTarget_PUBLISHER))
	go p.read()
	f.t.Cleanup(p.close)
	j := p.expect("join", func(m *livekit.SignalResponse) bool { return m.GetJoin() != nil }).GetJoin()
	return p, j
}

func (p *rawPeer) close() {
	_ = p.ws.Close()
	<-p.done
	_ = p.sub.Close()
	_ = p.pub.Close()
}

// read is the reader goroutine.
func (p *rawPeer) read() {
	defer close(p.done)
	defer close(p.msgs)
	for {
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		m := &livekit.SignalResponse{}
		if proto.Unmarshal(b, m) != nil {
			continue
		}
		switch {
		case m.GetOffer() != nil:
			p.answer(m.GetOffer())
		case m.GetAnswer() != nil:
			_ = p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.GetAnswer().Sdp})
		case m.GetTrickle() != nil:
			var c webrtc.ICECandidateInit
			if json.Unmarshal([]byte(m.GetTrickle().CandidateInit), &c) == nil {
				pc := p.sub
				if m.GetTrickle().Target == livekit.SignalTarget_PUBLISHER {
					pc = p.pub
				}
				_ = pc.AddICECandidate(c)
			}
		}
		select {
		case p.msgs <- m:
		default: // the test is not reading: it asked for a flood
		}
	}
}

func (p *rawPeer) answer(o *livekit.SessionDescription) {
	if p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.Sdp}) != nil {
		return
	}
	a, err := p.sub.CreateAnswer(nil)
	if err != nil || p.sub.SetLocalDescription(a) != nil {
		return
	}
	p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: a.SDP, Id: o.Id}}})
}

// send writes a request (any goroutine).
func (p *rawPeer) send(req *livekit.SignalRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.ws.WriteMessage(websocket.BinaryMessage, b)
}

// expect returns the first message that ok accepts, failing after 10 s or
// when the connection ends.
func (p *rawPeer) expect(what string, ok func(*livekit.SignalResponse) bool) *livekit.SignalResponse {
	p.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case m, open := <-p.msgs:
			if !open {
				p.t.Fatalf("connection closed waiting for %s", what)
			}
			if ok(m) {
				return m
			}
		case <-deadline.C:
			p.t.Fatalf("no %s", what)
		}
	}
}

// closedAfter reads until the connection ends and returns the messages.
func (p *rawPeer) closedAfter(d time.Duration) ([]*livekit.SignalResponse, bool) {
	var out []*livekit.SignalResponse
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case m, open := <-p.msgs:
			if !open {
				return out, true
			}
			out = append(out, m)
		case <-deadline.C:
			return out, false
		}
	}
}

// dataChannel waits for the edge's reliable data channel to open.
func (p *rawPeer) dataChannel() *webrtc.DataChannel {
	p.t.Helper()
	select {
	case <-p.opened:
	case <-time.After(10 * time.Second):
		p.t.Fatal("the edge's data channel did not open")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reliable
}

// userPacket is an encoded data packet with a user payload.
func userPacket(t testing.TB, payload string) []byte {
	t.Helper()
	b, err := proto.Marshal(&livekit.DataPacket{Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte(payload)}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishRaw adds a local track of codec with track id cid to the
// publisher connection, negotiates it (the answer and candidates are
// applied by the reader) and writes samples until the test ends.
func (p *rawPeer) publishRaw(cid string, codec webrtc.RTPCodecCapability, sample []byte, every time.Duration) {
	p.t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(codec, cid, "stream-"+cid)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.pub.AddTrack(tr); err != nil {
		p.t.Fatal(err)
	}
	o, err := p.pub.CreateOffer(nil)
	if err == nil {
		err = p.pub.SetLocalDescription(o)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: o.SDP}}}); err != nil {
		p.t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = tr.WriteSample(media.Sample{Data: sample, Duration: every})
			}
		}
	}()
	p.t.Cleanup(func() { close(stop); <-done })
}
