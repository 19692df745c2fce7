package room

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/edge/signal"
	"github.com/spacecast/spacecast/edge/simulcast"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestManager(t testing.TB, mutate func(*Config)) *Manager {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api, err := rtc.NewAPI(rtc.APIOptions{UDP: udp, Loopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{API: api, NodeID: "n", Region: "r", Version: "test", EmptyTimeout: time.Second, DepartureTimeout: time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		_ = udp.Close()
	})
	return m
}

func allPerms() *livekit.ParticipantPermission {
	return &livekit.ParticipantPermission{CanPublish: true, CanSubscribe: true, CanPublishData: true, CanUpdateMetadata: true}
}

func TestJoinLimitsAndReplacement(t *testing.T) {
	m := newTestManager(t, func(c *Config) { c.MaxParticipants = 2 })
	join := func(id string) (*Participant, error) {
		return m.Join(JoinParams{Room: "r", Identity: id, Permission: allPerms(), AutoSubscribe: true})
	}
	a, err := join("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := join("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := join("c"); err == nil {
		t.Fatal("third participant joined a room of two")
	}
	a2, err := join("a")
	if err != nil {
		t.Fatalf("replacement refused: %v", err)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("replaced participant still running")
	}
	if got := m.Room("r").Participant("a"); got != a2 {
		t.Fatal("room does not hold the replacement")
	}
	m.Room("r").Remove(a2)
	<-a2.Done()
	if _, err := m.Join(JoinParams{Room: "r", Identity: "a", Permission: allPerms(), IssuedAt: time.Now().Add(-time.Minute)}); err == nil {
		t.Fatal("removed identity rejoined with an old token")
	}
	if _, err := m.Join(JoinParams{Room: "r", Identity: "a", Permission: allPerms(), IssuedAt: time.Now().Add(time.Second)}); err != nil {
		t.Fatalf("removed identity with a newer token: %v", err)
	}
}

func TestLayerLoss(t *testing.T) {
	l := &layer{}
	for _, seq := range []uint16{65530, 65531, 65533, 65535, 0, 1, 4} {
		l.count(seq, 1)
	}
	if got, want := l.expected.Load(), uint64(11); got != want {
		t.Fatalf("expected = %d, want %d (wrap at 65535)", got, want)
	}
	if got := l.packets.Load(); got != 7 {
		t.Fatalf("packets = %d", got)
	}
}

// discard is a TrackLocalWriter that drops what it is given.
type discard struct {
	n    int
	last rtp.Header
}

func (d *discard) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	d.n++
	d.last = *h
	return len(p), nil
}
func (d *discard) Write(b []byte) (int, error) { d.n++; return len(b), nil }

// mediaPath is one publisher track with n subscribers whose down tracks
// write into discard writers, without pion in between.
type mediaPath struct {
	track *PubTrack
	subs  []*Participant
	downs []*DownTrack
	ws    []*discard
	buf   []byte
}

func newMediaPath(t testing.TB, n int) *mediaPath {
	m, _ := NewMetrics(nil)
	mgr := &Manager{metrics: m, epoch: time.Now()}
	r := &Room{mgr: mgr}
	owner := &Participant{room: r, sid: "PA_pub"}
	info := &livekit.TrackInfo{Sid: "TR_1"}
	tr, err := newPubTrackCodec(owner, info, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96})
	if err != nil {
		t.Fatal(err)
	}
	tr.layers[0].Store(&layer{track: tr})
	mp := &mediaPath{track: tr, buf: make([]byte, 1500)}
	for i := 0; i < n; i++ {
		sub := &Participant{room: r, sid: "PA_sub", stop: make(chan struct{}), modeChanged: make(chan struct{}, 1)}
		if sub.queue, err = forward.NewQueue(forward.QueueConfig{}); err != nil {
			t.Fatal(err)
		}
		d, err := newDownTrack(tr, sub, 1)
		if err != nil {
			t.Fatal(err)
		}
		w := &discard{}
		d.bound.Store(&binding{w: w, ssrc: 1234, pt: 100})
		d.fwd.SetTarget(0)
		sub.tags.Store(&map[uint32]*DownTrack{1: d})
		tr.addDown(d)
		mp.subs, mp.downs, mp.ws = append(mp.subs, sub), append(mp.downs, d), append(mp.ws, w)
	}
	return mp
}

// packet builds a VP8 RTP packet (keyframe when key).
func vp8Packet(seq uint16, ts uint32, key bool) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 99, Marker: true}
	b, _ := h.Marshal()
	frame := []byte{0x10, 0, 0, 0x11, 0x02, 0x00} // VP8 descriptor (S=1), then frame header
	if key {
		frame = []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	} else {
		frame[1] = 0x11
	}
	b = append(b, frame...)
	return append(b, make([]byte, 900)...)
}

// forward runs pkt through the track's per-packet path and every
// subscriber's writer.
func (mp *mediaPath) forward(pkt []byte) {
	t := mp.track
	now := t.owner.room.mgr.now()
	p, err := t.src.Parse(pkt, 0, now)
	if err != nil {
		return
	}
	t.caches[0].StoreParsed(pkt, p.Header.Seq, p.Header.Timestamp, p.Keyframe)
	for _, d := range *t.downs.Load() {
		d.fwd.Forward(&p)
	}
	for i, sub := range mp.subs {
		for {
			n, _, ok := sub.queue.Pop(mp.buf)
			if !ok {
				break
			}
			mp.downs[i].send(forward.Item{Pkt: mp.buf[:n]}, 0, nil)
		}
	}
}

func TestMediaPathRewrite(t *testing.T) {
	mp := newMediaPath(t, 2)
	mp.forward(vp8Packet(10, 1000, false)) // no keyframe yet: held back
	if mp.ws[0].n != 0 {
		t.Fatal("forwarded before a keyframe")
	}
	mp.forward(vp8Packet(11, 4000, true))
	mp.forward(vp8Packet(12, 7000, false))
	for i, w := range mp.ws {
		if w.n != 2 || w.last.SSRC != 1234 || w.last.PayloadType != 100 {
			t.Fatalf("subscriber %d: %d packets, last %+v", i, w.n, w.last)
		}
	}
	first := mp.ws[0].last.SequenceNumber
	mp.forward(vp8Packet(13, 10000, false))
	if got := mp.ws[0].last.SequenceNumber; got != first+1 {
		t.Fatalf("sequence %d after %d", got, first)
	}
	mp.downs[1].fwd.SetTarget(-1)
	mp.forward(vp8Packet(14, 13000, false))
	if mp.ws[1].n != 3 || mp.ws[0].n != 4 {
		t.Fatalf("paused subscriber got %d, other %d", mp.ws[1].n, mp.ws[0].n)
	}
}

// BenchmarkForward measures the edge's per-packet work for one packet
// fanned out to 10 subscribers: parse, cache, forwarders, queues and the
// writers' header rewrite (pion's interceptors and SRTP excluded). It must
// not allocate.
func BenchmarkForward(b *testing.B) {
	mp := newMediaPath(b, 10)
	mp.forward(vp8Packet(0, 0, true))
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = vp8Packet(uint16(i+1), uint32(i+1)*3000, false)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt := pkts[i%len(pkts)]
		binary.BigEndian.PutUint16(pkt[2:], uint16(i+1))
		mp.forward(pkt)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10, "ns/forwarded-packet")
}

func FuzzHandle(f *testing.F) {
	m := newTestManager(f, nil)
	join := func() *Participant {
		p, err := m.Join(JoinParams{Room: "fuzz", Identity: "p", Permission: allPerms(), AutoSubscribe: true})
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	p := join()
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := signal.Decode(b, false, 64<<10)
		if err != nil {
			return
		}
		select {
		case <-p.Done():
			p = join()
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.call(ctx, func() { p.handle(req) }); err != nil && ctx.Err() != nil {
			t.Fatalf("participant stuck handling %v", req)
		}
	})
}

// layeredSubscriber is a subscriber of one simulcast VP8 track whose three
// layers were measured at 100 kbit/s, 500 kbit/s and 2 Mbit/s.
func layeredSubscriber(t *testing.T) (*Participant, *DownTrack) {
	t.Helper()
	m, _ := NewMetrics(nil)
	mgr := &Manager{metrics: m, epoch: time.Now().Add(-time.Hour)}
	r := &Room{mgr: mgr}
	owner := &Participant{room: r, sid: "PA_pub", wake: make(chan struct{}, 1), stop: make(chan struct{})}
	info := &livekit.TrackInfo{Sid: "TR_1", Simulcast: true, Layers: []*livekit.VideoLayer{
		{Quality: livekit.VideoQuality_LOW, Width: 320, Height: 180},
		{Quality: livekit.VideoQuality_MEDIUM, Width: 640, Height: 360},
		{Quality: livekit.VideoQuality_HIGH, Width: 1280, Height: 720},
	}}
	tr, err := newPubTrackCodec(owner, info, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	if err != nil {
		t.Fatal(err)
	}
	// Three layers at 100 kbit/s, 500 kbit/s, 2 Mbit/s for one second.
	now := mgr.now()
	for q, size := range []int{417, 2083, 8333} { // bytes per 1/30 s
		tr.layers[q].Store(&layer{track: tr, quality: q})
		tr.layers[q].Load().lastAt.Store(now)
		for i := 0; i < 30; i++ {
			pkt := vp8Packet(uint16(i), uint32(i)*3000, i == 0)
			pkt = append(pkt[:12], make([]byte, size)...)
			copy(pkt[12:], []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a})
			_, _ = tr.src.Parse(pkt, q, now-int64(time.Second)+int64(i)*int64(time.Second)/30)
		}
	}
	sub := &Participant{room: r, sid: "PA_sub", downs: map[string]*DownTrack{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), subConnected: true}
	if sub.queue, err = forward.NewQueue(forward.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	d, err := newDownTrack(tr, sub, 1)
	if err != nil {
		t.Fatal(err)
	}
	d.bound.Store(&binding{w: &discard{}})
	sub.downs["TR_1"] = d
	return sub, d
}

func TestBandwidthDrivesLayer(t *testing.T) {
	sub, d := layeredSubscriber(t)
	tests := []struct {
		name     string
		estimate uint64
		want     int
	}{
		{"no estimate: highest", 0, 2},
		{"1 Mbit/s: medium", 1_000_000, 1},
		{"150 kbit/s: low", 150_000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.sel, _ = simulcast.NewSelector(simulcast.SelectorConfig{})
			sub.estimate.Store(tt.estimate)
			sub.selectLayer(d, true)
			if got := d.fwd.Target(); got != tt.want {
				t.Fatalf("target layer %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSpeakerChanges(t *testing.T) {
	m, _ := NewMetrics(nil)
	mgr := &Manager{metrics: m, epoch: time.Now(), log: slog.New(slog.DiscardHandler)}
	r := newRoom(mgr, "r")
	alice := &Participant{room: r, sid: "PA_a"}
	tr, err := newPubTrackCodec(alice, &livekit.TrackInfo{Sid: "TR_a"}, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000}})
	if err != nil {
		t.Fatal(err)
	}
	r.tracks[tr.sid] = tr
	tr.loudest.Store(20) // -20 dBov: speaking
	ch, _ := r.speakerChanges()
	if len(ch) != 1 || !ch[0].Active || ch[0].Sid != "PA_a" || ch[0].Level <= 0 {
		t.Fatalf("changes %v, want alice speaking", ch)
	}
	tr.loudest.Store(20)
	if ch, _ := r.speakerChanges(); len(ch) != 0 {
		t.Fatalf("repeated speaker reported again: %v", ch)
	}
	var stopped []*livekit.SpeakerInfo
	for i := 0; i < speakerHoldTick+1 && len(stopped) == 0; i++ {
		stopped, _ = r.speakerChanges() // silence (127) from now on
	}
	if len(stopped) != 1 || stopped[0].Active {
		t.Fatalf("changes %v, want alice stopped", stopped)
	}
	tr.loudest.Store(100) // quiet: not speaking
	if ch, _ := r.speakerChanges(); len(ch) != 0 {
		t.Fatalf("quiet track reported: %v", ch)
	}
}

func TestPrimaryFromRED(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
		ok   bool
	}{
		{"primary only", []byte{111, 1, 2, 3}, []byte{1, 2, 3}, true},
		{"one redundant block", []byte{0x80 | 111, 0, 0, 2, 111, 9, 9, 1, 2}, []byte{1, 2}, true},
		{"two redundant blocks", []byte{0x80 | 111, 0x10, 0, 1, 0x80 | 111, 0x08, 0, 1, 111, 7, 8, 5}, []byte{5}, true},
		{"truncated header", []byte{0x80 | 111, 0}, nil, false},
		{"block longer than payload", []byte{0x80 | 111, 0, 0, 9, 111, 1}, nil, false},
		{"empty", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := primaryFromRED(tt.in)
			if (err == nil) != tt.ok || string(got) != string(tt.want) {
				t.Fatalf("primaryFromRED() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// recorder is an Observer that records event names.
type recorder struct {
	NopObserver
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string)                    { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) RoomStarted(room *livekit.Room)  { r.add("started " + room.Name) }
func (r *recorder) RoomFinished(room *livekit.Room) { r.add("finished " + room.Name) }
func (r *recorder) ParticipantJoined(_ *livekit.Room, p *livekit.ParticipantInfo) {
	r.add("joined " + p.Identity)
}
func (r *recorder) ParticipantLeft(_ *livekit.Room, p *livekit.ParticipantInfo, reason livekit.DisconnectReason) {
	r.add("left " + p.Identity + " " + reason.String())
}
func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func TestObserver(t *testing.T) {
	rec := &recorder{}
	m := newTestManager(t, func(c *Config) { c.Observer = rec; c.EmptyTimeout = 100 * time.Millisecond })
	p, err := m.Join(JoinParams{Room: "obs", Identity: "a", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, false)
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.list()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling
	}
	p.Close(livekit.DisconnectReason_CLIENT_INITIATED)
	for len(rec.list()) < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling: the room closes after its empty timeout
	}
	want := []string{"started obs", "joined a", "left a CLIENT_INITIATED", "finished obs"}
	if got := rec.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestInlineFlush(t *testing.T) {
	mp := newMediaPath(t, 1)
	sub, d := mp.subs[0], mp.downs[0]
	send := func(seq uint16, key bool) {
		p, err := mp.track.src.Parse(vp8Packet(seq, uint32(seq)*3000, key), 0, mp.track.owner.room.mgr.now())
		if err != nil {
			t.Fatal(err)
		}
		if d.fwd.Forward(&p).Verdict == forward.Sent {
			sub.flush(nil)
		}
	}
	send(1, true)
	if mp.ws[0].n != 0 || sub.queue.Len() != 1 {
		t.Fatalf("not inline: %d written, %d queued; want 0 and 1", mp.ws[0].n, sub.queue.Len())
	}
	sub.drain(nil) // what the writer goroutine does
	sub.setInline(true)
	send(2, false)
	if mp.ws[0].n != 2 || sub.queue.Len() != 0 {
		t.Fatalf("inline: %d written, %d queued; want 2 and 0", mp.ws[0].n, sub.queue.Len())
	}
}

func TestDemandTellsPublisher(t *testing.T) {
	m, _ := NewMetrics(nil)
	mgr := &Manager{metrics: m, epoch: time.Now(), log: slog.New(slog.DiscardHandler)}
	r := newRoom(mgr, "r")
	owner := &Participant{room: r, sid: "PA_pub", wake: make(chan struct{}, 1), stop: make(chan struct{}), log: mgr.log}
	tr, err := newPubTrackCodec(owner, &livekit.TrackInfo{Sid: "TR_1", Simulcast: true}, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	if err != nil {
		t.Fatal(err)
	}
	enabled := func() []bool {
		var out []bool
		for _, q := range tr.demandUpdate().SubscribedQualities {
			out = append(out, q.Enabled)
		}
		return out
	}
	tr.setDemand("PA_a", 0)
	tr.setDemand("PA_b", 1)
	if got := fmt.Sprint(enabled()); got != "[true true false]" {
		t.Fatalf("enabled %s: nobody wants HIGH", got)
	}
	if n := len(owner.mbox); n != 2 {
		t.Fatalf("%d updates queued for the publisher, want 2", n)
	}
	tr.setDemand("PA_a", 0) // no change: no update
	if n := len(owner.mbox); n != 2 {
		t.Fatalf("%d updates queued after a no-op, want 2", n)
	}
}

func TestUpdateSubscriptions(t *testing.T) {
	m := newTestManager(t, nil)
	p, err := m.Join(JoinParams{Room: "r", Identity: "sub", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wanted := func() map[string]bool {
		var w map[string]bool
		if err := p.call(ctx, func() { w = maps.Clone(p.wanted) }); err != nil {
			t.Fatal(err)
		}
		return w
	}
	tests := []struct {
		name      string
		sids      []string
		tracks    []*livekit.ParticipantTracks
		subscribe bool
		want      map[string]bool
	}{
		{"subscribe to tracks not live yet", []string{"TR_a"}, []*livekit.ParticipantTracks{{ParticipantSid: "PA_x", TrackSids: []string{"TR_b"}}}, true, map[string]bool{"TR_a": true, "TR_b": true}},
		{"unsubscribe one", []string{"TR_a"}, nil, false, map[string]bool{"TR_b": true}},
		{"unsubscribe by participant", nil, []*livekit.ParticipantTracks{{ParticipantSid: "PA_x", TrackSids: []string{"TR_b"}}}, false, map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.UpdateSubscriptions(ctx, tt.sids, tt.tracks, tt.subscribe); err != nil {
				t.Fatal(err)
			}
			if got := wanted(); !maps.Equal(got, tt.want) {
				t.Fatalf("wanted = %v, want %v", got, tt.want)
			}
		})
	}
	m.Room("r").Remove(p)
	<-p.Done()
	if err := p.UpdateSubscriptions(ctx, []string{"TR_a"}, nil, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after leaving: %v, want ErrNotFound", err)
	}
}
