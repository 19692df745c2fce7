package recorder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/spacecast/spacecast/edge/record"
	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// Errors.
var (
	// ErrNoRoom: the room is not open on this edge.
	ErrNoRoom = errors.New("recorder: the room is not on this edge")
	// ErrClosed: the recorder is not running (not yet, or any more).
	ErrClosed = errors.New("recorder: not running")
)

// Deps are what a Service works with.
type Deps struct {
	// Rooms are the edge's rooms (required).
	Rooms *room.Manager
	// Store keeps the recordings' files (required).
	Store blob.Store
	// Report hears every recording's new state (the edge's
	// report.Reporter.RecordChanged); nil: nobody. It must not block.
	Report func(occupancy.RecordState)
	Logger *slog.Logger
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// FS, when set, makes the files of the recording in dir in place of
	// the operating system (tests: a disk that fills up).
	FS func(dir string) record.FS
}

// Info describes a recording this edge makes.
type Info struct {
	ID, Room  string
	State     string // occupancy.RecordRecording, ...
	StartedAt time.Time
}

// Service runs the recordings of one edge. It is safe for concurrent
// use.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu     sync.Mutex
	work   context.Context // Run's, while it runs: the jobs' context
	closed bool
	jobs   map[string]*job
	wg     sync.WaitGroup
}

// New checks cfg and deps; it starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Rooms == nil || deps.Store == nil {
		return nil, fmt.Errorf("%w: Deps.Rooms and Deps.Store are required", ErrConfig)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Report == nil {
		deps.Report = func(occupancy.RecordState) {}
	}
	return &Service{cfg: cfg, deps: deps, log: deps.Logger.With("component", "recorder"), jobs: map[string]*job{}}, nil
}

// Run stores what a previous run of the edge left unfinished, then serves
// Start and Stop until ctx ends; then it stops every recording and waits
// (at most ShutdownTimeout) for them to be composed and stored. It
// returns nil.
func (s *Service) Run(ctx context.Context) error {
	work, kill := context.WithCancel(context.WithoutCancel(ctx))
	defer kill()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.work = work
	s.mu.Unlock()
	s.recoverLeftovers(work)
	<-ctx.Done()
	s.mu.Lock()
	s.closed = true
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		j.stop(work)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(s.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("recordings not stored before the shutdown timeout: the next run stores them", "timeout", s.cfg.ShutdownTimeout)
		kill()
		<-done
	}
	return nil
}

// Start records the room from now on and returns the recording.
// ErrNoRoom when the room is not open here, room.ErrRecording when it is
// recorded already (here or on another edge of the room).
func (s *Service) Start(roomName string) (Info, error) {
	r := s.deps.Rooms.Room(roomName)
	if r == nil {
		return Info{}, fmt.Errorf("%w: %q", ErrNoRoom, roomName)
	}
	s.mu.Lock()
	work, closed := s.work, s.closed
	s.mu.Unlock()
	if work == nil || closed {
		return Info{}, ErrClosed
	}
	id := newID()
	dir := filepath.Join(s.cfg.Dir, id)
	rc := record.Config{ID: id, Room: roomName, Dir: dir, Log: s.log, Now: s.deps.Now}
	if s.deps.FS != nil {
		rc.FS = s.deps.FS(dir)
	}
	rec, err := record.New(rc)
	if err != nil {
		return Info{}, fmt.Errorf("recorder: %w", err)
	}
	j := &job{s: s, id: id, room: roomName, dir: dir, rec: rec, started: rec.Start()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Info{}, ErrClosed
	}
	// Registered before the room may end it: onEnd finds it.
	s.jobs[id] = j
	s.wg.Add(1)
	s.mu.Unlock()
	if err := r.StartRecording(id, rec, j.ended); err != nil {
		s.mu.Lock()
		delete(s.jobs, id)
		s.mu.Unlock()
		s.wg.Done()
		return Info{}, err
	}
	j.report(occupancy.RecordState{State: occupancy.RecordRecording})
	s.log.Info("recording", "recording", id, "room", roomName)
	go j.run(work)
	return Info{ID: id, Room: roomName, State: occupancy.RecordRecording, StartedAt: j.started}, nil
}

// Auto starts the recording of a call that starts (the media token asked
// for it: the room records automatically) unless the room is recorded
// already or other edges host it (the call started there, and its edge
// recorded it if it was to be).
func (s *Service) Auto(roomName string) {
	r := s.deps.Rooms.Room(roomName)
	if r == nil || len(r.OtherHosts()) > 0 {
		return
	}
	if _, ok := r.Recording(); ok {
		return
	}
	if _, err := s.Start(roomName); err != nil && !errors.Is(err, room.ErrRecording) {
		s.log.Warn("automatic recording not started", "room", roomName, "err", err)
	}
}

// Stop ends recording id of the room (a recording another edge of the
// room makes is stopped there). room.ErrNotRecording when there is none.
func (s *Service) Stop(ctx context.Context, roomName, id string) error {
	r := s.deps.Rooms.Room(roomName)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrNoRoom, roomName)
	}
	if err := r.StopRecording(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j != nil {
		j.rec.Stop()
	}
	return nil
}

// Get describes a recording this edge makes (or made, until it is
// stored).
func (s *Service) Get(id string) (Info, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return Info{}, false
	}
	return Info{ID: j.id, Room: j.room, State: j.state(), StartedAt: j.started}, true
}

func (s *Service) forget(j *job) {
	s.mu.Lock()
	delete(s.jobs, j.id)
	s.mu.Unlock()
	s.wg.Done()
}

// newID is a recording id: 24 hex digits, the API's id form.
func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
