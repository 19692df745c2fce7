package room

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/relay"
	"github.com/spacecast/spacecast/edge/rtc"
)

// Sentinel errors.
var (
	ErrClosed   = errors.New("room: edge is closing")
	ErrFull     = errors.New("room: room is full")
	ErrNotFound = errors.New("room: not found")
	ErrRemoved  = errors.New("room: removed from this room; a token issued after the removal is needed")
	// ErrUnsupported: the edge does not serve what the client asked for.
	ErrUnsupported = errors.New("room: not supported by this edge")
)

// Config is what the manager needs from the edge.
type Config struct {
	// API makes publisher peer connections, SubAPI subscriber ones (nil:
	// API, without direct sending) and SingleAPI the single connection of
	// livekit-client's /rtc/v1 (nil: not offered). Build them with
	// rtc.NewAPIs.
	API              *webrtc.API
	SubAPI           *rtc.SubAPI
	SingleAPI        *rtc.SubAPI
	NodeID, Region   string
	Version          string
	MaxParticipants  int
	EmptyTimeout     time.Duration
	DepartureTimeout time.Duration
	// SubscriberQueue is how many packets may wait for one subscriber (all
	// its tracks) before new ones are dropped and counted; 0 means 128.
	SubscriberQueue int
	// ICEServers returns the STUN/TURN servers (with credentials) handed to
	// a joining participant.
	ICEServers func(identity string) []*livekit.ICEServer
	Logger     *slog.Logger
	Metrics    *Metrics
	// Observer hears room, participant and track events (nil: nobody).
	Observer Observer
	// RecordingGrace is how long a recorded room may have nobody on any
	// edge before its recording ends (the call is over); 0 means 10 s. A
	// participant reconnecting within it continues the same recording.
	RecordingGrace time.Duration
	// Batch, when set, brackets every fan-out of a packet to a track's
	// subscribers, so the media socket can send them together (the
	// edge/mmsg Conn under the UDP mux).
	Batch forward.Batcher
}

// Manager owns the rooms of one edge.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	epoch time.Time // the media clock: now() is nanoseconds since epoch
	// clock, when set, replaces the media clock (tests that need time to
	// pass at their own pace).
	clock func() int64

	participants atomic.Int64 // in every room, kept with the gauge

	// relay and hosts join rooms across edges (span.go; nil: one edge).
	relay *relay.Relay
	hosts func(room string) []string
	// region is each edge's region (source.go; nil: every remote track
	// is pulled from its origin).
	region func(node string) string

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
	wg     sync.WaitGroup
}

// NewManager makes an empty manager; it starts nothing.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.API == nil {
		return nil, errors.New("room: Config.API is required")
	}
	if cfg.SubAPI == nil {
		cfg.SubAPI = rtc.Shared(cfg.API)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if cfg.SubscriberQueue <= 0 {
		cfg.SubscriberQueue = 128
	}
	if cfg.ICEServers == nil {
		cfg.ICEServers = func(string) []*livekit.ICEServer { return nil }
	}
	if cfg.EmptyTimeout <= 0 {
		cfg.EmptyTimeout = 5 * time.Minute
	}
	if cfg.DepartureTimeout <= 0 {
		cfg.DepartureTimeout = 20 * time.Second
	}
	if cfg.RecordingGrace <= 0 {
		cfg.RecordingGrace = 10 * time.Second
	}
	return &Manager{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, rooms: map[string]*Room{}, epoch: time.Now()}, nil
}

// JoinParams describe a verified join.
type JoinParams struct {
	Room          string
	Identity      string
	Name          string
	Metadata      string
	Attributes    map[string]string
	Permission    *livekit.ParticipantPermission
	AutoSubscribe bool
	Kind          livekit.ParticipantInfo_Kind
	Client        *livekit.ClientInfo
	// MaxParticipants is the room's own limit, from the media token's room
	// configuration (the control plane's room flag); 0: the edge's
	// default (Config.MaxParticipants).
	MaxParticipants int
	// IssuedAt is when the token was issued: a participant removed by a
	// moderator cannot come back with a token issued before the removal.
	IssuedAt time.Time
	// Single: the client uses one peer connection for both directions
	// (livekit-client's /rtc/v1), on which it makes every offer.
	Single bool
}

// Join adds a participant to a room (creating the room), replacing a
// participant with the same identity. The participant waits for Attach.
func (m *Manager) Join(jp JoinParams) (*Participant, error) {
	for {
		r, created, err := m.roomFor(jp.Room)
		if err != nil {
			return nil, err
		}
		if created {
			m.cfg.Observer.RoomStarted(r.Proto())
		}
		p, err := r.join(jp)
		if errors.Is(err, ErrClosed) {
			continue // the room closed under us; make a new one
		}
		return p, err
	}
}

// Resume finds the participant sid of identity in room, for a reconnecting
// client.
func (m *Manager) Resume(room, identity, sid string) (*Participant, error) {
	r := m.Room(room)
	if r == nil {
		return nil, fmt.Errorf("%w: room %q", ErrNotFound, room)
	}
	p := r.Participant(identity)
	if p == nil || p.sid != sid {
		return nil, fmt.Errorf("%w: participant %q", ErrNotFound, sid)
	}
	return p, nil
}

func (m *Manager) roomFor(name string) (*Room, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	if r, ok := m.rooms[name]; ok && !r.isClosed() {
		return r, false, nil
	}
	r := newRoom(m, name)
	m.rooms[name] = r
	m.metrics.rooms.Inc()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run()
	}()
	return r, true, nil
}

func (m *Manager) forget(r *Room) {
	m.mu.Lock()
	if m.rooms[r.name] == r {
		delete(m.rooms, r.name)
		m.metrics.rooms.Dec()
	}
	m.mu.Unlock()
	m.cfg.Observer.RoomFinished(r.Proto())
}

// ParticipantCount is the number of participants in every room.
func (m *Manager) ParticipantCount() int { return int(m.participants.Load()) }

// Room returns an open room, or nil.
func (m *Manager) Room(name string) *Room {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.rooms[name]; ok && !r.isClosed() {
		return r
	}
	return nil
}

// Rooms lists the open rooms by name.
func (m *Manager) Rooms() []*Room {
	m.mu.Lock()
	out := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		out = append(out, r)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Close closes every room (participants get a SERVER_SHUTDOWN leave) and
// waits for all their goroutines. It is safe to call twice.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	for _, r := range rooms {
		r.Close(livekit.DisconnectReason_SERVER_SHUTDOWN)
	}
	m.wg.Wait()
}

func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// now is the media clock (monotonic nanoseconds) shared by all tracks.
func (m *Manager) now() int64 {
	if m.clock != nil {
		return m.clock()
	}
	return int64(time.Since(m.epoch))
}
