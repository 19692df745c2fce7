package participant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/spacecast/spacecast/bench/hist"
)

// Seat is one participant to simulate.
type Seat struct {
	Alias       string `json:"alias"`
	AccessToken string `json:"accessToken"`
	Name        string `json:"name"`
	Publish     bool   `json:"publish"`
	// URL, when set, is a LiveKit-protocol server to connect to directly:
	// AccessToken is then a LiveKit access token for it (no REST join) and
	// Name is the identity it carries.
	URL string `json:"url,omitempty"`
	// Region and RTTs go with the join, as the room page sends them: the
	// region the participant asks for, and its measured round trips to
	// each region in milliseconds. Region is reported with its events.
	Region string           `json:"region,omitempty"`
	RTTs   map[string]int64 `json:"rtts,omitempty"`
	// JoinAt, when set, is when the seat joins (instead of its place in
	// the plan's spread).
	JoinAt time.Time `json:"joinAt,omitzero"`
}

// Plan is an agent's share of a run.
type Plan struct {
	// ControlPlane is the control plane's base URL (for the join).
	ControlPlane string `json:"controlPlane"`
	Seats        []Seat `json:"seats"`
	// Simulcast publishes three VP8 layers instead of one.
	Simulcast bool `json:"simulcast"`
	// VideoKbps is the single-layer camera's bitrate (0: 145 kbps).
	VideoKbps int `json:"videoKbps,omitempty"`
	// Start is when the first seat joins; seat i joins at Start + i*Spread.
	Start  time.Time     `json:"start"`
	Spread time.Duration `json:"spread"`
	// Until is when every participant leaves.
	Until time.Time `json:"until"`
}

// Event is one JSON line an agent reports.
type Event struct {
	Ev string `json:"ev"` // joined, first_rtp, tick, track, error, done
	ID string `json:"id,omitempty"`
	T  int64  `json:"t,omitempty"` // unix nanoseconds

	RestMs     float64 `json:"restMs,omitempty"`
	SignalMs   float64 `json:"signalMs,omitempty"`
	FirstRTPMs float64 `json:"firstRtpMs,omitempty"`

	Kind      string     `json:"kind,omitempty"`
	Publisher string     `json:"publisher,omitempty"`
	Packets   uint64     `json:"packets,omitempty"`
	Expected  uint64     `json:"expected,omitempty"`
	Lost      uint64     `json:"lost,omitempty"`
	Bytes     uint64     `json:"bytes,omitempty"`
	Seconds   float64    `json:"seconds,omitempty"`
	JitterMs  float64    `json:"jitterMs,omitempty"`
	OWD       []hist.Raw `json:"owd,omitempty"`
	Msg       string     `json:"msg,omitempty"`
	// Region is the seat's (joined and track events).
	Region string `json:"region,omitempty"`
	// FirstMs is, for a track, the time from the start of the
	// subscriber's join to the track's first packet.
	FirstMs float64 `json:"firstMs,omitempty"`
}

// joinAnswer is the part of the control plane's join answer used here.
type joinAnswer struct {
	Edge struct {
		URL string `json:"url"`
	} `json:"edge"`
	MediaToken string `json:"mediaToken"`
	Identity   string `json:"identity"`
}

// joinRequest is the body of the control plane's join.
type joinRequest struct {
	AccessToken string           `json:"accessToken"`
	RegionHint  string           `json:"regionHint,omitempty"`
	RTTs        map[string]int64 `json:"rtts,omitempty"`
}

type track struct {
	mu        sync.Mutex
	id        string // subscriber identity
	kind      string
	publisher string
	region    string    // the subscriber's
	joinAt    time.Time // when the subscriber started joining
	first     time.Time
	last      time.Time
	s         *trackStats
}

// Run simulates every seat of plan, reporting through emit (which must be
// safe for concurrent use). It returns when every participant has left.
func Run(ctx context.Context, plan Plan, emit func(Event)) error {
	ctx, cancel := context.WithDeadline(ctx, plan.Until)
	defer cancel()
	var (
		mu     sync.Mutex
		tracks []*track
	)
	addTrack := func(t *track) {
		mu.Lock()
		tracks = append(tracks, t)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i, seat := range plan.Seats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := plan.Start.Add(time.Duration(i) * plan.Spread)
			if !seat.JoinAt.IsZero() {
				at = seat.JoinAt
			}
			t := time.NewTimer(time.Until(at))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := runSeat(ctx, plan, seat, emit, addTrack); err != nil {
				emit(Event{Ev: "error", ID: seat.Name, Msg: err.Error()})
			}
		}()
	}
	// Aggregate throughput and loss once a second.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				var e Event
				mu.Lock()
				for _, tr := range tracks {
					tr.mu.Lock()
					b, p, x := tr.s.tick()
					tr.mu.Unlock()
					e.Bytes += b
					e.Packets += p
					e.Expected += x
				}
				mu.Unlock()
				e.Ev, e.T = "tick", now.UnixNano()
				emit(e)
			}
		}
	}()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, tr := range tracks {
		tr.mu.Lock()
		e := Event{Ev: "track", ID: tr.id, Kind: tr.kind, Publisher: tr.publisher, Packets: tr.s.received,
			Expected: tr.s.expected(), Lost: tr.s.lost(), Bytes: tr.s.bytes, JitterMs: tr.s.jitterMs(), OWD: tr.s.owd.Raw(), Region: tr.region}
		if !tr.first.IsZero() {
			e.Seconds = tr.last.Sub(tr.first).Seconds()
			e.FirstMs = float64(tr.first.Sub(tr.joinAt)) / 1e6
		}
		tr.mu.Unlock()
		emit(e)
	}
	emit(Event{Ev: "done"})
	return nil
}

func join(ctx context.Context, plan Plan, seat Seat) (joinAnswer, error) {
	var ans joinAnswer
	body, _ := json.Marshal(joinRequest{AccessToken: seat.AccessToken, RegionHint: seat.Region, RTTs: seat.RTTs})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(plan.ControlPlane, "/")+"/v1/rooms/"+seat.Alias+"/join", bytes.NewReader(body))
	if err != nil {
		return ans, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ans, fmt.Errorf("join: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return ans, fmt.Errorf("join: HTTP %d: %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return ans, fmt.Errorf("join: %w", err)
	}
	if ans.Edge.URL == "" || ans.MediaToken == "" {
		return ans, errors.New("join: answer without edge URL or media token")
	}
	return ans, nil
}

func runSeat(ctx context.Context, plan Plan, seat Seat, emit func(Event), addTrack func(*track)) error {
	t0 := time.Now()
	var (
		ans    joinAnswer
		restMs float64
	)
	if seat.URL != "" {
		ans.Edge.URL, ans.MediaToken, ans.Identity = seat.URL, seat.AccessToken, seat.Name
	} else {
		var err error
		if ans, err = join(ctx, plan, seat); err != nil {
			return err
		}
		restMs = msSince(t0)
	}
	var firstOnce sync.Once
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		t := &track{id: ans.Identity, kind: tr.Kind().String(), publisher: rp.Identity(), region: seat.Region, joinAt: t0, s: newTrackStats(tr.Codec().ClockRate)}
		addTrack(t)
		go func() {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				now := time.Now()
				firstOnce.Do(func() { emit(Event{Ev: "first_rtp", ID: ans.Identity, FirstRTPMs: msSince(t0), T: now.UnixNano()}) })
				t.mu.Lock()
				if t.first.IsZero() {
					t.first = now
				}
				t.last = now
				t.s.add(pkt.SequenceNumber, pkt.Timestamp, pkt.MarshalSize(), pkt.Payload, now)
				t.mu.Unlock()
			}
		}()
	}
	room, err := lksdk.ConnectToRoomWithToken(ans.Edge.URL, ans.MediaToken, cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		return fmt.Errorf("connect %s: %w", ans.Edge.URL, err)
	}
	defer room.Disconnect()
	emit(Event{Ev: "joined", ID: ans.Identity, RestMs: restMs, SignalMs: msSince(t0), T: time.Now().UnixNano(), Region: seat.Region})
	var wg sync.WaitGroup
	if seat.Publish {
		if err := publish(ctx, room, plan.Simulcast, frameBytes(plan.VideoKbps), &wg); err != nil {
			emit(Event{Ev: "error", ID: ans.Identity, Msg: err.Error()})
		}
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t)) / 1e6 }

// frameBytes is the size of one 30 fps frame of the single-layer camera at
// kbps (600 bytes, about 145 kbps, when 0).
func frameBytes(kbps int) int {
	if kbps <= 0 {
		return 600
	}
	return max(kbps*1000/8/30, 10+stampLen)
}

// publish starts the synthetic camera (simulcast or one layer of size
// bytes a frame) and microphone; the writers stop when ctx ends.
func publish(ctx context.Context, room *lksdk.Room, simulcast bool, size int, wg *sync.WaitGroup) error {
	const frame = time.Second / 30
	writer := func(t *lksdk.LocalTrack, every time.Duration, fill func(i int, b []byte) []byte) {
		defer wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			_ = t.WriteSample(media.Sample{Data: fill(i, make([]byte, max(size, 1000))), Duration: every}, nil)
		}
	}
	vp8Cap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if simulcast {
		layers := []struct {
			l    *livekit.VideoLayer
			size int
		}{
			{&livekit.VideoLayer{Quality: livekit.VideoQuality_LOW, Width: 160, Height: 120}, 150},
			{&livekit.VideoLayer{Quality: livekit.VideoQuality_MEDIUM, Width: 320, Height: 240}, 400},
			{&livekit.VideoLayer{Quality: livekit.VideoQuality_HIGH, Width: 640, Height: 480}, 900},
		}
		var tracks []*lksdk.LocalTrack
		for _, l := range layers {
			t, err := lksdk.NewLocalTrack(vp8Cap, lksdk.WithSimulcast("camera", l.l))
			if err != nil {
				return err
			}
			tracks = append(tracks, t)
		}
		if _, err := room.LocalParticipant.PublishSimulcastTrack(tracks, &lksdk.TrackPublicationOptions{Name: "camera", Source: livekit.TrackSource_CAMERA, VideoWidth: 640, VideoHeight: 480}); err != nil {
			return fmt.Errorf("publish simulcast: %w", err)
		}
		for i, t := range tracks {
			l := layers[i]
			wg.Add(1)
			go writer(t, frame, func(n int, b []byte) []byte {
				vp8Frame(b[:l.size], n, 30, uint16(l.l.Width), uint16(l.l.Height), time.Now())
				return b[:l.size]
			})
		}
	} else {
		t, err := lksdk.NewLocalSampleTrack(vp8Cap)
		if err != nil {
			return err
		}
		if _, err := room.LocalParticipant.PublishTrack(t, &lksdk.TrackPublicationOptions{Name: "camera", Source: livekit.TrackSource_CAMERA, VideoWidth: 640, VideoHeight: 480}); err != nil {
			return fmt.Errorf("publish video: %w", err)
		}
		wg.Add(1)
		go writer(t, frame, func(n int, b []byte) []byte { vp8Frame(b[:size], n, 30, 640, 480, time.Now()); return b[:size] })
	}
	audio, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		return err
	}
	if _, err := room.LocalParticipant.PublishTrack(audio, &lksdk.TrackPublicationOptions{Name: "mic", Source: livekit.TrackSource_MICROPHONE}); err != nil {
		return fmt.Errorf("publish audio: %w", err)
	}
	wg.Add(1)
	go writer(audio, 20*time.Millisecond, func(_ int, b []byte) []byte { opusFrame(b[:80], time.Now()); return b[:80] })
	return nil
}
