package room

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/signal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestManager(t testing.TB, mutate func(*Config)) *Manager {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewAPI(APIOptions{UDP: udp, Loopback: true, Interfaces: []string{"lo"}})
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

func TestWantedLayer(t *testing.T) {
	info := &livekit.TrackInfo{Layers: []*livekit.VideoLayer{
		{Quality: livekit.VideoQuality_LOW, Width: 320, Height: 180},
		{Quality: livekit.VideoQuality_MEDIUM, Width: 640, Height: 360},
		{Quality: livekit.VideoQuality_HIGH, Width: 1280, Height: 720},
	}}
	tests := []struct {
		name string
		s    *livekit.UpdateTrackSettings
		want int
	}{
		{"quality low", &livekit.UpdateTrackSettings{Quality: livekit.VideoQuality_LOW}, 0},
		{"quality high", &livekit.UpdateTrackSettings{Quality: livekit.VideoQuality_HIGH}, 2},
		{"quality off maps to high", &livekit.UpdateTrackSettings{Quality: livekit.VideoQuality_OFF}, 2},
		{"small window", &livekit.UpdateTrackSettings{Width: 200, Height: 100}, 0},
		{"medium window", &livekit.UpdateTrackSettings{Width: 500, Height: 300}, 1},
		{"huge window", &livekit.UpdateTrackSettings{Width: 4000, Height: 3000}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wantedLayer(info, tt.s); got != tt.want {
				t.Fatalf("wantedLayer() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLayerLoss(t *testing.T) {
	l := &layer{}
	for _, seq := range []uint16{65530, 65531, 65533, 65535, 0, 1, 4} {
		l.count(seq, 100)
	}
	if got, want := l.expected.Load(), uint64(11); got != want {
		t.Fatalf("expected = %d, want %d (wrap at 65535)", got, want)
	}
	if got := l.packets.Load(); got != 7 {
		t.Fatalf("packets = %d", got)
	}
}

// discard is a TrackLocalWriter that drops what it is given.
type discard struct{ n int }

func (d *discard) WriteRTP(h *rtp.Header, p []byte) (int, error) { d.n++; return len(p), nil }
func (d *discard) Write(b []byte) (int, error)                   { d.n++; return len(b), nil }

func benchDown(simulcast bool) (*DownTrack, *discard) {
	m, _ := NewMetrics(nil)
	mgr := &Manager{metrics: m}
	r := &Room{mgr: mgr}
	owner := &Participant{room: r, sid: "PA_pub"}
	sub := &Participant{room: r, sid: "PA_sub"}
	t := newPubTrack(owner, &livekit.TrackInfo{Sid: "TR_1", Simulcast: simulcast}, webrtc.RTPCodecTypeVideo)
	t.layers[0].Store(&layer{track: t})
	d := newDownTrack(t, sub, 0)
	w := &discard{}
	d.bound.Store(&binding{w: w, ssrc: 1234, pt: 96})
	return d, w
}

func TestDownTrackRewrite(t *testing.T) {
	d, w := benchDown(false)
	h := rtp.Header{Version: 2, SSRC: 99, PayloadType: 100, SequenceNumber: 7}
	if err := h.SetExtension(3, []byte{1}); err != nil {
		t.Fatal(err)
	}
	d.write(0, &h, []byte{1, 2, 3})
	if w.n != 1 || d.hdr.SSRC != 1234 || d.hdr.PayloadType != 96 || d.hdr.Extension || len(d.hdr.Extensions) != 0 {
		t.Fatalf("rewritten header %+v (writes %d)", d.hdr, w.n)
	}
	if len(h.Extensions) != 1 || h.SSRC != 99 {
		t.Fatal("source header modified")
	}
	d.write(1, &h, []byte{1})
	if w.n != 1 {
		t.Fatal("forwarded a layer that was not chosen")
	}
	d.setTarget(-1)
	d.write(0, &h, []byte{1})
	if w.n != 1 {
		t.Fatal("forwarded while paused")
	}
}

// BenchmarkDownTrackWrite measures the edge's own per-packet forwarding
// work (pion's interceptors and SRTP excluded): it must not allocate.
func BenchmarkDownTrackWrite(b *testing.B) {
	for _, sc := range []bool{false, true} {
		name := "single"
		if sc {
			name = "simulcast"
		}
		b.Run(name, func(b *testing.B) {
			d, _ := benchDown(sc)
			h := rtp.Header{Version: 2, SSRC: 99, PayloadType: 96}
			payload := make([]byte, 1000)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.SequenceNumber = uint16(i)
				d.write(0, &h, payload)
			}
		})
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
