package record

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// tick is how often Run looks at idle layers, timed-out waits and the
// manifest when no packet wakes it.
const tick = 200 * time.Millisecond

// manifestEvery is how often a running recording rewrites its manifest.
const manifestEvery = 10 * time.Second

// Recording records one room. New allocates it, AddTrack gives the room a
// tap per published track, Run does the work until Stop (or its context
// ends, or a write fails).
type Recording struct {
	cfg   Config
	start time.Time

	wake  chan struct{}
	stop  chan struct{}
	once  sync.Once
	ended atomic.Bool

	mu    sync.Mutex
	added []*Track // not yet seen by Run
	snap  Manifest // the latest manifest Run made

	// Run's own.
	taps     []*Track
	streams  map[string]*stream
	order    []*stream
	people   map[string]*ManifestPerson
	peopleAt []string
	clocks   map[string]*participantClock
	evs      []*event
	failure  error
	lastSave time.Time
}

// New makes a recording whose timeline starts now; it starts nothing.
func New(cfg Config) (*Recording, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Recording{
		cfg:     cfg,
		start:   cfg.Now(),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		streams: map[string]*stream{},
		people:  map[string]*ManifestPerson{},
		clocks:  map[string]*participantClock{},
	}
	r.snap = Manifest{ID: cfg.ID, Room: cfg.Room, State: StateRecording, StartedAt: r.start, Participants: []ManifestPerson{}, Tracks: []ManifestTrack{}}
	return r, nil
}

// Start is the instant the recording's timeline starts at.
func (r *Recording) Start() time.Time { return r.start }

// AddTrack starts recording a published track and returns its tap, which
// the caller feeds and closes when the track goes away.
func (r *Recording) AddTrack(info TrackInfo) (*Track, error) {
	k, err := info.validate()
	if err != nil {
		return nil, err
	}
	if r.ended.Load() {
		return nil, ErrEnded
	}
	size := r.cfg.AudioPackets
	if k.IsVideo() {
		size = r.cfg.VideoPackets
	}
	t := newTrack(r, info, k, size)
	r.mu.Lock()
	r.added = append(r.added, t)
	r.mu.Unlock()
	r.wakeUp()
	return t, nil
}

// Stop ends the recording: Run writes what it holds, closes the files and
// returns. Safe to call more than once, and before Run.
func (r *Recording) Stop() { r.once.Do(func() { close(r.stop) }) }

// Manifest is a copy of the latest manifest (the final one once Run has
// returned).
func (r *Recording) Manifest() Manifest {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.snap
	m.Participants = slices.Clone(m.Participants)
	m.Tracks = slices.Clone(m.Tracks)
	for i := range m.Tracks {
		m.Tracks[i].Files = slices.Clone(m.Tracks[i].Files)
		m.Tracks[i].TrackSIDs = slices.Clone(m.Tracks[i].TrackSIDs)
	}
	return m
}

func (r *Recording) wakeUp() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run records until Stop, the end of ctx (ErrInterrupted) or a write
// failure (ErrWrite). In every case it writes what it can, closes every
// file and leaves the manifest saying how the recording ended. Run may be
// called once.
func (r *Recording) Run(ctx context.Context) error {
	defer r.ended.Store(true)
	t := time.NewTicker(tick)
	defer t.Stop()
	if err := r.save(); err != nil {
		return r.finish(err)
	}
	for {
		select {
		case <-ctx.Done():
			r.work()
			return r.finish(fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx)))
		case <-r.stop:
			r.work()
			return r.finish(nil)
		case <-r.wake:
		case <-t.C:
			r.housekeep()
		}
		if r.work(); r.failure != nil {
			return r.finish(r.failure)
		}
		if now := r.cfg.Now(); now.Sub(r.lastSave) >= manifestEvery {
			if err := r.save(); err != nil {
				return r.finish(err)
			}
		}
	}
}

// work processes what every tap has queued, then binds the taps added
// since (after their predecessors' last packets: a republished track
// takes over only then) and processes theirs.
func (r *Recording) work() {
	r.drainTaps(0)
	r.mu.Lock()
	added := r.added
	r.added = nil
	r.mu.Unlock()
	if len(added) == 0 {
		return
	}
	from := len(r.taps)
	for _, t := range added {
		r.bind(t)
	}
	r.drainTaps(from)
}

// drainTaps processes the queues of r.taps[from:] and forgets the closed
// taps among them.
func (r *Recording) drainTaps(from int) {
	keep := r.taps[:from]
	for _, t := range r.taps[from:] {
		var closed bool
		r.evs, closed = t.drain(r.evs[:0])
		s := r.streams[t.key]
		for _, ev := range r.evs {
			if r.failure != nil || s.input != t {
				t.release(ev) // a tap replaced by a republished track, or a failed recording
				continue
			}
			s.handle(ev)
		}
		clear(r.evs)
		if closed {
			if s.input == t {
				s.detach()
			}
			continue
		}
		keep = append(keep, t)
	}
	clear(r.taps[len(keep):])
	r.taps = keep
}

// bind attaches a new tap to the stream of its participant and source,
// made on first use.
func (r *Recording) bind(t *Track) {
	r.taps = append(r.taps, t)
	key := t.key
	s := r.streams[key]
	if s == nil {
		s = newStream(r, len(r.order)+1, t)
		r.streams[key] = s
		r.order = append(r.order, s)
	}
	s.attach(t)
	p := r.people[t.info.Participant]
	if p == nil {
		p = &ManifestPerson{Identity: t.info.Participant, FirstMs: r.ms(t.rec.cfg.Now())}
		r.people[t.info.Participant] = p
		r.peopleAt = append(r.peopleAt, t.info.Participant)
	}
	if t.info.ParticipantName != "" {
		p.Name = t.info.ParticipantName
	}
	if sid := t.info.ParticipantSID; sid != "" && !slices.Contains(p.SIDs, sid) {
		p.SIDs = append(p.SIDs, sid)
	}
}

// clock is the NTP clock of a participant's publisher.
func (r *Recording) clock(identity string) *participantClock {
	c := r.clocks[identity]
	if c == nil {
		c = &participantClock{}
		r.clocks[identity] = c
	}
	return c
}

// housekeep flushes what waits on idle layers and timed-out reports.
func (r *Recording) housekeep() {
	now := r.cfg.Now().UnixNano()
	for _, s := range r.order {
		if r.failure != nil {
			return
		}
		s.housekeep(now)
	}
}

// fail ends the recording with err (the first failure wins).
func (r *Recording) fail(err error) {
	if r.failure == nil {
		r.failure = err
		r.cfg.Log.Error("recording failed", "recording", r.cfg.ID, "err", err)
	}
}

// finish closes every stream and writes the final manifest.
func (r *Recording) finish(cause error) error {
	r.ended.Store(true)
	for _, s := range r.order {
		s.end(r.failure == nil)
	}
	if cause == nil {
		cause = r.failure
	}
	// Slots still queued go back to their pools; the taps drop from now on.
	for _, t := range r.taps {
		r.evs, _ = t.drain(r.evs[:0])
		for _, ev := range r.evs {
			t.release(ev)
		}
	}
	clear(r.evs)
	state, msg := StateFinished, ""
	if cause != nil {
		state, msg = StateFailed, cause.Error()
	}
	r.mu.Lock()
	r.snap = r.manifest(state, msg)
	r.snap.FinishedAt = r.cfg.Now()
	m := r.snap
	r.mu.Unlock()
	if err := r.write(&m); err != nil {
		if cause == nil {
			cause = err
		}
		r.mu.Lock()
		r.snap.State, r.snap.Error = StateFailed, cause.Error()
		r.mu.Unlock()
	}
	if cause != nil {
		r.cfg.Log.Warn("recording ended", "recording", r.cfg.ID, "state", StateFailed, "err", cause)
	} else {
		r.cfg.Log.Info("recording finished", "recording", r.cfg.ID, "durationMs", m.DurationMs, "tracks", len(m.Tracks))
	}
	return cause
}

// save writes the manifest of the running recording.
func (r *Recording) save() error {
	r.lastSave = r.cfg.Now()
	r.mu.Lock()
	r.snap = r.manifest(StateRecording, "")
	m := r.snap
	r.mu.Unlock()
	return r.write(&m)
}

func (r *Recording) write(m *Manifest) error {
	b, err := m.encode()
	if err != nil {
		return fmt.Errorf("record: manifest: %w", err)
	}
	if err := r.cfg.FS.WriteFile(ManifestName, b); err != nil {
		if !errors.Is(err, ErrWrite) {
			err = fmt.Errorf("%w: %w", ErrWrite, err)
		}
		return fmt.Errorf("%s: %w", ManifestName, err)
	}
	return nil
}

// manifest builds the manifest from Run's state.
func (r *Recording) manifest(state, msg string) Manifest {
	m := Manifest{ID: r.cfg.ID, Room: r.cfg.Room, State: state, Error: msg, StartedAt: r.start,
		Participants: make([]ManifestPerson, 0, len(r.peopleAt)), Tracks: make([]ManifestTrack, 0, len(r.order))}
	for _, id := range r.peopleAt {
		p := *r.people[id]
		p.SIDs = slices.Clone(p.SIDs)
		m.Participants = append(m.Participants, p)
	}
	for _, s := range r.order {
		mt := s.manifest()
		for _, f := range mt.Files {
			m.DurationMs = max(m.DurationMs, f.EndMs)
		}
		m.Tracks = append(m.Tracks, mt)
	}
	return m
}

// ms is t on the recording's timeline.
func (r *Recording) ms(t time.Time) int64 { return t.Sub(r.start).Milliseconds() }
