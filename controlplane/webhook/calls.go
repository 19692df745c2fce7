package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// CallsConfig is the `calls:` part of the `webhooks:` section.
type CallsConfig struct {
	// FinishGrace is how long a room must stay empty on every edge before
	// its call finishes (5 s): a participant moving between edges, or the
	// last one reconnecting, does not end the call.
	FinishGrace time.Duration `yaml:"finishGrace"`
	// EdgeTTL is how long an edge may stay silent before its rooms count as
	// empty (45 s; edges send a snapshot every 15 s by default).
	EdgeTTL time.Duration `yaml:"edgeTTL"`
	// Sweep is how often this replica looks for calls to finish and
	// silent edges (1 s, at most a quarter of FinishGrace): a call
	// finishes at most this long after its grace.
	Sweep time.Duration `yaml:"sweep"`
}

// DefaultCallsConfig returns the defaults.
func DefaultCallsConfig() CallsConfig {
	return CallsConfig{FinishGrace: 5 * time.Second, EdgeTTL: 45 * time.Second, Sweep: time.Second}
}

// Validate checks the section.
func (c CallsConfig) Validate() error {
	if c.FinishGrace < 0 || c.EdgeTTL <= 0 || c.Sweep < 10*time.Millisecond || c.Sweep > time.Minute {
		return fmt.Errorf("%w: calls: finishGrace must be >= 0, edgeTTL > 0, sweep 10ms to 1m", ErrInvalidConfig)
	}
	return nil
}

// CallStore is what Calls uses of the store.
type CallStore interface {
	ApplyEdgeReport(ctx context.Context, r store.EdgeReport, now time.Time) error
	SweepCalls(ctx context.Context, silentBefore, emptyBefore time.Time) (int, error)
}

// Calls turns the edges' room-state batches into calls, in the store: a
// batch is applied in one transaction when it arrives (the call that
// starts is written with its call_started delivery), and Run sweeps for
// calls to finish and silent edges. Nothing lives in this replica's
// memory: edges may report to any replica, every replica sweeps, and a
// replica that dies loses nothing.
type Calls struct {
	cfg  CallsConfig
	st   CallStore
	log  *slog.Logger
	now  func() time.Time
	done chan struct{}
	once sync.Once
}

// NewCalls checks cfg and builds a tracker; it starts nothing. now is the
// clock (nil: time.Now).
func NewCalls(cfg CallsConfig, st CallStore, log *slog.Logger, now func() time.Time) (*Calls, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: calls: a store is required", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Calls{cfg: cfg, st: st, log: log.With("component", "calls"), now: now, done: make(chan struct{})}, nil
}

// Report implements occupancy.Sink: it applies the batch to the store,
// within ctx. An error leaves the store as it was (the edge retries).
func (c *Calls) Report(ctx context.Context, b occupancy.Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	r := store.EdgeReport{Edge: b.Edge, Boot: b.Boot, Seq: b.Seq, Full: b.Full, Rooms: make([]store.EdgeRoomState, len(b.Rooms))}
	for i, rs := range b.Rooms {
		st := store.EdgeRoomState{Room: store.RoomID(rs.Room), Participants: rs.Participants}
		if rs.Sessions != nil {
			st.Sessions = make([]store.SessionInfo, len(rs.Sessions))
			for j, s := range rs.Sessions {
				st.Sessions[j] = store.SessionInfo{SID: s.SID, Identity: s.Identity, Name: s.Name}
			}
		}
		r.Rooms[i] = st
	}
	r.Records = RecordUpdates(b.Records)
	if err := c.st.ApplyEdgeReport(ctx, r, c.now()); err != nil {
		return fmt.Errorf("webhook: calls: %w", err)
	}
	return nil
}

// Close stops Run and makes Report refuse; safe to call twice.
func (c *Calls) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// Run sweeps every Sweep until ctx ends or Close: rooms of edges silent
// for EdgeTTL count as empty, calls empty for FinishGrace finish. It
// returns nil.
func (c *Calls) Run(ctx context.Context) error {
	tick := c.cfg.Sweep
	if g := c.cfg.FinishGrace / 4; g > 0 && g < tick {
		tick = max(g, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return nil
		case <-t.C:
		}
		now := c.now()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := c.st.SweepCalls(sctx, now.Add(-c.cfg.EdgeTTL), now.Add(-c.cfg.FinishGrace))
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("sweep calls", "err", err)
		}
		if n > 0 {
			c.log.Debug("calls finished", "calls", n)
		}
	}
}

// RecordUpdates is the store's form of an edge's recording states.
func RecordUpdates(rs []occupancy.RecordState) []store.RecordUpdate {
	if len(rs) == 0 {
		return nil
	}
	out := make([]store.RecordUpdate, len(rs))
	for i, x := range rs {
		u := store.RecordUpdate{ID: store.RecordID(x.ID), Room: store.RoomID(x.Room), State: store.RecordState(x.State), Error: x.Error,
			StartedAt: x.StartedAt, FinishedAt: x.FinishedAt, DurationMs: x.DurationMs, FileKey: x.Composed, FileSize: x.ComposedBytes}
		for _, f := range x.Files {
			u.Files = append(u.Files, store.RecordFile{Key: f.Key, Bytes: f.Bytes})
		}
		out[i] = u
	}
	return out
}
