package gossipmember

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/gossip"
)

// Node is what a Member needs of the gossip node; *gossip.Node implements
// it.
type Node interface {
	SetRoom(room string, r gossip.Room)
	RemoveRoom(room string)
	SetLoad(l gossip.Load)
	SetDraining(draining bool)
	RevokedIssued(room, identity, tokenID string, issued time.Time) bool
	Revoke(r gossip.Revocation) error
	Subscribe(fn func(gossip.Event)) (unsubscribe func())
}

var _ Node = (*gossip.Node)(nil)

// Deps are what a Member needs.
type Deps struct {
	Node   Node
	Logger *slog.Logger
	// LoadInterval is how often the load is measured and published
	// (default 2 s; gossip itself rate-limits load-only updates).
	LoadInterval time.Duration
	// CPU measures the process's CPU use in percent of the machine since
	// the last call; nil uses getrusage.
	CPU func() float64
	// BytesOut is the media bytes sent so far (edge.Edge.MediaBytesOut); the
	// load's bandwidth is its rate. Nil: bandwidth is not reported.
	BytesOut func() uint64
	// Evict disconnects the participants a revocation bars (edge.Evict):
	// room "" means every room, a zero issuedBefore every token. Nil: a
	// revocation only stops new connections.
	Evict func(room, identity string, issuedBefore time.Time) int
	// RemovalTTL is how long a moderator's removal made on this edge bars
	// the removed participant's older credentials: the lifetime of the
	// longest one it must stop, the control plane's session TTL (default
	// DefaultRemovalTTL, the control plane's default sessionTTL).
	RemovalTTL time.Duration
}

// DefaultRemovalTTL is the control plane's default session TTL.
const DefaultRemovalTTL = 4 * time.Hour

// Member connects one edge to the cluster. Its observer methods never
// block (see room.Observer); Run does the gossip work.
type Member struct {
	room.NopObserver
	node     Node
	log      *slog.Logger
	interval time.Duration
	cpu      func() float64
	evict    func(room, identity string, issuedBefore time.Time) int
	bytesOut func() uint64
	ttl      time.Duration
	kick     chan struct{}

	lastBytes uint64    // Run's goroutine only
	lastAt    time.Time // Run's goroutine only

	mu    sync.Mutex
	rooms map[string]*hosted
	dirty map[string]struct{}
}

type hosted struct {
	participants map[string]struct{}     // by participant sid
	tracks       map[string]gossip.Track // by track sid
}

var _ room.Observer = (*Member)(nil)

// New builds a Member; it starts nothing.
func New(deps Deps) (*Member, error) {
	if deps.Node == nil {
		return nil, errors.New("gossipmember: Deps.Node is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Member{
		node: deps.Node, log: log.With("component", "fleet"), interval: deps.LoadInterval, cpu: deps.CPU, evict: deps.Evict, bytesOut: deps.BytesOut,
		ttl:  deps.RemovalTTL,
		kick: make(chan struct{}, 1), rooms: map[string]*hosted{}, dirty: map[string]struct{}{},
	}
	if m.ttl <= 0 {
		m.ttl = DefaultRemovalTTL
	}
	if m.interval <= 0 {
		m.interval = 2 * time.Second
	}
	if m.cpu == nil {
		m.cpu = newRusageCPU()
	}
	return m, nil
}

// Revoked answers the edge's revocation check (edge.Deps.Revoked).
func (m *Member) Revoked(room, identity string, issued time.Time) bool {
	return m.node.RevokedIssued(room, identity, "", issued)
}

// Revoke implements edge.Deps.Revoke: a moderator's removal on this edge
// becomes the same gossiped revocation as a removal through the control
// plane (controlplane/gossipview), bounded by the removal time.
func (m *Member) Revoke(room, identity string, at time.Time) error {
	return m.node.Revoke(gossip.Revocation{
		Kind: gossip.RevokeParticipant, Room: room, Subject: identity,
		Until: at.Add(m.ttl), IssuedBefore: at,
	})
}

// SetDraining advertises that the edge takes no new participants.
func (m *Member) SetDraining(draining bool) { m.node.SetDraining(draining) }

// Run publishes directory changes as they happen and the load every
// interval until ctx ends.
func (m *Member) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	if m.evict != nil {
		unsub := m.node.Subscribe(m.onEvent)
		defer unsub()
	}
	m.publishLoad()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
			// Directory changes go out at once; the load waits for the
			// tick, so CPU and bandwidth are rates over a whole interval
			// (gossip spaces load-only updates out anyway).
			m.flush()
		case <-t.C:
			m.publishLoad()
		}
	}
}

// onEvent disconnects the participants a new revocation bars. It runs on
// the gossip node's event goroutine.
func (m *Member) onEvent(e gossip.Event) {
	if e.Kind != gossip.EventRevoke {
		return
	}
	r := e.Revocation
	switch r.Kind {
	case gossip.RevokeParticipant:
		m.evict(r.Room, r.Subject, r.IssuedBefore)
	case gossip.RevokeUser:
		m.evict("", r.Subject, r.IssuedBefore)
	}
}

// flush announces the rooms that changed since the last flush.
func (m *Member) flush() {
	type change struct {
		name string
		room gossip.Room
		gone bool
	}
	m.mu.Lock()
	changes := make([]change, 0, len(m.dirty))
	for name := range m.dirty {
		h, ok := m.rooms[name]
		if !ok {
			changes = append(changes, change{name: name, gone: true})
			continue
		}
		changes = append(changes, change{name: name, room: h.snapshot()})
	}
	clear(m.dirty)
	m.mu.Unlock()
	for _, c := range changes {
		if c.gone {
			m.node.RemoveRoom(c.name)
		} else {
			m.node.SetRoom(c.name, c.room)
		}
	}
}

func (h *hosted) snapshot() gossip.Room {
	r := gossip.Room{Participants: len(h.participants), Tracks: make([]gossip.Track, 0, len(h.tracks))}
	for _, t := range h.tracks {
		r.Tracks = append(r.Tracks, t)
	}
	sort.Slice(r.Tracks, func(i, j int) bool { return r.Tracks[i].SID < r.Tracks[j].SID })
	return r
}

func (m *Member) publishLoad() {
	l := gossip.Load{CPU: m.cpu()}
	if m.bytesOut != nil {
		now, b := time.Now(), m.bytesOut()
		if !m.lastAt.IsZero() {
			if secs := now.Sub(m.lastAt).Seconds(); secs > 0 {
				l.BandwidthKbps = int(float64(b-m.lastBytes) * 8 / 1000 / secs)
			}
		}
		m.lastBytes, m.lastAt = b, now
	}
	m.mu.Lock()
	for _, h := range m.rooms {
		l.Participants += len(h.participants)
		l.Tracks += len(h.tracks)
	}
	m.mu.Unlock()
	m.node.SetLoad(l)
}

// change runs f on the room's state under the lock, marks the room dirty
// and wakes Run.
func (m *Member) change(name string, f func(h *hosted) (keep bool)) {
	m.mu.Lock()
	h, ok := m.rooms[name]
	if !ok {
		h = &hosted{participants: map[string]struct{}{}, tracks: map[string]gossip.Track{}}
		m.rooms[name] = h
	}
	if !f(h) {
		delete(m.rooms, name)
	}
	m.dirty[name] = struct{}{}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// RoomStarted implements room.Observer: the room is announced at once, so
// that the next participant is placed here (sticky rooms).
func (m *Member) RoomStarted(r *livekit.Room) {
	m.change(r.GetName(), func(*hosted) bool { return true })
}

// RoomFinished implements room.Observer.
func (m *Member) RoomFinished(r *livekit.Room) {
	m.change(r.GetName(), func(*hosted) bool { return false })
}

// ParticipantJoined implements room.Observer.
func (m *Member) ParticipantJoined(r *livekit.Room, p *livekit.ParticipantInfo) {
	m.change(r.GetName(), func(h *hosted) bool { h.participants[p.GetSid()] = struct{}{}; return true })
}

// ParticipantLeft implements room.Observer.
func (m *Member) ParticipantLeft(r *livekit.Room, p *livekit.ParticipantInfo, _ livekit.DisconnectReason) {
	m.change(r.GetName(), func(h *hosted) bool {
		delete(h.participants, p.GetSid())
		for sid, t := range h.tracks {
			if t.Participant == p.GetIdentity() {
				delete(h.tracks, sid)
			}
		}
		return true
	})
}

// TrackPublished implements room.Observer.
func (m *Member) TrackPublished(r *livekit.Room, p *livekit.ParticipantInfo, t *livekit.TrackInfo) {
	kind := "video"
	if t.GetType() == livekit.TrackType_AUDIO {
		kind = "audio"
	}
	m.change(r.GetName(), func(h *hosted) bool {
		h.tracks[t.GetSid()] = gossip.Track{SID: t.GetSid(), Participant: p.GetIdentity(), Kind: kind}
		return true
	})
}

// TrackUnpublished implements room.Observer.
func (m *Member) TrackUnpublished(r *livekit.Room, _ *livekit.ParticipantInfo, t *livekit.TrackInfo) {
	m.change(r.GetName(), func(h *hosted) bool { delete(h.tracks, t.GetSid()); return true })
}

// newRusageCPU measures this process's CPU time between calls, in percent
// of all the machine's cores.
func newRusageCPU() func() float64 {
	var mu sync.Mutex
	last, lastAt := cpuTime(), time.Now()
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		now, at := cpuTime(), time.Now()
		wall := at.Sub(lastAt)
		used := now - last
		last, lastAt = now, at
		if wall <= 0 {
			return 0
		}
		pct := 100 * float64(used) / float64(wall) / float64(runtime.NumCPU())
		return min(max(pct, 0), 100)
	}
}
