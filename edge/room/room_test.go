package room

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/interceptor"
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

// clockedReader plays a layer's packets, setting the media clock to each
// one's arrival before handing it over.
type clockedReader struct {
	pkts  [][]byte
	at    []int64
	clock *atomic.Int64
}

func (r *clockedReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if len(r.pkts) == 0 {
		return 0, nil, io.EOF
	}
	r.clock.Store(r.at[0])
	n := copy(b, r.pkts[0])
	r.pkts, r.at = r.pkts[1:], r.at[1:]
	return n, nil, nil
}
func (r *clockedReader) SetReadDeadline(time.Time) error { return nil }

// vp8Packet builds a one-packet VP8 frame (a keyframe when key).
func vp8Packet(seq uint16, ts uint32, key bool) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 99, Marker: true}
	b, _ := h.Marshal()
	frame := []byte{0x10, 0x11, 0x02, 0x00} // VP8 descriptor (S=1), then an inter frame header
	if key {
		frame = []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
	}
	return append(b, frame...)
}

// discard is a TrackLocalWriter that counts what it is given.
type discard struct{ n int }

func (d *discard) WriteRTP(_ *rtp.Header, p []byte) (int, error) { d.n++; return len(p), nil }

// layeredSubscriber is a subscriber of one simulcast VP8 track whose three
// layers were received at 100 kbit/s, 500 kbit/s and 2 Mbit/s for the
// last second, through the track's real readers: 30 frames each, the 26th
// a keyframe unless noKeyframe names the layer.
func layeredSubscriber(t *testing.T, noKeyframe ...int) (*Participant, *DownTrack) {
	t.Helper()
	r, clock := testRoom()
	tr := layeredTrack(t, r, clock, "PA_pub", "TR_1", layerOpts{noKeyframe: noKeyframe})
	clock.Store(testStart + int64(time.Second))
	sub := testSubscriber(t, r, "PA_sub")
	return sub, subscribeTest(t, sub, tr)
}

// testStart is where the media clock of testRoom's tracks starts.
const testStart = int64(time.Hour)

// testRoom is a room with a media clock the test sets.
func testRoom() (*Room, *atomic.Int64) {
	m, _ := NewMetrics(nil)
	clock := &atomic.Int64{}
	mgr := &Manager{metrics: m, clock: clock.Load, log: slog.New(slog.DiscardHandler)}
	r := newRoom(mgr, "r")
	return r, clock
}

// layerOpts vary layeredTrack's media.
type layerOpts struct {
	noKeyframe []int // layers without a keyframe
	missing    []int // layers never received
	drop       int   // every drop-th packet lost on its way to the edge (0: none)
}

// layeredTrack publishes, as participant owner (made up), a simulcast VP8
// track whose three layers were received at 100 kbit/s, 500 kbit/s and 2
// Mbit/s for the second after testStart through the track's real readers.
func layeredTrack(t *testing.T, r *Room, clock *atomic.Int64, owner, sid string, o layerOpts) *PubTrack {
	t.Helper()
	pub := &Participant{room: r, sid: owner, identity: owner, wake: make(chan struct{}, 1), stop: make(chan struct{}), log: r.log}
	pub.info.Store(&livekit.ParticipantInfo{Sid: owner, Identity: owner, State: livekit.ParticipantInfo_ACTIVE})
	//lint:ignore SA1019 the test announces layers as livekit-client does
	info := &livekit.TrackInfo{Sid: sid, Simulcast: true, Layers: []*livekit.VideoLayer{
		{Quality: livekit.VideoQuality_LOW, Width: 320, Height: 180},
		{Quality: livekit.VideoQuality_MEDIUM, Width: 640, Height: 360},
		{Quality: livekit.VideoQuality_HIGH, Width: 1280, Height: 720},
	}}
	tr, err := newPubTrackCodec(pub, info, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	if err != nil {
		t.Fatal(err)
	}
	for q, size := range []int{417, 2083, 8333} { // bytes per 1/30 s
		if slices.Contains(o.missing, q) {
			continue
		}
		feedLayer(t, tr, q, size, clock, testStart, !slices.Contains(o.noKeyframe, q), o.drop)
	}
	r.mu.Lock()
	r.participants[owner] = pub
	r.tracks[sid] = tr
	r.mu.Unlock()
	return tr
}

// feedLayer hands layer q of tr a second of frames of size bytes from
// start through its real reader, the 26th a keyframe when key, losing
// every drop-th packet (0: none).
func feedLayer(t *testing.T, tr *PubTrack, q, size int, clock *atomic.Int64, start int64, key bool, drop int) {
	t.Helper()
	feedLayerFor(t, tr, q, size, clock, start, key, drop, 1)
}

// feedLayerFor is feedLayer for the given number of seconds.
func feedLayerFor(t *testing.T, tr *PubTrack, q, size int, clock *atomic.Int64, start int64, key bool, drop, seconds int) {
	t.Helper()
	rd := &clockedReader{clock: clock}
	seq := uint16(0)
	for i := 0; i < 30*seconds; i++ {
		// A frame of size bytes in packets of at most 1200.
		for left := size; left > 0; left -= 1200 {
			pkt := vp8Packet(seq, uint32(i)*3000, i == 25 && key && left == size)
			pkt = append(pkt, make([]byte, min(left, 1200)-(len(pkt)-12))...)
			if left > 1200 {
				pkt[1] &^= 0x80 // not the frame's last packet
			}
			seq++
			if drop > 0 && int(seq)%drop == 0 {
				continue
			}
			rd.pkts = append(rd.pkts, pkt)
			rd.at = append(rd.at, start+int64(i)*int64(time.Second)/30)
		}
	}
	l, err := tr.media.AddLayer(q, uint32(0x1000+q), rd, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Run()
}

// testSubscriber is a participant of r whose subscriber connection is up.
func testSubscriber(t *testing.T, r *Room, sid string) *Participant {
	t.Helper()
	sub := &Participant{room: r, sid: sid, identity: sid, downs: map[string]*DownTrack{}, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), subConnected: true, log: r.log}
	sub.info.Store(&livekit.ParticipantInfo{Sid: sid, Identity: sid, State: livekit.ParticipantInfo_ACTIVE})
	var err error
	if sub.bwe, err = newEstimator(); err != nil {
		t.Fatal(err)
	}
	if sub.sink, err = forward.NewSink(forward.SinkConfig{Now: r.mgr.now, BWE: sub.bwe}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.participants[sid] = sub
	r.mu.Unlock()
	return sub
}

// subscribeTest gives sub a down track of tr, bound to a writer that
// discards.
func subscribeTest(t *testing.T, sub *Participant, tr *PubTrack) *DownTrack {
	t.Helper()
	d, err := newDownTrack(tr, sub)
	if err != nil {
		t.Fatal(err)
	}
	d.down.Bind(forward.Output{Writer: &discard{}, SSRC: uint32(len(sub.downs) + 1), PayloadType: 96, ClockRate: tr.clockRate()})
	sub.downs[tr.sid] = d
	return d
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
			resetChoice(sub, d)
			sub.estimate.Store(tt.estimate)
			sub.allocate()
			if got := d.down.Target(); got != tt.want {
				t.Fatalf("target layer %d, want %d", got, tt.want)
			}
		})
	}
}

// resetChoice makes the subscriber's next layer choice its first.
func resetChoice(sub *Participant, d *DownTrack) {
	sub.layers.alloc = nil
	d.pick, d.paused = simulcast.Pick{Spatial: -1, Temporal: -1}, false
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
	tr.media.NoteLevel(20) // -20 dBov: speaking
	ch, _ := r.speakerChanges()
	if len(ch) != 1 || !ch[0].Active || ch[0].Sid != "PA_a" || ch[0].Level <= 0 {
		t.Fatalf("changes %v, want alice speaking", ch)
	}
	tr.media.NoteLevel(20)
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
	tr.media.NoteLevel(100) // quiet: not speaking
	if ch, _ := r.speakerChanges(); len(ch) != 0 {
		t.Fatalf("quiet track reported: %v", ch)
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

func TestDemandTellsPublisher(t *testing.T) {
	m, _ := NewMetrics(nil)
	mgr := &Manager{metrics: m, epoch: time.Now(), log: slog.New(slog.DiscardHandler)}
	r := newRoom(mgr, "r")
	owner := &Participant{room: r, sid: "PA_pub", wake: make(chan struct{}, 1), stop: make(chan struct{}), log: mgr.log}
	//lint:ignore SA1019 the test announces a simulcast track as livekit-client does
	tr, err := newPubTrackCodec(owner, &livekit.TrackInfo{Sid: "TR_1", Simulcast: true}, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	if err != nil {
		t.Fatal(err)
	}
	// livekit-client 2.x reads subscribedCodecs, older clients
	// subscribedQualities: both say the same.
	enabled := func() []bool {
		u := tr.demandUpdate()
		if len(u.SubscribedCodecs) != 1 || u.SubscribedCodecs[0].Codec != "vp8" {
			t.Fatalf("subscribed codecs %v, want vp8's", u.SubscribedCodecs)
		}
		var out, old []bool
		for _, q := range u.SubscribedCodecs[0].Qualities {
			out = append(out, q.Enabled)
		}
		//lint:ignore SA1019 older clients read the demand in this form
		for _, q := range u.SubscribedQualities {
			old = append(old, q.Enabled)
		}
		if fmt.Sprint(out) != fmt.Sprint(old) {
			t.Fatalf("subscribed codecs say %v, subscribed qualities %v", out, old)
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
