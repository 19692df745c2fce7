package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/edge/report"
)

// CallsConfig is the `calls:` part of the `webhooks:` section.
type CallsConfig struct {
	// FinishGrace is how long a room must stay empty on every edge before
	// call_finished (5 s): a participant moving between edges, or the last
	// one reconnecting, does not end the call.
	FinishGrace time.Duration `yaml:"finishGrace"`
	// EdgeTTL is how long an edge may stay silent before its rooms count as
	// empty (45 s; edges send a snapshot every 15 s by default).
	EdgeTTL time.Duration `yaml:"edgeTTL"`
	// QueueSize bounds the batches waiting to be applied (256); when it
	// is full, Report waits up to its context (HTTP: 503, the edge retries).
	QueueSize int `yaml:"queueSize"`
}

// DefaultCallsConfig returns the defaults.
func DefaultCallsConfig() CallsConfig {
	return CallsConfig{FinishGrace: 5 * time.Second, EdgeTTL: 45 * time.Second, QueueSize: 256}
}

// Validate checks the section.
func (c CallsConfig) Validate() error {
	if c.FinishGrace < 0 || c.EdgeTTL <= 0 || c.QueueSize < 1 {
		return fmt.Errorf("%w: calls: finishGrace must be >= 0, edgeTTL > 0, queueSize >= 1", ErrInvalidConfig)
	}
	return nil
}

// Notifier takes call events without blocking (Deliverer does).
type Notifier interface {
	Deliver(Event) bool
}

// Calls tracks which rooms have a call going on across the edges, from
// their room-state batches, and tells a Notifier when calls start and
// finish. It is an actor: Report hands batches to Run's goroutine, which
// owns the state, so events come out in the order things happened.
//
// State lives in memory: a restarted control plane learns the rooms again
// from the edges' next snapshots and announces their calls again. With
// several control-plane replicas, point every edge at the same one.
type Calls struct {
	cfg  CallsConfig
	out  Notifier
	log  *slog.Logger
	now  func() time.Time
	in   chan report.Batch
	done chan struct{}
	once sync.Once
}

// NewCalls checks cfg and builds a tracker; it starts nothing. now is the
// clock (nil: time.Now).
func NewCalls(cfg CallsConfig, out Notifier, log *slog.Logger, now func() time.Time) (*Calls, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("%w: calls: a Notifier is required", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Calls{cfg: cfg, out: out, log: log.With("component", "calls"), now: now,
		in: make(chan report.Batch, cfg.QueueSize), done: make(chan struct{})}, nil
}

// Report implements report.Sink: it queues the batch for Run, waiting up
// to ctx when the queue is full.
func (c *Calls) Report(ctx context.Context, b report.Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	select {
	case c.in <- b:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("webhook: calls busy: %w", ctx.Err())
	}
}

// Close stops Run; safe to call twice.
func (c *Calls) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// callRoom is one room as the tracker sees it.
type callRoom struct {
	edges      map[string]int // edge → participants (only > 0)
	active     bool           // call_started sent, call_finished not yet
	emptySince time.Time      // when edges became empty (zero: not empty)
}

// callEdge is one reporting edge.
type callEdge struct {
	boot  string
	seq   uint64
	seen  time.Time
	rooms map[string]struct{}
}

type callState struct {
	c     *Calls
	rooms map[string]*callRoom
	edges map[string]*callEdge
}

// Run applies batches and finishes calls whose grace has passed, until ctx
// ends or Close; it returns nil.
func (c *Calls) Run(ctx context.Context) error {
	s := &callState{c: c, rooms: map[string]*callRoom{}, edges: map[string]*callEdge{}}
	tick := time.Second
	if g := c.cfg.FinishGrace / 4; g > 0 && g < tick {
		tick = g
	}
	if e := c.cfg.EdgeTTL / 4; e < tick {
		tick = e
	}
	tick = max(tick, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return nil
		case b := <-c.in:
			s.apply(b, c.now())
		case <-t.C:
			s.sweep(c.now())
		}
	}
}

func (s *callState) apply(b report.Batch, now time.Time) {
	e := s.edges[b.Edge]
	if e == nil {
		e = &callEdge{rooms: map[string]struct{}{}}
		s.edges[b.Edge] = e
	}
	if e.boot == b.Boot && b.Seq <= e.seq {
		return // a late retry of a batch already superseded
	}
	e.boot, e.seq, e.seen = b.Boot, b.Seq, now
	if b.Full {
		listed := make(map[string]struct{}, len(b.Rooms))
		for _, r := range b.Rooms {
			listed[r.Room] = struct{}{}
		}
		for r := range e.rooms {
			if _, ok := listed[r]; !ok {
				s.set(r, b.Edge, e, 0, now)
			}
		}
	}
	for _, r := range b.Rooms {
		s.set(r.Room, b.Edge, e, r.Participants, now)
	}
	s.finish(now)
}

// set records n participants of room on edge and starts the call when the
// room goes from no edge to some edge.
func (s *callState) set(room, edge string, e *callEdge, n int, now time.Time) {
	r := s.rooms[room]
	if n > 0 {
		if r == nil {
			r = &callRoom{edges: map[string]int{}}
			s.rooms[room] = r
		}
		r.edges[edge] = n
		e.rooms[room] = struct{}{}
		r.emptySince = time.Time{}
		if !r.active {
			r.active = true
			s.emit(CallStarted, room)
		}
		return
	}
	delete(e.rooms, room)
	if r == nil {
		return
	}
	delete(r.edges, edge)
	if len(r.edges) == 0 && r.emptySince.IsZero() {
		r.emptySince = now
	}
}

// sweep forgets silent edges and finishes calls.
func (s *callState) sweep(now time.Time) {
	for name, e := range s.edges {
		if now.Sub(e.seen) < s.c.cfg.EdgeTTL {
			continue
		}
		if len(e.rooms) > 0 {
			s.c.log.Warn("edge silent: its rooms count as empty", "node", name, "rooms", len(e.rooms), "silent", now.Sub(e.seen).Round(time.Second))
		}
		for r := range e.rooms {
			s.set(r, name, e, 0, now)
		}
		delete(s.edges, name)
	}
	s.finish(now)
}

// finish ends the calls of rooms empty for FinishGrace.
func (s *callState) finish(now time.Time) {
	for name, r := range s.rooms {
		if len(r.edges) > 0 || r.emptySince.IsZero() || now.Sub(r.emptySince) < s.c.cfg.FinishGrace {
			continue
		}
		delete(s.rooms, name)
		if r.active {
			s.emit(CallFinished, name)
		}
	}
}

func (s *callState) emit(name EventName, room string) {
	s.c.log.Debug("call event", "event", string(name), "room", room)
	s.c.out.Deliver(Event{Name: name, RoomID: store.RoomID(room)})
}
