package reporter

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/internal/occupancy"
	"github.com/spacecast/spacecast/internal/retry"
)

// ErrInvalid marks a bad configuration of a Reporter or a Client.
var ErrInvalid = errors.New("reporter: invalid configuration")

// Config tunes a Reporter. Zero values mean the defaults.
type Config struct {
	// URL is the control plane's base URL (scheme://host[:port]) that
	// the caller hands to NewClient: `spacecast edge` posts there; empty
	// means the edge reports to nobody. The Reporter itself does not use it.
	URL string `yaml:"url"`
	// URLs are further control-plane replicas (their internal addresses):
	// a batch the current one cannot take goes to the next (NewClient's
	// more). Any replica takes any edge's batches.
	URLs []string `yaml:"urls"`
	// Node is the edge's node id (required; set from the edge's config).
	Node string `yaml:"-"`
	// QueueSize bounds the changes waiting to be sent (4096). When it is
	// full a change is dropped, counted, and the next send is a full
	// snapshot, which heals the loss.
	QueueSize int `yaml:"queueSize"`
	// MaxBatch caps the changes in one batch (500).
	MaxBatch int `yaml:"maxBatch"`
	// SnapshotInterval is how often the whole state is sent (15 s): the
	// control plane's heartbeat from this edge.
	SnapshotInterval time.Duration `yaml:"snapshotInterval"`
	// Timeout bounds one send (5 s).
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed send is retried (3) before the
	// batch is dropped (counted; a snapshot follows).
	Retries int `yaml:"retries"`
	// RetryBackoff is the first retry's delay (500 ms), doubled per retry,
	// with jitter.
	RetryBackoff time.Duration `yaml:"retryBackoff"`
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.MaxBatch > occupancy.MaxRooms {
		c.MaxBatch = occupancy.MaxRooms
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = 15 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 3
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	return c
}

// Deps are what a Reporter works with.
type Deps struct {
	Sink   occupancy.Sink // required
	Logger *slog.Logger
	// Registerer takes the Reporter's counters; nil: not registered.
	Registerer prometheus.Registerer
	// Next, when set, hears every event after the Reporter (the edge has
	// one Observer slot: chain the others here).
	Next room.Observer
}

// Reporter is a room.Observer that reports room occupancy to an occupancy.Sink. Its
// observer methods never block; Run sends.
type Reporter struct {
	cfg  Config
	sink occupancy.Sink
	next room.Observer
	log  *slog.Logger
	boot string
	kick chan struct{}
	m    metrics

	mu     sync.Mutex
	rooms  map[string]map[string]occupancy.Session // room → participant sid → session
	queue  []queuedState
	queued int  // sessions listed in queue
	resync bool // a change was lost: send a snapshot
	seq    uint64
	// records are the recordings of this edge not yet taken in a final
	// state (every snapshot lists them), recQueue their changes to send.
	records  map[string]occupancy.RecordState
	recQueue []occupancy.RecordState
}

// queuedState is a queued change and whether it only took sessions away
// from the room's state before it.
type queuedState struct {
	occupancy.RoomState
	onlyLeft bool
}

// Bounds of the sessions a Reporter holds and sends: a queue of changes
// over maxQueuedSessions is dropped (a snapshot follows), a batch carries
// at most maxBatchSessions (about 2 MB of JSON, half of occupancy.MaxBodyBytes).
const (
	maxQueuedSessions = 50_000
	maxBatchSessions  = 20_000
)

type metrics struct {
	sent, failed, retried, dropped prometheus.Counter
}

var _ room.Observer = (*Reporter)(nil)

// New checks cfg and deps and builds a Reporter; it starts nothing.
func New(cfg Config, deps Deps) (*Reporter, error) {
	if cfg.Node == "" {
		return nil, fmt.Errorf("%w: Config.Node is required", ErrInvalid)
	}
	if deps.Sink == nil {
		return nil, fmt.Errorf("%w: Deps.Sink is required", ErrInvalid)
	}
	cfg = cfg.withDefaults()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	next := deps.Next
	if next == nil {
		next = room.NopObserver{}
	}
	b := make([]byte, 8)
	if _, err := crand.Read(b); err != nil {
		return nil, fmt.Errorf("reporter: random: %w", err)
	}
	r := &Reporter{
		cfg: cfg, sink: deps.Sink, next: next, log: log.With("component", "report", "node", cfg.Node),
		boot: hex.EncodeToString(b), kick: make(chan struct{}, 1), rooms: map[string]map[string]occupancy.Session{}, records: map[string]occupancy.RecordState{},
		m: metrics{
			sent:    prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_edge_report_batches_sent_total", Help: "Room-state batches the control plane took."}),
			failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_edge_report_batches_failed_total", Help: "Room-state batches dropped after their retries."}),
			retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_edge_report_retries_total", Help: "Retried sends of room-state batches."}),
			dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_edge_report_dropped_total", Help: "Room-state changes dropped on a full queue (a snapshot follows)."}),
		},
	}
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{r.m.sent, r.m.failed, r.m.retried, r.m.dropped} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("reporter: metrics: %w", err)
			}
		}
	}
	return r, nil
}

// RoomStarted implements room.Observer.
func (r *Reporter) RoomStarted(rm *livekit.Room) { r.next.RoomStarted(rm) }

// RoomFinished implements room.Observer: the room has nobody now.
func (r *Reporter) RoomFinished(rm *livekit.Room) {
	name := rm.GetName()
	r.mu.Lock()
	n := len(r.rooms[name])
	delete(r.rooms, name)
	if n > 0 {
		r.pushLocked(occupancy.RoomState{Room: name, Sessions: []occupancy.Session{}}, true)
	}
	r.mu.Unlock()
	r.wake()
	r.next.RoomFinished(rm)
}

// ParticipantJoined implements room.Observer.
func (r *Reporter) ParticipantJoined(rm *livekit.Room, p *livekit.ParticipantInfo) {
	r.change(rm.GetName(), occupancy.Session{SID: p.GetSid(), Identity: p.GetIdentity(), Name: p.GetName()}, true)
	r.next.ParticipantJoined(rm, p)
}

// ParticipantLeft implements room.Observer.
func (r *Reporter) ParticipantLeft(rm *livekit.Room, p *livekit.ParticipantInfo, reason livekit.DisconnectReason) {
	r.change(rm.GetName(), occupancy.Session{SID: p.GetSid()}, false)
	r.next.ParticipantLeft(rm, p, reason)
}

// TrackPublished implements room.Observer.
func (r *Reporter) TrackPublished(rm *livekit.Room, p *livekit.ParticipantInfo, t *livekit.TrackInfo) {
	r.next.TrackPublished(rm, p, t)
}

// TrackUnpublished implements room.Observer.
func (r *Reporter) TrackUnpublished(rm *livekit.Room, p *livekit.ParticipantInfo, t *livekit.TrackInfo) {
	r.next.TrackUnpublished(rm, p, t)
}

// RecordChanged reports a recording's new state (edge/recorder). It never
// blocks: the change goes out with the next batch, and every snapshot
// lists the recording until a batch with its final state was taken.
func (r *Reporter) RecordChanged(rs occupancy.RecordState) {
	r.mu.Lock()
	r.records[rs.ID] = rs
	if len(r.recQueue) >= r.cfg.QueueSize {
		r.resync = true // the snapshot carries it
		r.m.dropped.Inc()
	} else {
		r.recQueue = append(r.recQueue, rs)
	}
	r.mu.Unlock()
	r.wake()
}

// takenLocked forgets the recordings whose final state a batch carried.
func (r *Reporter) takenLocked(sent []occupancy.RecordState) {
	for _, rs := range sent {
		if cur, ok := r.records[rs.ID]; ok && rs.Terminal() && cur.State == rs.State {
			delete(r.records, rs.ID)
		}
	}
}

func (r *Reporter) change(name string, s occupancy.Session, joined bool) {
	r.mu.Lock()
	sids := r.rooms[name]
	before := len(sids)
	if joined {
		if sids == nil {
			sids = map[string]occupancy.Session{}
			r.rooms[name] = sids
		}
		sids[s.SID] = s
	} else {
		delete(sids, s.SID)
		if len(sids) == 0 {
			delete(r.rooms, name)
		}
	}
	n := len(sids)
	if n != before {
		r.pushLocked(stateOf(name, sids), !joined)
	}
	r.mu.Unlock()
	if n != before {
		r.wake()
	}
}

// stateOf is a room's state: its count and, up to occupancy.MaxSessions, its
// sessions (ordered by sid, so equal states encode equally).
func stateOf(name string, sids map[string]occupancy.Session) occupancy.RoomState {
	st := occupancy.RoomState{Room: name, Participants: len(sids)}
	if len(sids) <= occupancy.MaxSessions {
		st.Sessions = make([]occupancy.Session, 0, len(sids))
		for _, s := range sids {
			st.Sessions = append(st.Sessions, s)
		}
		slices.SortFunc(st.Sessions, func(a, b occupancy.Session) int { return strings.Compare(a.SID, b.SID) })
	}
	return st
}

// pushLocked queues a change; onlyLeft says it only took sessions away. A
// change of a room replaces the one queued just before it when nothing is
// lost that way: when every session of that one is still there (only
// joins since), or when both only took sessions away. So every session
// shows in some state sent, however short, and every empty ↔ non-empty
// transition is kept (counts of 0 never collapse).
func (r *Reporter) pushLocked(s occupancy.RoomState, onlyLeft bool) {
	if k := len(r.queue); k > 0 && r.queue[k-1].Room == s.Room && r.queue[k-1].Participants > 0 && s.Participants > 0 {
		last := &r.queue[k-1]
		if subset(last.Sessions, s.Sessions) || (onlyLeft && last.onlyLeft) {
			r.queued += len(s.Sessions) - len(last.Sessions)
			last.RoomState, last.onlyLeft = s, last.onlyLeft && onlyLeft
			return
		}
	}
	if len(r.queue) >= r.cfg.QueueSize || r.queued+len(s.Sessions) > maxQueuedSessions {
		r.resync = true
		r.m.dropped.Inc()
		return
	}
	r.queue = append(r.queue, queuedState{RoomState: s, onlyLeft: onlyLeft})
	r.queued += len(s.Sessions)
}

// subset reports whether every session of a (sorted by sid) is in b (sorted
// by sid). A nil b (counts only) holds every session.
func subset(a, b []occupancy.Session) bool {
	if b == nil {
		return true
	}
	j := 0
	for _, s := range a {
		for j < len(b) && b[j].SID < s.SID {
			j++
		}
		if j == len(b) || b[j].SID != s.SID {
			return false
		}
	}
	return true
}

func (r *Reporter) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sends a snapshot, then the changes as they come and a snapshot every
// SnapshotInterval, until ctx ends. Then it sends what is queued and a
// last, empty snapshot (the edge is leaving: it hosts nobody), each within
// Timeout, and returns nil.
func (r *Reporter) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.SnapshotInterval)
	defer t.Stop()
	r.snapshot(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
			r.flush(fctx)
			r.goodbye(fctx)
			cancel()
			return nil
		case <-r.kick:
			r.flush(ctx)
		case <-t.C:
			r.flush(ctx)
			r.snapshot(ctx)
		}
	}
}

// flush sends the queued changes in batches (or a snapshot when a change
// was lost).
func (r *Reporter) flush(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		if r.resync {
			r.mu.Unlock()
			r.snapshot(ctx)
			return
		}
		n, sessions := 0, 0
		for n < min(len(r.queue), r.cfg.MaxBatch) && (n == 0 || sessions+len(r.queue[n].Sessions) <= maxBatchSessions) {
			sessions += len(r.queue[n].Sessions)
			n++
		}
		k := min(len(r.recQueue), occupancy.MaxRecords)
		if n == 0 && k == 0 {
			r.mu.Unlock()
			return
		}
		rooms := make([]occupancy.RoomState, n)
		for i := range n {
			rooms[i] = r.queue[i].RoomState
		}
		r.queue = append(r.queue[:0], r.queue[n:]...)
		r.queued -= sessions
		b := r.batchLocked(false, rooms)
		b.Records = append([]occupancy.RecordState(nil), r.recQueue[:k]...)
		r.recQueue = append(r.recQueue[:0], r.recQueue[k:]...)
		r.mu.Unlock()
		if !r.send(ctx, b) {
			r.mu.Lock()
			r.resync = true
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		r.takenLocked(b.Records)
		r.mu.Unlock()
	}
}

// snapshot sends the whole state; it supersedes the queued changes.
func (r *Reporter) snapshot(ctx context.Context) {
	r.mu.Lock()
	rooms := make([]occupancy.RoomState, 0, len(r.rooms))
	sessions := 0
	for name, sids := range r.rooms {
		if len(rooms) == occupancy.MaxRooms {
			r.log.Warn("more rooms than a batch carries: the snapshot leaves some out", "rooms", len(r.rooms))
			break
		}
		st := stateOf(name, sids)
		if sessions+len(st.Sessions) > maxBatchSessions {
			st.Sessions = nil // counts only for the rest: the batch must fit
		}
		sessions += len(st.Sessions)
		rooms = append(rooms, st)
	}
	r.queue = r.queue[:0]
	r.queued = 0
	r.resync = false
	b := r.batchLocked(true, rooms)
	for _, rs := range r.records {
		if len(b.Records) == occupancy.MaxRecords {
			break
		}
		b.Records = append(b.Records, rs)
	}
	slices.SortFunc(b.Records, func(x, y occupancy.RecordState) int { return strings.Compare(x.ID, y.ID) })
	r.recQueue = r.recQueue[:0]
	r.mu.Unlock()
	if !r.send(ctx, b) {
		r.mu.Lock()
		r.resync = true
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.takenLocked(b.Records)
	r.mu.Unlock()
}

// goodbye tells the control plane that this edge hosts nobody any more.
func (r *Reporter) goodbye(ctx context.Context) {
	r.mu.Lock()
	b := r.batchLocked(true, nil)
	for _, rs := range r.records { // what is left of them stays as it is
		if len(b.Records) < occupancy.MaxRecords {
			b.Records = append(b.Records, rs)
		}
	}
	r.mu.Unlock()
	r.send(ctx, b)
}

func (r *Reporter) batchLocked(full bool, rooms []occupancy.RoomState) occupancy.Batch {
	r.seq++
	return occupancy.Batch{Edge: r.cfg.Node, Boot: r.boot, Seq: r.seq, Full: full, Rooms: rooms}
}

// send delivers b with retries; false when it was dropped.
func (r *Reporter) send(ctx context.Context, b occupancy.Batch) bool {
	var err error
	for attempt := 0; attempt <= r.cfg.Retries; attempt++ {
		if attempt > 0 {
			r.m.retried.Inc()
			if !retry.Sleep(ctx, retry.Backoff(r.cfg.RetryBackoff, 0, attempt)) {
				break
			}
		}
		actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		err = r.sink.Report(actx, b)
		cancel()
		if err == nil {
			r.m.sent.Inc()
			return true
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.m.failed.Inc()
	if !errors.Is(err, context.Canceled) {
		r.log.Warn("room-state batch dropped", "seq", b.Seq, "full", b.Full, "rooms", len(b.Rooms), "err", err)
	}
	return false
}
