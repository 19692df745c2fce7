package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/relay"
)

// The span tests run two edges' room managers in one process, joined by
// real relays on loopback; the publisher's layers are fed through the same
// readers a publisher's connection feeds, and subscribers' down tracks are
// bound to writers that count what reaches them, so the whole media path
// runs (cache, fan-out, rewrite, queue, drain) without WebRTC clients.

type spanEdge struct {
	node string
	m    *Manager
	r    *relay.Relay

	mu    sync.Mutex
	heard [][]byte // room state messages received
}

func (e *spanEdge) onMessage(peer, topic string, payload []byte) {
	e.mu.Lock()
	e.heard = append(e.heard, append([]byte(nil), payload...))
	e.mu.Unlock()
	e.m.RelayMessage(peer, topic, payload)
}

// heardKind returns the bodies of the room state messages of kind heard.
func (e *spanEdge) heardKind(kind byte) [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out [][]byte
	for _, b := range e.heard {
		if k, _, body, err := parseSpan(b); err == nil && k == kind {
			out = append(out, body)
		}
	}
	return out
}

// newSpan starts edges named nodes, each hosting a room the others host
// when its manager has it open (the room directory).
func newSpan(t *testing.T, mutate func(*Config), nodes ...string) []*spanEdge {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	edges := make([]*spanEdge, len(nodes))
	addrs := sync.Map{}
	for i, n := range nodes {
		edges[i] = &spanEdge{node: n, m: newTestManager(t, func(c *Config) {
			c.NodeID = n
			if mutate != nil {
				mutate(c)
			}
		})}
	}
	for _, e := range edges {
		id, err := relay.NewIdentity(e.node, [][]byte{key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs.Store(e.node, pc.LocalAddr().String())
		e.r, err = relay.New(relay.Config{
			Identity: id, PacketConn: pc, Origin: e.m, OnMessage: e.onMessage, OnLink: e.m.RelayLink,
			Resolve: func(node string) (string, bool) {
				a, ok := addrs.Load(node)
				if !ok {
					return "", false
				}
				return a.(string), true
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		self := e
		e.m.AttachRelay(e.r, func(room string) []string {
			var out []string
			for _, o := range edges {
				if o != self && o.m.Room(room) != nil {
					out = append(out, o.node)
				}
			}
			return out
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = e.r.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return edges
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
}

// countWriter counts what a down track writes.
type countWriter struct{ pkts, bytes atomic.Int64 }

func (w *countWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) {
	w.pkts.Add(1)
	w.bytes.Add(int64(len(p)))
	return len(p), nil
}

// publisher feeds a simulcast VP8 track (three layers) and an Opus track of
// a participant, at 30 frames a second, a keyframe a second.
type publisher struct {
	p       *Participant
	video   *PubTrack
	audio   *PubTrack
	streams [4]*relay.Stream // video layers 0–2, then audio
	bytes   [4]atomic.Int64  // RTP bytes fed per stream
	seq     [4]atomic.Uint32 // next sequence number per stream
	paused  atomic.Bool      // feeds nothing while set
	// keyEvery is the frames between keyframes (0: only the first).
	keyEvery int
	stop     chan struct{}
	done     chan struct{}
}

var layerFrame = [3]int{300, 1000, 3000} // bytes per frame

func publish(t *testing.T, m *Manager, room, identity string) *publisher {
	t.Helper()
	return publishEvery(t, m, room, identity, 30)
}

func publishEvery(t *testing.T, m *Manager, room, identity string, keyEvery int) *publisher {
	t.Helper()
	p, err := m.Join(JoinParams{Room: room, Identity: identity, Name: "Pub " + identity, Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, false)
	pb := &publisher{p: p, keyEvery: keyEvery, stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.call(ctx, func() {
		//lint:ignore SA1019 the test announces layers as livekit-client does
		vi := &livekit.TrackInfo{Sid: "TR_v" + identity, Type: livekit.TrackType_VIDEO, Simulcast: true, MimeType: webrtc.MimeTypeVP8,
			//lint:ignore SA1019 the test announces layers as livekit-client does
			Layers: []*livekit.VideoLayer{{Quality: 0, Width: 320, Height: 180}, {Quality: 1, Width: 640, Height: 360}, {Quality: 2, Width: 1280, Height: 720}}}
		if pb.video, err = newPubTrackCodec(p, vi, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}); err != nil {
			return
		}
		ai := &livekit.TrackInfo{Sid: "TR_a" + identity, Type: livekit.TrackType_AUDIO, MimeType: webrtc.MimeTypeOpus}
		if pb.audio, err = newPubTrackCodec(p, ai, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}); err != nil {
			return
		}
		for i := range pb.streams {
			pb.streams[i] = relay.NewStream(0)
			tr, q := pb.video, i
			if i == 3 {
				tr, q = pb.audio, 0
			}
			var levelExt uint8
			if i == 3 {
				levelExt = 1 // RFC 6464 audio level, id 1
				tr.levelExt = levelExt
			}
			l, lerr := tr.media.AddLayer(q, uint32(0x100+i), pb.streams[i], levelExt)
			if lerr != nil {
				err = lerr
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); l.Run() }()
		}
		for _, tr := range []*PubTrack{pb.video, pb.audio} {
			p.published[tr.sid] = tr
			p.room.publish(tr)
		}
		p.setInfo(p.syncTracks)
	})
	if err != nil {
		t.Fatal(err)
	}
	go pb.run()
	t.Cleanup(pb.close)
	return pb
}

func (pb *publisher) close() {
	select {
	case <-pb.stop:
	default:
		close(pb.stop)
	}
	<-pb.done
	for _, s := range pb.streams {
		s.Close()
	}
}

func (pb *publisher) run() {
	defer close(pb.done)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	var seq [4]uint16
	for frame := 0; ; frame++ {
		select {
		case <-pb.stop:
			return
		case <-tick.C:
		}
		if pb.paused.Load() {
			continue
		}
		ts := uint32(frame * 3000)
		key := frame == 0 || pb.keyEvery > 0 && frame%pb.keyEvery == 0
		for q := range 3 {
			left := layerFrame[q]
			first := true
			for left > 0 {
				n := min(left, 1000)
				left -= n
				pkt := vp8Packet(seq[q], ts, key && first)
				pkt[8], pkt[9], pkt[10], pkt[11] = 0, 0, 1, byte(q) // SSRC per layer
				if left > 0 {
					pkt[1] &^= 0x80 // not the frame's last packet
				}
				if !first {
					pkt[12] = 0x00 // VP8 descriptor: not the start of a partition
				}
				pkt = append(pkt, make([]byte, n)...)
				first = false
				seq[q]++
				pb.streams[q].Push(pkt)
				pb.bytes[q].Add(int64(len(pkt)))
			}
		}
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq[3], Timestamp: uint32(frame * 1600), SSRC: 0x103,
			Extension: true, ExtensionProfile: 0xBEDE}
		_ = h.SetExtension(1, []byte{0x80 | 20}) // voice, -20 dBov: speaking
		b, _ := h.Marshal()
		b = append(b, make([]byte, 80)...)
		seq[3]++
		pb.streams[3].Push(b)
		pb.bytes[3].Add(int64(len(b)))
		for i := range seq {
			pb.seq[i].Store(uint32(seq[i]))
		}
	}
}

// subscriber is a participant whose subscriptions are bound to counting
// writers as soon as they exist (standing in for the SDP negotiation).
type subscriber struct {
	p *Participant
	w sync.Map // track sid → *countWriter
}

func subscribe(t *testing.T, m *Manager, room, identity string) *subscriber {
	t.Helper()
	p, err := m.Join(JoinParams{Room: room, Identity: identity, Permission: allPerms(), AutoSubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, false)
	return &subscriber{p: p}
}

// bind binds every down track not bound yet and chooses layers; it
// reports how many are bound.
func (s *subscriber) bind(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	err := s.p.call(ctx, func() {
		for sid, d := range s.p.downs {
			if !d.down.Bound() {
				w := &countWriter{}
				s.w.Store(sid, w)
				c := d.track.codec.Load()
				d.down.Bind(forward.Output{Writer: w, SSRC: 1000 + uint32(len(sid)), PayloadType: uint8(c.PayloadType), ClockRate: c.ClockRate})
			}
			n++
		}
		s.p.subConnected = true
		s.p.allocate()
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *subscriber) received(sid string) int64 {
	w, ok := s.w.Load(sid)
	if !ok {
		return 0
	}
	return w.(*countWriter).pkts.Load()
}

func (s *subscriber) setQuality(t *testing.T, q livekit.VideoQuality, sids ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.p.call(ctx, func() {
		s.p.onTrackSettings(&livekit.UpdateTrackSettings{TrackSids: sids, Quality: q})
	}); err != nil {
		t.Fatal(err)
	}
}

// crossing measures, over window, the RTP bytes the link from a to b
// carried against the bytes the publisher fed on the layers in want.
func crossing(a *spanEdge, to string, pb *publisher, window time.Duration, want ...int) (crossed, needed int64) {
	c0 := a.r.Stats(to).BytesSent
	var f0 [4]int64
	for i := range f0 {
		f0[i] = pb.bytes[i].Load()
	}
	time.Sleep(window) // a measurement window of real media
	crossed = int64(a.r.Stats(to).BytesSent - c0)
	for _, i := range want {
		needed += pb.bytes[i].Load() - f0[i]
	}
	return crossed, needed
}

// originMask is the layers the origin sends of t (its one feed's).
func originMask(t *PubTrack) uint8 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.feeds) != 1 {
		return 0xff
	}
	return t.feeds[0].out.Layers()
}

func within(got, want int64, frac float64) bool {
	d := float64(got - want)
	return d <= frac*float64(want) && -d <= frac*float64(want)
}

// TestSpanMedia: a publisher on edge A, subscribers on edge B. B's room
// shows A's participant and its tracks; B's subscribers receive both
// tracks through B's own fan-out; what crosses A→B is one copy of the
// layers B needs, with one subscriber and with twenty; when B's
// subscribers ask for the low layer only, the others stop crossing; when
// they leave, nothing crosses.
func TestSpanMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time media for several seconds")
	}
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publish(t, a.m, "r", "alice")
	s1 := subscribe(t, b.m, "r", "bob")
	vid, aud := pb.video.sid, pb.audio.sid

	eventually(t, "B knows alice and her tracks", func() bool {
		info := b.m.Room("r").RemoteParticipant("alice")
		return info != nil && len(info.Tracks) == 2 && info.Name == "Pub alice"
	})
	eventually(t, "bob subscribed to both relayed tracks", func() bool { return s1.bind(t) == 2 })
	eventually(t, "bob receives video and audio", func() bool { return s1.received(vid) > 30 && s1.received(aud) > 30 })
	if got := b.m.Room("r").Track(vid); got == nil || got.pull == nil || got.owner != nil {
		t.Fatal("the video on B is not a relayed track")
	}

	// One subscriber wants the high layer (no bandwidth limit): the high
	// layer and the audio cross, once.
	eventually(t, "only the high layer is pulled", func() bool {
		return b.m.Room("r").Track(vid).pull.mask.Load() == 0b100 && originMask(pb.video) == 0b100
	})
	crossed, needed := crossing(a, "edge-b", pb, 2*time.Second, 2, 3)
	t.Logf("1 subscriber: %d bytes crossed, %d needed", crossed, needed)
	if !within(crossed, needed, 0.10) {
		t.Fatalf("1 subscriber: %d bytes crossed A→B, want %d ± 10%%", crossed, needed)
	}

	subs := []*subscriber{s1}
	for i := range 19 {
		subs = append(subs, subscribe(t, b.m, "r", "viewer"+string(rune('a'+i))))
	}
	for _, s := range subs {
		eventually(t, "viewers subscribed", func() bool { return s.bind(t) == 2 })
	}
	eventually(t, "every viewer receives video", func() bool {
		for _, s := range subs {
			if s.received(vid) == 0 {
				return false
			}
		}
		return true
	})
	crossed, needed = crossing(a, "edge-b", pb, 2*time.Second, 2, 3)
	t.Logf("20 subscribers: %d bytes crossed, %d needed", crossed, needed)
	if !within(crossed, needed, 0.10) {
		t.Fatalf("20 subscribers: %d bytes crossed A→B, want %d ± 10%%", crossed, needed)
	}

	// Everyone on B wants the low layer: the others stop crossing.
	for _, s := range subs {
		s.setQuality(t, livekit.VideoQuality_LOW, vid)
	}
	eventually(t, "only the low layer is pulled", func() bool {
		return b.m.Room("r").Track(vid).pull.mask.Load() == 0b001 && originMask(pb.video) == 0b001
	})
	before := subs[0].received(vid)
	crossed, needed = crossing(a, "edge-b", pb, 2*time.Second, 0, 3)
	t.Logf("low layer: %d bytes crossed, %d needed", crossed, needed)
	if !within(crossed, needed, 0.10) {
		t.Fatalf("low layer only: %d bytes crossed A→B, want %d ± 10%%", crossed, needed)
	}
	if subs[0].received(vid) <= before {
		t.Fatal("the low layer does not reach the subscriber")
	}

	// Everyone leaves: nothing crosses.
	for _, s := range subs {
		s.p.Close(livekit.DisconnectReason_CLIENT_INITIATED)
		<-s.p.Done()
	}
	eventually(t, "nothing is pulled", func() bool {
		tr := b.m.Room("r")
		if tr == nil {
			return true
		}
		v, au := tr.Track(vid), tr.Track(aud)
		return (v == nil || v.pull.mask.Load() == 0) && (au == nil || au.pull.mask.Load() == 0)
	})
	crossed, _ = crossing(a, "edge-b", pb, 500*time.Millisecond)
	if crossed > 2000 {
		t.Fatalf("%d bytes still crossed with nobody on B watching", crossed)
	}
}

// TestSpanRoomState: the participant list, data packets, mutes, removals
// and the participant limit span the edges.
func TestSpanRoomState(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pa, err := a.m.Join(JoinParams{Room: "r", Identity: "alice", Permission: allPerms(), MaxParticipants: 3})
	if err != nil {
		t.Fatal(err)
	}
	pa.Attach(nil, false)
	pb, err := b.m.Join(JoinParams{Room: "r", Identity: "bob", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	pb.Attach(nil, false)
	ra, rb := a.m.Room("r"), b.m.Room("r")
	eventually(t, "each edge lists the other's participant", func() bool {
		return ra.RemoteParticipant("bob") != nil && rb.RemoteParticipant("alice") != nil
	})
	if n := ra.Proto().NumParticipants; n != 2 {
		t.Fatalf("A counts %d participants, want 2", n)
	}

	// Metadata set on B shows on A.
	md := "hello"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pb.Update(ctx, nil, &md, nil, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob's metadata reaches A", func() bool { return ra.RemoteParticipant("bob").GetMetadata() == "hello" })

	// A data packet from alice reaches bob's edge, which delivers it to
	// bob (who has no data channel here: counted undelivered).
	und := counter(t, b.m.metrics.dataUndelivered)
	ra.route(pa, &livekit.DataPacket{ParticipantIdentity: "alice", Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte("hi")}}}, livekit.DataPacket_RELIABLE, nil)
	eventually(t, "alice's data reaches bob's edge", func() bool { return counter(t, b.m.metrics.dataUndelivered) == und+1 })

	// The limit counts the whole room: with alice and bob and a limit of
	// three, one more joins on A, then nobody.
	pc, err := a.m.Join(JoinParams{Room: "r", Identity: "carol", Permission: allPerms(), MaxParticipants: 3})
	if err != nil {
		t.Fatal(err)
	}
	pc.Attach(nil, false)
	if _, err := a.m.Join(JoinParams{Room: "r", Identity: "dave", Permission: allPerms(), MaxParticipants: 3}); err == nil {
		t.Fatal("a fourth participant joined a room of three spread over two edges")
	}

	// A moderator's removal made on A disconnects bob on B.
	gone, ok, err := ra.RemoveRemote(ctx, "bob", time.Now())
	if !ok || err != nil {
		t.Fatalf("RemoveRemote = %v, %v", ok, err)
	}
	select {
	case <-pb.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bob is still on B after A removed him")
	}
	if r := livekit.DisconnectReason(pb.reason.Load()); r != livekit.DisconnectReason_PARTICIPANT_REMOVED {
		t.Fatalf("bob left with %v", r)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("A still lists bob")
	}
	if _, err := b.m.Join(JoinParams{Room: "r", Identity: "bob", Permission: allPerms(), IssuedAt: time.Now().Add(-time.Minute)}); err == nil {
		t.Fatal("bob came back on B with a token older than the removal")
	}
}

// TestSpanMute: a moderator on B mutes alice's track on A; A's publisher
// is muted and B sees it.
func TestSpanMute(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publish(t, a.m, "r", "alice")
	if _, err := b.m.Join(JoinParams{Room: "r", Identity: "mod", Permission: allPerms()}); err != nil {
		t.Fatal(err)
	}
	rb := b.m.Room("r")
	eventually(t, "B knows alice's tracks", func() bool {
		info := rb.RemoteParticipant("alice")
		return info != nil && len(info.Tracks) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := rb.MuteRemote(ctx, "alice", pb.audio.sid, true)
	if err != nil || !info.Muted {
		t.Fatalf("MuteRemote = %v, %v", info, err)
	}
	eventually(t, "alice's audio muted on A", func() bool { return pb.audio.Info().Muted })
	eventually(t, "B sees it muted", func() bool { return rb.Track(pb.audio.sid) != nil && rb.Track(pb.audio.sid).Info().Muted })
}

// srTap records the sender reports a relayed track hears.
type srTap struct {
	mu  sync.Mutex
	srs []uint32
}

func (*srTap) RTP(int, []byte) {}
func (s *srTap) SenderReport(_ int, _ uint64, rtpTS uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srs = append(s.srs, rtpTS)
}
func (s *srTap) list() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.srs...)
}

// TestSpanFeedback: what the subscribing edge sends back reaches the
// publisher's: a NACK is answered from the origin's cache (one datagram
// per cached packet; a packet no longer cached is asked of the publisher),
// a keyframe request goes to the publisher under the origin's rate limit
// (one per interval however many arrive), and the publisher's sender
// reports reach the relayed track.
func TestSpanFeedback(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time media")
	}
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publish(t, a.m, "r", "alice")
	s := subscribe(t, b.m, "r", "bob")
	vid := pb.video.sid
	eventually(t, "bob receives video", func() bool { s.bind(t); return s.received(vid) > 10 })
	rb := b.m.Room("r")
	tr := rb.Track(vid)
	eventually(t, "the high layer is pulled", func() bool { return tr.Pulled() == 0b100 && originMask(pb.video) == 0b100 })

	pb.paused.Store(true)
	before := a.r.Stats("edge-b")
	eventually(t, "the link is quiet", func() bool {
		time.Sleep(100 * time.Millisecond) // the last frame's packets
		now := a.r.Stats("edge-b")
		quiet := now.DatagramsSent == before.DatagramsSent
		before = now
		return quiet
	})
	cached := uint16(pb.seq[2].Load() - 1)
	nackA := counter(t, a.m.metrics.media.NACKSent)
	dupB := counter(t, b.m.metrics.media.Duplicate)
	tr.pull.RequestRetransmission(2, 0, []uint16{cached, cached - 2, cached - 4000})
	eventually(t, "two cached packets cross again and arrive as duplicates", func() bool {
		return a.r.Stats("edge-b").DatagramsSent == before.DatagramsSent+2 && counter(t, b.m.metrics.media.Duplicate) == dupB+2
	})
	eventually(t, "the uncached one is asked of the publisher", func() bool { return counter(t, a.m.metrics.media.NACKSent) == nackA+1 })

	src := pb.video.media.Source()
	k0 := src.LayerStats(2, 0)
	for range 5 {
		tr.pull.RequestKeyframe(2, 0)
	}
	eventually(t, "the keyframe requests reach the origin", func() bool {
		k := src.LayerStats(2, 0)
		return k.KeyframeRequests+k.Suppressed >= k0.KeyframeRequests+k0.Suppressed+5
	})
	if k := src.LayerStats(2, 0); k.KeyframeRequests > k0.KeyframeRequests+1 {
		t.Fatalf("%d keyframe requests reached the publisher at once, want at most one per interval", k.KeyframeRequests-k0.KeyframeRequests)
	}

	rec := &srTap{}
	tr.media.AddTap(rec)
	pb.video.media.SenderReport(2, 1<<40, 123456)
	eventually(t, "the sender report reaches the relayed track", func() bool {
		l := rec.list()
		return len(l) == 1 && l[0] == 123456
	})
}

// TestSpanSwitchFromOriginCache: a publisher that sends a keyframe only
// at its start; a subscriber on another edge switches from the high layer
// to the low one, which was never pulled: the origin starts it from the
// keyframe in its cache, so the switch completes without the publisher.
func TestSpanSwitchFromOriginCache(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time media")
	}
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publishEvery(t, a.m, "r", "alice", 0)
	s := subscribe(t, b.m, "r", "bob")
	vid := pb.video.sid
	eventually(t, "bob receives the high layer", func() bool {
		s.bind(t)
		d := s.down(t, vid)
		return d != nil && d.down.Current() == 2
	})
	tr := b.m.Room("r").Track(vid)
	eventually(t, "only the high layer is pulled", func() bool { return tr.Pulled() == 0b100 && originMask(pb.video) == 0b100 })
	s.setQuality(t, livekit.VideoQuality_LOW, vid)
	eventually(t, "bob switched to the low layer", func() bool { return s.down(t, vid).down.Current() == 0 })
	before := s.received(vid)
	eventually(t, "the low layer flows", func() bool { return s.received(vid) > before+10 })
}

// down is the subscriber's down track of sid (nil: none yet).
func (s *subscriber) down(t *testing.T, sid string) *DownTrack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d *DownTrack
	if err := s.p.call(ctx, func() { d = s.p.downs[sid] }); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSpanMessagesRefused: room state that does not parse is counted and
// changes nothing; a data packet that names a participant of another edge
// than the sender's is refused.
func TestSpanMessagesRefused(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pa, err := a.m.Join(JoinParams{Room: "r", Identity: "alice", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	pa.Attach(nil, false)
	pb, err := b.m.Join(JoinParams{Room: "r", Identity: "bob", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	pb.Attach(nil, false)
	rb := b.m.Room("r")
	eventually(t, "B knows alice", func() bool { return rb.RemoteParticipant("alice") != nil })

	spoof, _ := proto.Marshal(&livekit.DataPacket{ParticipantIdentity: "bob", Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte("x")}}})
	badInfo, _ := json.Marshal(spanState{Participants: [][]byte{{0xff, 0xff}}})
	cases := map[string][]byte{
		"empty":             {},
		"room length":       {spanUpdate, 0x7f, 'r'},
		"unknown kind":      appendSpan(99, "r", nil),
		"state not JSON":    appendSpan(spanUpdate, "r", []byte("{")),
		"info not protobuf": appendSpan(spanSync, "r", badInfo),
		"data not protobuf": appendSpan(spanData, "r", []byte{0xff}),
		"data as bob":       appendSpan(spanData, "r", spoof),
		"removal time":      appendSpan(spanRemove, "r", []byte{0xff}),
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			before := counter(t, b.m.metrics.spanMalformed)
			und := counter(t, b.m.metrics.dataUndelivered)
			b.m.RelayMessage("edge-a", spanTopic, msg)
			if got := counter(t, b.m.metrics.spanMalformed); got != before+1 {
				t.Fatalf("malformed counted %v times", got-before)
			}
			if counter(t, b.m.metrics.dataUndelivered) != und {
				t.Fatal("a refused data packet was delivered")
			}
		})
	}
	if rb.RemoteParticipant("alice") == nil || rb.Participant("bob") == nil {
		t.Fatal("refused messages changed the room")
	}
}

// FuzzSpanMessage: no room state message from another edge makes the
// room panic.
func FuzzSpanMessage(f *testing.F) {
	m := newTestManager(f, nil)
	p, err := m.Join(JoinParams{Room: "r", Identity: "local", Permission: allPerms()})
	if err != nil {
		f.Fatal(err)
	}
	p.Attach(nil, false)
	info, _ := proto.Marshal(&livekit.ParticipantInfo{Identity: "x", Sid: "PA_x", Tracks: []*livekit.TrackInfo{{Sid: "TR_1"}}})
	st, _ := json.Marshal(spanState{Participants: [][]byte{info}, Codecs: map[string]spanCodec{"TR_1": {Mime: "video/VP8", Clock: 90000}}})
	f.Add(appendSpan(spanSync, "r", st))
	f.Add(appendSpan(spanRemove, "r", []byte{1, 'x'}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m.RelayMessage("edge-x", spanTopic, b)
	})
}

// TestSpanSpeakers: the publisher's edge tells the room's other edges who
// speaks, as it tells its own participants, and there the speaker's
// relayed tracks take the speaker's priority in layer choice.
func TestSpanSpeakers(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	pb := publish(t, a.m, "r", "alice")
	if _, err := b.m.Join(JoinParams{Room: "r", Identity: "bob", Permission: allPerms()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B hears that alice speaks", func() bool {
		for _, body := range b.heardKind(spanSpeakers) {
			sc := &livekit.SpeakersChanged{}
			if proto.Unmarshal(body, sc) != nil {
				continue
			}
			for _, sp := range sc.Speakers {
				if sp.Sid == pb.p.sid && sp.Active {
					return true
				}
			}
		}
		return false
	})
	eventually(t, "alice's relayed video has the speaker's priority on B", func() bool {
		tr := b.m.Room("r").Track(pb.video.sid)
		return tr != nil && tr.speaking.Load()
	})
}

// TestSpanIdentityMoves: a participant that joins on another edge with the
// identity it has here (it reconnected elsewhere) is replaced here: the
// newer join wins on both edges, and the room keeps one of it.
func TestSpanIdentityMoves(t *testing.T) {
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	old, err := a.m.Join(JoinParams{Room: "r", Identity: "x", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	old.Attach(nil, false)
	if _, err := b.m.Join(JoinParams{Room: "r", Identity: "watcher", Permission: allPerms()}); err != nil {
		t.Fatal(err)
	}
	ra, rb := a.m.Room("r"), b.m.Room("r")
	eventually(t, "B knows x on A", func() bool { return rb.RemoteParticipant("x") != nil })
	moved, err := b.m.Join(JoinParams{Room: "r", Identity: "x", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	moved.Attach(nil, false)
	select {
	case <-old.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("x is still on A after joining B")
	}
	if r := livekit.DisconnectReason(old.reason.Load()); r != livekit.DisconnectReason_DUPLICATE_IDENTITY {
		t.Fatalf("x left A with %v", r)
	}
	eventually(t, "A lists x on B, B lists x as its own", func() bool {
		info := ra.RemoteParticipant("x")
		return info != nil && info.Sid == moved.SID() && rb.RemoteParticipant("x") == nil && rb.Participant("x") == moved
	})
	if n := rb.Proto().NumParticipants; n != 2 {
		t.Fatalf("B counts %d participants, want 2 (x once, watcher)", n)
	}
}
