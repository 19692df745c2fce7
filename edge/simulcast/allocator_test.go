package simulcast

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
)

var high = Request{Quality: livekit.VideoQuality_HIGH}

// temporal is three() with Chromium's three temporal layers (7.5, 15 and
// 30 fps) on every layer: the base carries half the bits, the first two
// three quarters.
func temporal() []Layer {
	l := three()
	for i := range l {
		b := l[i].Bitrate
		l[i].Temporals = 3
		l[i].Temporal = [MaxTemporal]uint64{b / 2, b * 3 / 4, b}
	}
	return l
}

// subscriber drives an Allocator as the room does: each call passes the
// previous allocations back as Current and Paused.
type subscriber struct {
	t      *testing.T
	a      *Allocator
	tracks []Track
	out    []Allocation
	slack  float64 // the picks may cost the estimate divided by this
}

// newSubscriber's allocator moves down at once (DownSlack 1), as most
// tests here expect; newGracedSubscriber's has the default slack.
func newSubscriber(t *testing.T, tracks ...Track) *subscriber {
	t.Helper()
	return newSubscriberWith(t, AllocatorConfig{DownSlack: 1}, tracks...)
}

func newSubscriberWith(t *testing.T, cfg AllocatorConfig, tracks ...Track) *subscriber {
	t.Helper()
	a, err := NewAllocator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tracks {
		tracks[i].Current = Pick{Spatial: -1, Temporal: -1}
	}
	slack := cfg.DownSlack
	if slack == 0 {
		slack = DefaultDownSlack
	}
	return &subscriber{t: t, a: a, tracks: tracks, slack: slack}
}

// at allocates estimate at time at (ms) and returns the picks.
func (s *subscriber) at(at int64, estimate uint64) []Pick {
	s.out = s.a.Allocate(estimate, s.tracks, at*ms, s.out)
	picks := make([]Pick, len(s.out))
	var sum uint64
	for i, al := range s.out {
		picks[i] = al.Pick
		s.tracks[i].Current, s.tracks[i].Paused, s.tracks[i].Fresh = al.Pick, al.Paused, false
		sum += al.Bitrate
	}
	if estimate > 0 && float64(sum)*s.slack > float64(estimate) {
		s.t.Fatalf("at %d ms: picks %v cost %d, above the estimate %d", at, picks, sum, estimate)
	}
	return picks
}

func cam(p int, layers []Layer) Track { return Track{Layers: layers, Request: high, Priority: p} }

func p(s, t int) Pick { return Pick{Spatial: s, Temporal: t} }

var (
	off = Pick{Spatial: -1, Temporal: -1}
	all = AllTemporal
)

// A first allocation (every track new) from the estimate alone.
func TestAllocateFirst(t *testing.T) {
	tests := []struct {
		name     string
		estimate uint64
		tracks   []Track
		want     []Pick
	}{
		{"unknown estimate: everything", 0, []Track{cam(0, three()), cam(0, three())}, []Pick{p(2, all), p(2, all)}},
		{"plenty", 10_000_000, []Track{cam(0, three()), cam(0, three())}, []Pick{p(2, all), p(2, all)}},
		{"screen share first", 2_000_000, []Track{cam(PriorityNormal, three()), cam(PriorityScreen, three())}, []Pick{p(0, all), p(2, all)}},
		{"speaker before the others", 2_500_000, []Track{cam(0, three()), cam(PrioritySpeaker, three()), cam(0, three())}, []Pick{p(1, all), p(2, all), p(0, all)}},
		{"equal tracks share fairly", 1_400_000, []Track{cam(0, three()), cam(0, three())}, []Pick{p(1, all), p(1, all)}},
		{"equal tracks share fairly above one's top", 2_000_000, []Track{cam(0, three()), cam(0, three())}, []Pick{p(1, all), p(1, all)}},
		{"starved: the least important is paused", 200_000, []Track{cam(0, three()), cam(PriorityScreen, three())}, []Pick{off, p(0, all)}},
		{"a disabled track costs nothing", 1_800_000, []Track{{Layers: three(), Request: Request{Disabled: true}}, cam(0, three())}, []Pick{off, p(2, all)}},
		{"requests cap the allocation", 10_000_000, []Track{{Layers: three(), Request: Request{Quality: livekit.VideoQuality_LOW}}, cam(0, three())}, []Pick{p(0, all), p(2, all)}},
		// 360p at 30 fps (500 kbit/s) does not fit, at 15 fps (375) does:
		// fewer frames before fewer pixels.
		{"temporal layers before a lower resolution", 400_000, []Track{cam(0, temporal())}, []Pick{p(1, 1)}},
		// ... but never below half the frame rate above the lowest layer:
		// 360p at 7.5 fps (250) is not a rung, 180p at 30 fps is.
		{"no quarter frame rate above the lowest layer", 300_000, []Track{cam(0, temporal())}, []Pick{p(0, all)}},
		{"the lowest layer at a quarter frame rate", 100_000, []Track{cam(0, temporal())}, []Pick{p(0, 0)}},
		{"nothing fits: paused", 50_000, []Track{cam(0, temporal())}, []Pick{off}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSubscriber(t, tt.tracks...)
			if got := s.at(0, tt.estimate); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("picks %v, want %v", got, tt.want)
			}
		})
	}
}

// step is one Allocate call of a scenario: at (ms), the estimate, and the
// picks wanted after it.
type step struct {
	at       int64
	estimate uint64
	want     []Pick
	change   func(*subscriber)
}

func TestAllocateOverTime(t *testing.T) {
	tests := []struct {
		name   string
		tracks []Track
		steps  []step
	}{
		{"down at once, up only after the hold", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 1_000_000, want: []Pick{p(1, all)}}, // at once
			{at: 200, estimate: 3_000_000, want: []Pick{p(1, all)}}, // headroom: the hold starts
			{at: 1100, estimate: 3_000_000, want: []Pick{p(1, all)}},
			{at: 1200, estimate: 3_000_000, want: []Pick{p(2, all)}}, // a second of headroom
		}},
		{"the hold starts over when the headroom goes", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 1_000_000, want: []Pick{p(1, all)}},
			{at: 100, estimate: 3_000_000, want: []Pick{p(1, all)}},
			{at: 800, estimate: 1_000_000, want: []Pick{p(1, all)}},
			{at: 900, estimate: 3_000_000, want: []Pick{p(1, all)}},
			{at: 1800, estimate: 3_000_000, want: []Pick{p(1, all)}},
			{at: 1900, estimate: 3_000_000, want: []Pick{p(2, all)}},
		}},
		{"up needs the margin and the reserve", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 1_000_000, want: []Pick{p(1, all)}},
			{at: 100, estimate: 1_800_000, want: []Pick{p(1, all)}}, // fits 720p, not with 10 %
			{at: 5000, estimate: 1_800_000, want: []Pick{p(1, all)}},
			{at: 5100, estimate: 1_900_000, want: []Pick{p(1, all)}}, // with 10 %, not with 50 kbit/s more
			{at: 7000, estimate: 1_900_000, want: []Pick{p(1, all)}},
			{at: 7100, estimate: 1_930_000, want: []Pick{p(1, all)}},
			{at: 8100, estimate: 1_930_000, want: []Pick{p(2, all)}},
		}},
		{"kept while it fits, however close", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 1_700_000, want: []Pick{p(2, all)}},
			{at: 200, estimate: 1_699_999, want: []Pick{p(1, all)}},
		}},
		{"paused when nothing fits, resumed after the hold", []Track{cam(0, temporal())}, []step{
			{at: 0, estimate: 1_000_000, want: []Pick{p(1, all)}},
			{at: 100, estimate: 60_000, want: []Pick{off}},
			{at: 200, estimate: 220_000, want: []Pick{off}},
			{at: 1200, estimate: 220_000, want: []Pick{p(0, all)}},
		}},
		{"frame rate first, then resolution, on the way down", []Track{cam(0, temporal())}, []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 1_500_000, want: []Pick{p(2, 1)}},
			{at: 200, estimate: 1_000_000, want: []Pick{p(1, all)}},
			{at: 300, estimate: 400_000, want: []Pick{p(1, 1)}},
			{at: 400, estimate: 200_000, want: []Pick{p(0, all)}},
			{at: 500, estimate: 100_000, want: []Pick{p(0, 0)}},
		}},
		{"a new track is placed at once in what the others leave", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 900_000, want: []Pick{p(1, all)}},
			{at: 100, estimate: 900_000, want: []Pick{p(1, all), p(0, all)}, change: func(s *subscriber) {
				s.tracks = append(s.tracks, Track{Layers: three(), Request: high, Current: off})
			}},
		}},
		{"a new screen share takes from the cameras at once", []Track{cam(0, three()), cam(0, three())}, []step{
			{at: 0, estimate: 1_000_000, want: []Pick{p(1, all), p(1, all)}},
			{at: 100, estimate: 1_000_000, want: []Pick{p(0, all), p(0, all), p(1, all)}, change: func(s *subscriber) {
				s.tracks = append(s.tracks, Track{Layers: three(), Request: high, Priority: PriorityScreen, Current: off})
			}},
		}},
		{"a larger request is met at once when it fits", []Track{{Layers: three(), Request: Request{Quality: livekit.VideoQuality_LOW}}}, []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(0, all)}},
			{at: 100, estimate: 3_000_000, want: []Pick{p(2, all)}, change: func(s *subscriber) {
				s.tracks[0].Request, s.tracks[0].Fresh = high, true
			}},
		}},
		{"a smaller request at once", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 3_000_000, want: []Pick{p(0, all)}, change: func(s *subscriber) {
				s.tracks[0].Request, s.tracks[0].Fresh = Request{Quality: livekit.VideoQuality_LOW}, true
			}},
		}},
		{"a new speaker gets the better layer after the hold", []Track{cam(PrioritySpeaker, three()), cam(0, three())}, []step{
			{at: 0, estimate: 2_500_000, want: []Pick{p(2, all), p(1, all)}},
			{at: 100, estimate: 2_500_000, want: []Pick{p(2, all), p(1, all)}, change: func(s *subscriber) {
				s.tracks[0].Priority, s.tracks[1].Priority = PriorityNormal, PrioritySpeaker
			}},
			{at: 1000, estimate: 2_500_000, want: []Pick{p(2, all), p(1, all)}},
			{at: 1100, estimate: 2_500_000, want: []Pick{p(1, all), p(2, all)}},
		}},
		{"a layer the publisher stopped is left at once", []Track{cam(0, three())}, []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 3_000_000, want: []Pick{p(1, all)}, change: func(s *subscriber) {
				s.tracks[0].Layers[2].Active = false
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSubscriber(t, tt.tracks...)
			for _, st := range tt.steps {
				if st.change != nil {
					st.change(s)
				}
				if got := s.at(st.at, st.estimate); fmt.Sprint(got) != fmt.Sprint(st.want) {
					t.Fatalf("at %d ms, %d bit/s: picks %v, want %v", st.at, st.estimate, got, st.want)
				}
			}
		})
	}
}

// An estimate jittering around a layer's bitrate every 100 ms, and two
// equal tracks whose fair share could go either way, must not make the
// choice flap.
func TestAllocateDoesNotFlap(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tracks []Track
		est    func(i int64) uint64
	}{
		{"estimate dipping below 720p every second", []Track{cam(0, three())}, func(i int64) uint64 {
			if i%10 == 9 {
				return 1_650_000
			}
			return 1_950_000
		}},
		{"two cameras, jittery layer bitrates", []Track{cam(0, temporal()), cam(0, temporal())}, func(int64) uint64 { return 2_300_000 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSubscriber(t, tt.tracks...)
			changes, last := 0, ""
			for i := int64(0); i < 600; i++ { // a minute
				for j := range s.tracks {
					// ±5 % on every layer, out of phase between tracks.
					l := temporal()
					if len(tt.tracks[j].Layers) > 0 && tt.tracks[j].Layers[0].Temporals == 0 {
						l = three()
					}
					f := 1.05
					if (i+int64(j))%2 == 0 {
						f = 0.95
					}
					for k := range l {
						l[k].Bitrate = uint64(float64(l[k].Bitrate) * f)
						for x := range l[k].Temporal {
							l[k].Temporal[x] = uint64(float64(l[k].Temporal[x]) * f)
						}
					}
					s.tracks[j].Layers = l
				}
				if got := fmt.Sprint(s.at(i*100, tt.est(i))); got != last {
					changes++
					last = got
				}
			}
			if changes > 3 {
				t.Fatalf("%d changes of the picks in a minute", changes)
			}
		})
	}
}

func TestAllocateWish(t *testing.T) {
	s := newSubscriber(t, cam(0, three()), Track{Layers: three(), Request: Request{Quality: livekit.VideoQuality_MEDIUM}},
		Track{Layers: three(), Request: Request{Disabled: true}})
	s.at(0, 100_000)
	if got, want := s.a.Wish(), uint64(1_700_000+500_000); got != want {
		t.Fatalf("wish %d, want %d", got, want)
	}
	if !s.out[0].Paused || s.out[2].Paused {
		t.Fatalf("paused %v %v %v: want the starved track paused, not the disabled one", s.out[0].Paused, s.out[1].Paused, s.out[2].Paused)
	}
	if w := s.out[1].Wanted; w != p(1, all) {
		t.Fatalf("wanted %v, want 360p with every temporal layer", w)
	}
}

func TestAllocatorConfig(t *testing.T) {
	for _, cfg := range []AllocatorConfig{{UpMargin: -1}, {UpMargin: 0.9}, {UpHold: -time.Second}, {UpHold: 2 * time.Second, MaxUpHold: time.Second}, {MaxUpHold: -1},
		{DownSlack: -0.1}, {DownSlack: 1.5}, {DownGrace: -time.Second}} {
		if _, err := NewAllocator(cfg); !errors.Is(err, ErrConfig) {
			t.Fatalf("%+v: err = %v", cfg, err)
		}
	}
}

func TestAllocateNoAllocs(t *testing.T) {
	a, err := NewAllocator(AllocatorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tracks := []Track{cam(0, temporal()), cam(PriorityScreen, three())}
	out := a.Allocate(1_000_000, tracks, 0, nil)
	now := int64(0)
	if n := testing.AllocsPerRun(100, func() {
		now += 100 * ms
		out = a.Allocate(1_000_000, tracks, now, out)
	}); n != 0 {
		t.Fatalf("%v allocations per Allocate", n)
	}
}

// An estimate of Needed, held for the up hold, takes the wish: a probe
// aimed at Needed that succeeds unlocks the layer it was sent for (aimed at
// the wish alone, it fell short of the up margin and never did).
// Next is the estimate that unlocks one step up: held for the up hold it
// moves the track a rung up (and no further), and just under it nothing
// moves. At the top, there is nothing to probe for.
func TestNextUnlocksOneStep(t *testing.T) {
	s := newSubscriber(t, cam(0, temporal()))
	s.at(0, 700_000)
	before := s.out[0].Pick
	next := s.a.Next()
	if next == 0 || next >= 1_700_000 {
		t.Fatalf("at %v: Next %d, want a step below the 720p wish", before, next)
	}
	var got Pick
	for at := int64(100); at <= 3000; at += 100 {
		got = s.at(at, next)[0]
	}
	if !before.less(got) {
		t.Fatalf("after 3 s at Next (%d): %v, want above %v", next, got, before)
	}
	s2 := newSubscriber(t, cam(0, temporal()))
	s2.at(0, 700_000)
	for at := int64(100); at <= 3000; at += 100 {
		got = s2.at(at, next-2)[0]
	}
	if got != before {
		t.Fatalf("just under Next: %v, want %v unchanged", got, before)
	}
	top := newSubscriber(t, cam(0, three()))
	top.at(0, 10_000_000)
	if n := top.a.Next(); n != 0 {
		t.Fatalf("at the top: Next %d, want 0", n)
	}
}

// A link that keeps promising 720p and cannot carry it (a shaper's burst
// read as headroom, cross traffic): each move up is taken back a second
// later. The hold before the next try doubles each time (1, 2, 4, 8, 16
// s), so a minute holds a handful of tries, not thirty; once 720p lasts,
// the hold relaxes back towards a second.
func TestFailedUpMovesBackOff(t *testing.T) {
	s := newSubscriber(t, cam(0, three()))
	const promise, carries = 2_200_000, 700_000
	var ups []int64 // ms
	var upAt int64 = -1
	now := int64(0)
	for ; now < 60_000; now += 100 {
		est := uint64(promise)
		if upAt >= 0 && now-upAt <= 1000 {
			est = carries // over-use after the move up
		}
		if got := s.at(now, est); got[0].Spatial == 2 && upAt < 0 {
			upAt = now
			ups = append(ups, now)
		} else if got[0].Spatial < 2 {
			upAt = -1
		}
	}
	t.Logf("moves up at %v ms; hold now %v", ups, s.a.UpHold())
	if len(ups) < 2 || len(ups) > 7 {
		t.Fatalf("%d moves up to a layer the link cannot carry in a minute; want 2–7 (the hold backing off)", len(ups))
	}
	for i := 2; i < len(ups); i++ {
		if ups[i]-ups[i-1] < ups[i-1]-ups[i-2] {
			t.Fatalf("moves up at %v ms: the waits between them shrink", ups)
		}
	}
	if last := ups[len(ups)-1] - ups[len(ups)-2]; last < int64(DefaultMaxUpHold/time.Millisecond) {
		t.Fatalf("moves up at %v ms: the last wait %d ms, want at least the maximum hold", ups, last)
	}
	if s.a.UpHold() != DefaultMaxUpHold {
		t.Fatalf("hold %v after a minute of failed moves up; want the maximum %v", s.a.UpHold(), DefaultMaxUpHold)
	}
	// The link now carries 720p: the move up lasts and the hold relaxes.
	for end := now + 60_000; now < end; now += 100 {
		s.at(now, promise)
	}
	if got := s.tracks[0].Current; got.Spatial != 2 {
		t.Fatalf("pick %v on a link that carries 720p", got)
	}
	if s.a.UpHold() > 2*DefaultUpHold {
		t.Fatalf("hold %v after a minute at 720p; want it back near %v", s.a.UpHold(), DefaultUpHold)
	}
}

// A shortfall of the estimate within the down slack keeps the picks for
// the down grace: a delay-based estimator's cut to 0.85x what the path
// carried, after a queue the encoder's own burst made, must not cost a
// layer when the estimate recovers within the grace. A deeper cut, or a
// shortfall that outlasts the grace, moves down.
func TestShortfallWithinTheSlackIsGraced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"kept through a brief cut", []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 1_450_000, want: []Pick{p(2, all)}}, // 0.85x 720p's cost
			{at: 2500, estimate: 1_450_000, want: []Pick{p(2, all)}},
			{at: 2600, estimate: 1_800_000, want: []Pick{p(2, all)}}, // recovered
			{at: 2700, estimate: 1_450_000, want: []Pick{p(2, all)}}, // a new grace
			{at: 5100, estimate: 1_450_000, want: []Pick{p(2, all)}},
		}},
		{"down once the grace is over", []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 1_450_000, want: []Pick{p(2, all)}},
			{at: 2500, estimate: 1_450_000, want: []Pick{p(2, all)}},
			{at: 2600, estimate: 1_450_000, want: []Pick{p(1, all)}},
		}},
		{"down at once below the slack", []step{
			{at: 0, estimate: 3_000_000, want: []Pick{p(2, all)}},
			{at: 100, estimate: 1_450_000, want: []Pick{p(2, all)}},
			{at: 200, estimate: 1_300_000, want: []Pick{p(1, all)}}, // < 0.8x
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSubscriberWith(t, AllocatorConfig{}, cam(0, three()))
			for _, st := range tc.steps {
				if got := s.at(st.at, st.estimate); fmt.Sprint(got) != fmt.Sprint(st.want) {
					t.Fatalf("at %d ms, estimate %d: picks %v, want %v", st.at, st.estimate, got, st.want)
				}
			}
		})
	}
}

// HoldUp keeps a move up pending past its hold; released, the move is
// taken at the next call. Moves down are not held.
func TestHoldUp(t *testing.T) {
	s := newSubscriber(t, cam(0, three()))
	s.at(0, 1_000_000)
	s.a.HoldUp(true)
	s.at(100, 3_000_000)
	if got := s.at(1200, 3_000_000); fmt.Sprint(got) != fmt.Sprint([]Pick{p(1, all)}) {
		t.Fatalf("held: picks %v, want 360p still", got)
	}
	if _, _, ok := s.a.Pending(1200 * ms); !ok {
		t.Fatal("the held move is no longer pending")
	}
	if got := s.at(1300, 200_000); fmt.Sprint(got) != fmt.Sprint([]Pick{p(0, all)}) {
		t.Fatalf("a move down while held: picks %v, want 180p", got)
	}
	s.a.HoldUp(false)
	s.at(1400, 3_000_000)
	if got := s.at(2500, 3_000_000); fmt.Sprint(got) != fmt.Sprint([]Pick{p(2, all)}) {
		t.Fatalf("released: picks %v, want 720p", got)
	}
}
