package simulcast

import (
	"fmt"
	"math"
	"time"
)

// Track priorities for Allocate: higher is served first.
const (
	PriorityNormal  = 0
	PrioritySpeaker = 1 // the active speaker's camera
	PriorityScreen  = 2 // screen shares: unreadable when starved
)

// Pick is a layer choice for one track: a spatial layer (an index into the
// track's Layers; negative: none, the track receives no video) and the
// highest temporal layer forwarded within it (AllTemporal: every one).
type Pick struct {
	Spatial, Temporal int
}

// AllTemporal is the Temporal of a Pick that drops no temporal layer.
const AllTemporal = MaxTemporal - 1

// On reports whether the pick forwards a layer.
func (p Pick) On() bool { return p.Spatial >= 0 }

// less orders picks by spatial, then temporal layer: the order in which a
// track's allocation climbs.
func (p Pick) less(q Pick) bool {
	return p.Spatial < q.Spatial || p.Spatial == q.Spatial && p.Temporal < q.Temporal
}

// Track is one video track a subscriber receives, for Allocate.
type Track struct {
	Layers   []Layer
	Request  Request
	Priority int
	// Current is what the previous Allocate chose for the track (its
	// Pick; Spatial -1 when it chose none or the track is new).
	Current Pick
	// Paused: the previous Allocate paused the track for want of
	// bandwidth (so a Current of none is not a new track).
	Paused bool
	// Fresh: the track's request changed since the previous Allocate.
	// A fresh track (and a new one) is placed at once in what the others
	// leave of the estimate, without the up hold.
	Fresh bool
}

// Allocation is Allocate's choice for one track.
type Allocation struct {
	Pick Pick
	// Wanted is the best pick the request allows among the active layers
	// (Spatial -1: the request wants nothing).
	Wanted Pick
	// Paused: the track wants a layer and none fits the estimate.
	Paused bool
	// Bitrate is what the pick costs, bits/s (0: unknown).
	Bitrate uint64
}

// AllocatorConfig tunes an Allocator's hysteresis. Zero values mean
// defaults.
type AllocatorConfig struct {
	// UpMargin: an allocation better than the current one is taken only
	// when it fits the estimate divided by this factor (default 1.1) ...
	UpMargin float64
	// UpReserve: ... less this many bits/s (default 50 kbit/s), which is
	// what a layer's rate swings above its measured mean, and the
	// retransmissions and padding that go beside it, take on a link the
	// move fills: a 10 % margin alone is 30 kbit/s at 360p, and 360p at
	// full frame rate beside RED audio then fills a 500 kbit/s link
	// until its queue overflows ...
	UpReserve uint64
	// UpHold: ... continuously for this long (default 1 s).
	UpHold time.Duration
	// MaxUpHold bounds the up hold's backoff (default 16 s): an up move
	// taken back within UpRetract doubles the hold before the next one,
	// so that a link whose estimate keeps promising a layer it cannot
	// carry (a shaper's burst read as headroom, cross traffic) is not
	// tried every second; an up move that lasts 4× UpRetract halves it
	// again.
	MaxUpHold time.Duration
	// DownSlack and DownGrace: when the current picks cost more than the
	// estimate, but the estimate is still at least DownSlack of what they
	// cost (default 0.8), they are kept for up to DownGrace (default
	// 2.5 s) before moving down. A delay-based estimator answers a brief
	// queue with a cut to 0.85× what the path carried; on a link the top
	// layer nearly fills, the encoder's own bursts do that every few
	// seconds, and moving down each time costs a frame rate or resolution
	// step for the seconds the up hold then takes. A real shortfall
	// either cuts the estimate further (below the slack: down at once) or
	// outlasts the grace. DownSlack 1 moves down at once, always.
	DownSlack float64
	DownGrace time.Duration
}

// UpRetract is how soon a move down after a move up says the move up
// failed (the estimate's over-use and loss reactions take one to three
// seconds behind a deep buffer).
const UpRetract = 4 * time.Second

// Defaults of AllocatorConfig.
const (
	DefaultUpMargin  = 1.1
	DefaultUpReserve = 50_000
	DefaultUpHold    = time.Second
	DefaultMaxUpHold = 16 * time.Second
	DefaultDownSlack = 0.8
	DefaultDownGrace = 2500 * time.Millisecond
)

// Validate checks the config.
func (c AllocatorConfig) Validate() error {
	if c.UpHold < 0 || c.UpMargin < 0 || c.UpMargin != 0 && c.UpMargin < 1 {
		return fmt.Errorf("%w: up margin %v (at least 1) or up hold %v", ErrConfig, c.UpMargin, c.UpHold)
	}
	if c.DownSlack < 0 || c.DownSlack > 1 || c.DownGrace < 0 {
		return fmt.Errorf("%w: down slack %v (0 to 1) or down grace %v", ErrConfig, c.DownSlack, c.DownGrace)
	}
	if c.MaxUpHold < 0 || c.MaxUpHold != 0 && c.MaxUpHold < c.UpHold {
		return fmt.Errorf("%w: max up hold %v (at least the up hold %v)", ErrConfig, c.MaxUpHold, c.UpHold)
	}
	return nil
}

// rung is one rung of a track's ladder: a pick and what it costs.
type rung struct {
	pick Pick
	cost uint64
}

// Allocator chooses the layers of one subscriber's video tracks from its
// bandwidth estimate. It keeps state between calls (the up hold) and
// scratch space, so it allocates only when the number of tracks or layers
// grows. Not safe for concurrent use: the goroutine that owns the
// subscriber calls it.
//
// Each track has a ladder of picks, lowest first: for each active layer up
// to the one the request wants, its temporal layers from the fewest (a
// layer above the lowest never below half its frame rate) to all of them.
// A short estimate thus first lowers the frame rate, then the resolution,
// and pauses the track last, as livekit-server's allocator does.
//
// Allocate then:
//   - places new and fresh tracks at once, by the priority fill of what
//     the others' current picks leave;
//   - when the current picks cost more than the estimate (or a new track
//     would get nothing), moves down at once — unless the shortfall is
//     within DownSlack and younger than DownGrace: each track to the lower of
//     its current pick and what the priority fill of the estimate gives it,
//     so nothing rises while the estimate falls;
//   - otherwise moves up only when the priority fill of the estimate less a
//     margin is better than the current picks (more tracks served, or
//     higher rungs, priority class by priority class) and has been so for
//     the up hold: after a probe or the estimate's own growth has shown the
//     headroom for a while. A move up taken back soon (UpRetract) doubles
//     the hold, up to MaxUpHold, so a layer the link cannot carry is not
//     retried every second; calm halves it again.
//
// The priority fill gives every track its lowest rung, highest priority
// first, so a short estimate pauses the least important tracks; then it
// climbs the tracks of the highest priority class to what they want, a
// rung at a time in turn, before the next class climbs.
type Allocator struct {
	upMargin   float64
	upReserve  uint64
	baseHold   int64 // UpHold
	maxHold    int64 // MaxUpHold
	upHold     int64 // the hold now: baseHold, doubled by failed up moves
	upSince    int64 // when a better allocation first fitted + 1; 0: none
	lastUp     int64 // when the last up move was taken + 1; 0: none since
	holdSince  int64 // when upHold last changed + 1
	downSlack  float64
	downGrace  int64
	shortSince int64 // when the current picks first cost more than the estimate + 1; 0: they fit
	upHeld     bool  // HoldUp: a move up whose hold is over waits

	steps                 []rung
	start                 []int // track i's ladder is steps[start[i]:start[i+1]]
	order                 []int // track indices by priority, highest first
	prio                  []int // track i's priority
	cur, pos, fill, fresh []int
	wish, next            uint64
	pending               uint64 // what the better allocation the hold waits for costs
}

// NewAllocator builds an Allocator.
func NewAllocator(cfg AllocatorConfig) (*Allocator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.UpMargin == 0 {
		cfg.UpMargin = DefaultUpMargin
	}
	if cfg.UpHold == 0 {
		cfg.UpHold = DefaultUpHold
	}
	if cfg.MaxUpHold == 0 {
		cfg.MaxUpHold = max(DefaultMaxUpHold, cfg.UpHold)
	}
	if cfg.DownSlack == 0 {
		cfg.DownSlack = DefaultDownSlack
	}
	if cfg.DownGrace == 0 {
		cfg.DownGrace = DefaultDownGrace
	}
	if cfg.UpReserve == 0 {
		cfg.UpReserve = DefaultUpReserve
	}
	return &Allocator{upMargin: cfg.UpMargin, upReserve: cfg.UpReserve, baseHold: int64(cfg.UpHold), maxHold: int64(cfg.MaxUpHold),
		upHold: int64(cfg.UpHold), downSlack: cfg.DownSlack, downGrace: int64(cfg.DownGrace)}, nil
}

// UpHold is the hold an up move waits for now (see AllocatorConfig's
// MaxUpHold).
func (a *Allocator) UpHold() time.Duration { return time.Duration(a.upHold) }

// movedDown notes a move down at now: one soon after a move up doubles
// the hold.
func (a *Allocator) movedDown(now int64) {
	if a.lastUp != 0 && now+1-a.lastUp < int64(UpRetract) {
		a.upHold = min(2*a.upHold, a.maxHold)
		a.holdSince = now + 1
	}
	a.lastUp = 0
}

// relaxHold halves a backed-off hold once the last change has lasted 4×
// UpRetract without a failed up move.
func (a *Allocator) relaxHold(now int64) {
	if a.upHold > a.baseHold && now+1-a.holdSince >= 4*int64(UpRetract) {
		a.upHold = max(a.upHold/2, a.baseHold)
		a.holdSince = now + 1
	}
}

// Wish is what the tracks of the last Allocate would cost at the picks
// their requests want, bits/s: what the subscriber would receive if the
// path allowed (the estimator probes for it).
func (a *Allocator) Wish() uint64 { return a.wish }

// Pending reports the move up the hold is waiting for: what the better
// allocation costs (bits/s, without the margin), and how long the hold
// has left at now. False when no move up is pending.
func (a *Allocator) Pending(now int64) (cost uint64, left time.Duration, ok bool) {
	if a.upSince == 0 {
		return 0, 0, false
	}
	return a.pending, time.Duration(max(a.upSince-1+a.upHold-now, 0)), true
}

// HoldUp keeps, while held, a move up whose hold is over from being taken
// (it stays pending): the caller is still checking that the path carries
// it (the room pads the connection up to it first, see room.verifyUp).
// Moves down and the placement of new tracks are not held.
func (a *Allocator) HoldUp(held bool) { a.upHeld = held }

// Headroom is what the estimate must show for an allocation costing cost
// to be moved up to: cost with the up margin and the up reserve.
func (a *Allocator) Headroom(cost uint64) uint64 {
	return uint64(math.Ceil(float64(cost)*a.upMargin)) + a.upReserve
}

// Next is the estimate at which the allocator would take one step up from
// the last Allocate's picks (the cheapest: one track one rung higher), the
// up margin included; 0 when every track has what it wants. What a probe
// should show before a move up: probing for the next step only, not the
// whole wish, keeps a probe's burst within reach of the link it tests.
func (a *Allocator) Next() uint64 { return a.next }

// ladder builds track t's ladder at the end of a.steps.
func (a *Allocator) ladder(t *Track) {
	w := Wanted(t.Layers, t.Request)
	lowest := true
	for s := 0; s <= w; s++ {
		l := &t.Layers[s]
		if !l.Active {
			continue
		}
		if l.Temporals > 1 {
			first := 0
			if !lowest {
				first = max(l.Temporals-2, 0) // half the frame rate
			}
			for tl := first; tl < l.Temporals; tl++ {
				p := Pick{Spatial: s, Temporal: tl}
				if tl == l.Temporals-1 {
					p.Temporal = AllTemporal
				}
				a.steps = append(a.steps, rung{pick: p, cost: l.Temporal[tl]})
			}
		} else {
			a.steps = append(a.steps, rung{pick: Pick{Spatial: s, Temporal: AllTemporal}, cost: l.Bitrate})
		}
		lowest = false
	}
}

// rungs is track i's ladder.
func (a *Allocator) rungs(i int) []rung { return a.steps[a.start[i]:a.start[i+1]] }

// cost is what rung k of track i costs (0 for none).
func (a *Allocator) cost(i, k int) uint64 {
	if k < 0 {
		return 0
	}
	return a.rungs(i)[k].cost
}

// place is the rung of track i that stands for pick p: the highest rung
// at or below it (the lowest rung if p is below them all), -1 for none.
func (a *Allocator) place(i int, p Pick) int {
	r := a.rungs(i)
	if !p.On() || len(r) == 0 {
		return -1
	}
	k := 0
	for j := range r {
		if p.less(r[j].pick) {
			break
		}
		k = j
	}
	return k
}

// Allocate chooses each track's pick from the subscriber's video
// bandwidth estimate (bits/s, audio already subtracted; 0: unknown, and
// every track gets what it wants) at now (nanoseconds, the caller's
// monotonic clock), writing them into out (grown to len(tracks)), which it
// returns. See Allocator for the rules.
func (a *Allocator) Allocate(estimate uint64, tracks []Track, now int64, out []Allocation) []Allocation {
	n := len(tracks)
	if cap(out) < n {
		out = make([]Allocation, n)
	}
	out = out[:n]
	a.steps = a.steps[:0]
	a.start = growInt(a.start, n+1)
	a.cur, a.pos, a.fill, a.fresh = growInt(a.cur, n), growInt(a.pos, n), growInt(a.fill, n), growInt(a.fresh, n)
	a.order, a.prio = growInt(a.order, n), growInt(a.prio, n)
	a.wish = 0
	for i := range tracks {
		a.start[i] = len(a.steps)
		a.ladder(&tracks[i])
		a.start[i+1] = len(a.steps)
		a.order[i] = i
		a.prio[i] = tracks[i].Priority
		if r := a.rungs(i); len(r) > 0 {
			a.wish += r[len(r)-1].cost
		}
		a.cur[i] = a.place(i, tracks[i].Current)
		a.fresh[i] = 0
		if len(a.rungs(i)) > 0 && (tracks[i].Fresh || a.cur[i] < 0 && !tracks[i].Paused) {
			a.fresh[i] = 1
		}
	}
	// Stable insertion sort by priority, highest first (few tracks).
	for i := 1; i < n; i++ {
		for j := i; j > 0 && a.prio[a.order[j]] > a.prio[a.order[j-1]]; j-- {
			a.order[j], a.order[j-1] = a.order[j-1], a.order[j]
		}
	}
	switch {
	case estimate == 0:
		for i := range tracks {
			a.pos[i] = len(a.rungs(i)) - 1
		}
		a.upSince = 0
	case !a.placeFresh(estimate):
		if a.graced(estimate, now) {
			a.upSince = 0
			break
		}
		// Down: the current picks cost more than the estimate, or a new
		// track would get nothing beside them.
		a.shortSince = 0
		a.priorityFill(estimate, a.fill, nil)
		down := false
		for i := range tracks {
			a.pos[i] = a.fill[i]
			if a.fresh[i] == 0 {
				a.pos[i] = min(a.cur[i], a.fill[i])
				down = down || a.pos[i] < a.cur[i]
			}
		}
		if down {
			a.movedDown(now)
		}
		a.upSince = 0
	default:
		a.shortSince = 0
		a.relaxHold(now)
		a.priorityFill(uint64(float64(estimate-min(estimate, a.upReserve))/a.upMargin), a.fill, nil)
		if !a.better(a.fill, a.pos) {
			a.upSince = 0
			break
		}
		if a.upSince == 0 {
			a.upSince = now + 1
		}
		a.pending = 0
		for i := range a.fill {
			a.pending += a.cost(i, a.fill[i])
		}
		if now+1-a.upSince >= a.upHold && !a.upHeld {
			copy(a.pos, a.fill)
			a.upSince = 0
			a.lastUp = now + 1
		}
	}
	a.next = a.nextStep()
	for i := range tracks {
		r := a.rungs(i)
		al := Allocation{Pick: Pick{Spatial: -1, Temporal: -1}, Wanted: Pick{Spatial: -1, Temporal: -1}}
		if len(r) > 0 {
			al.Wanted = r[len(r)-1].pick
			al.Paused = a.pos[i] < 0
		}
		if k := a.pos[i]; k >= 0 {
			al.Pick, al.Bitrate = r[k].pick, r[k].cost
		}
		out[i] = al
	}
	return out
}

// nextStep is Next for the picks in a.pos.
func (a *Allocator) nextStep() uint64 {
	var total, step uint64
	found := false
	for i := range a.pos {
		k := a.pos[i]
		total += a.cost(i, k)
		if k+1 >= len(a.rungs(i)) {
			continue
		}
		d := a.cost(i, k+1) - min(a.cost(i, k+1), a.cost(i, k))
		if !found || d < step {
			step, found = d, true
		}
	}
	if !found {
		return 0
	}
	return a.Headroom(total+step) + 1
}

// placeFresh keeps the tracks that are not fresh on their current picks
// and places the fresh ones in what is left of estimate, by the priority
// fill among themselves (a.pos). It reports false when the current picks
// alone cost more than estimate or a fresh track gets nothing.
func (a *Allocator) placeFresh(estimate uint64) bool {
	var used uint64
	some := false
	for i := range a.cur {
		a.pos[i] = a.cur[i]
		if a.fresh[i] == 0 {
			used += a.cost(i, a.cur[i])
		} else {
			some = true
		}
	}
	if used > estimate {
		return false
	}
	if !some {
		return true
	}
	a.priorityFill(estimate-used, a.fill, a.fresh)
	for i, f := range a.fresh {
		if f == 0 {
			continue
		}
		if a.fill[i] < 0 {
			return false
		}
		a.pos[i] = a.fill[i]
	}
	return true
}

// graced reports whether the current picks, which cost more than the
// estimate, are kept for now (DownSlack, DownGrace): no track is new or
// fresh, the estimate is within the slack of their cost, and the shortfall
// began less than the grace ago. a.pos holds the current picks.
func (a *Allocator) graced(estimate uint64, now int64) bool {
	var used uint64
	for i := range a.cur {
		if a.fresh[i] != 0 {
			return false
		}
		used += a.cost(i, a.cur[i])
	}
	if float64(estimate) < a.downSlack*float64(used) {
		return false
	}
	if a.shortSince == 0 {
		a.shortSince = now + 1
	}
	return now+1-a.shortSince < a.downGrace
}

// priorityFill writes into pos the rungs the estimate buys by priority
// (see Allocator), for the tracks i with only[i] != 0 (every track when
// only is nil; the others get none).
func (a *Allocator) priorityFill(estimate uint64, pos, only []int) {
	left := estimate
	for _, i := range a.order {
		pos[i] = -1
		if only != nil && only[i] == 0 {
			continue
		}
		if r := a.rungs(i); len(r) > 0 && r[0].cost <= left {
			pos[i] = 0
			left -= r[0].cost
		}
	}
	for from := 0; from < len(a.order); {
		to := from + 1
		prio := a.prio[a.order[from]]
		for to < len(a.order) && a.prio[a.order[to]] == prio {
			to++
		}
		for climbed := true; climbed; {
			climbed = false
			for _, i := range a.order[from:to] {
				r := a.rungs(i)
				if pos[i] < 0 || pos[i]+1 >= len(r) {
					continue
				}
				next, cur := r[pos[i]+1].cost, r[pos[i]].cost
				if delta := next - min(next, cur); delta <= left {
					pos[i]++
					left -= delta
					climbed = true
				}
			}
		}
		from = to
	}
}

// better reports whether allocation x beats y: priority class by class,
// highest first, more tracks served, then higher rungs in all.
func (a *Allocator) better(x, y []int) bool {
	for from := 0; from < len(a.order); {
		prio := a.prio[a.order[from]]
		var servedX, servedY, sumX, sumY int
		to := from
		for ; to < len(a.order) && a.prio[a.order[to]] == prio; to++ {
			i := a.order[to]
			if x[i] >= 0 {
				servedX++
				sumX += x[i]
			}
			if y[i] >= 0 {
				servedY++
				sumY += y[i]
			}
		}
		if servedX != servedY {
			return servedX > servedY
		}
		if sumX != sumY {
			return sumX > sumY
		}
		from = to
	}
	return false
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}
