package recorder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spacecast/spacecast/edge/record"
	"github.com/spacecast/spacecast/edge/record/compose"
	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// doneMarker, in a recording's folder kept after it was stored
// (KeepLocal), says the next run has nothing to recover there.
const doneMarker = ".stored"

// keyPrefix is where a recording's files are stored: recordings/<id>/.
const keyPrefix = "recordings/"

// job is one recording: recorded, then composed and stored.
type job struct {
	s       *Service
	id      string
	room    string
	dir     string
	rec     *record.Recording
	started time.Time

	mu sync.Mutex
	// why is how the room ended the recording (ended); cur its state.
	why error
	cur string
}

// ended is the room's onEnd: the call ended, the room closed, or another
// edge records it.
func (j *job) ended(why error) {
	j.mu.Lock()
	j.why = why
	j.mu.Unlock()
	j.rec.Stop()
}

// stop ends the recording as a stop would (the edge is shutting down).
func (j *job) stop(ctx context.Context) {
	if r := j.s.deps.Rooms.Room(j.room); r != nil {
		_ = r.StopRecording(ctx, j.id)
	}
	j.rec.Stop()
}

func (j *job) state() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cur
}

// report sends the recording's state, with its id, room and start.
func (j *job) report(rs occupancy.RecordState) {
	rs.ID, rs.Room, rs.StartedAt = j.id, j.room, j.started
	j.mu.Lock()
	j.cur = rs.State
	j.mu.Unlock()
	j.s.deps.Report(rs)
}

// run records until the end, then composes and stores.
func (j *job) run(ctx context.Context) {
	defer j.s.forget(j)
	err := j.rec.Run(ctx)
	// However it ended, the room taps it no more.
	if r := j.s.deps.Rooms.Room(j.room); r != nil {
		_ = r.StopRecording(ctx, j.id)
	}
	j.mu.Lock()
	why := j.why
	j.mu.Unlock()
	if err == nil && why != nil && !errors.Is(why, room.ErrRoomClosed) {
		err = why // another edge records the room
	}
	m := j.rec.Manifest()
	j.report(occupancy.RecordState{State: occupancy.RecordProcessing, DurationMs: m.DurationMs})
	j.report(j.s.process(ctx, j.id, j.dir, m, err))
}

// process composes and stores what recording id wrote into dir (m
// describes it; recErr is how the recording ended) and returns its final
// state. A failure (recErr, ffmpeg's, the storage's) is a failed state
// with what could be stored; the folder stays when the storage failed.
func (s *Service) process(ctx context.Context, id, dir string, m record.Manifest, recErr error) occupancy.RecordState {
	log := s.log.With("recording", id, "room", m.Room)
	err := recErr
	end := occupancy.RecordState{State: occupancy.RecordFinished, DurationMs: m.DurationMs, FinishedAt: m.FinishedAt}
	if end.FinishedAt.IsZero() {
		end.FinishedAt = s.deps.Now()
	}
	var composed string
	if err == nil {
		composed = filepath.Join(dir, id+".mp4")
		res, cerr := compose.Compose(ctx, s.cfg.Compose.compose(), dir, m, composed)
		if cerr != nil {
			err = fmt.Errorf("recorder: compose: %w", cerr)
			composed = ""
		} else {
			log.Info("composed", "bytes", res.Bytes, "took", res.Took, "duration", res.Duration)
		}
	}
	files, uerr := s.store(ctx, id, dir)
	end.Files = files
	for _, f := range files {
		if composed != "" && f.Key == keyPrefix+id+"/"+filepath.Base(composed) {
			end.Composed, end.ComposedBytes = f.Key, f.Bytes
		}
	}
	if err == nil && uerr != nil {
		err = uerr
	}
	if err != nil {
		end.State, end.Error = occupancy.RecordFailed, reason(err)
		log.Warn("recording failed: what was written is kept", "err", err, "files", len(files))
	} else {
		log.Info("recording stored", "files", len(files), "bytes", end.ComposedBytes)
	}
	if uerr == nil {
		s.tidy(dir)
	}
	return end
}

// reason is a failure as the control plane shows it.
func reason(err error) string {
	s := err.Error()
	if len(s) > occupancy.MaxErrorLen {
		s = s[:occupancy.MaxErrorLen]
	}
	return s
}

// store uploads every file of the recording's folder under
// recordings/<id>/ and lists what it stored. An error names the first
// file it could not store; the files stored before it are listed.
func (s *Service) store(ctx context.Context, id, dir string) ([]occupancy.RecordFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // nothing was written
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".part") {
			continue // temporary files, the marker
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var out []occupancy.RecordFile
	for _, n := range names {
		if len(out) == occupancy.MaxRecordFiles {
			break
		}
		key := keyPrefix + id + "/" + n
		if err := blob.PutFile(ctx, s.deps.Store, key, filepath.Join(dir, n), ""); err != nil {
			return out, fmt.Errorf("recorder: store %s: %w", n, err)
		}
		st, err := s.deps.Store.Stat(ctx, key)
		if err != nil {
			return out, fmt.Errorf("recorder: store %s: %w", n, err)
		}
		out = append(out, occupancy.RecordFile{Key: key, Bytes: st.Size})
	}
	return out, nil
}

// tidy removes a stored recording's folder, or marks it stored
// (KeepLocal).
func (s *Service) tidy(dir string) {
	if s.cfg.KeepLocal {
		if err := os.WriteFile(filepath.Join(dir, doneMarker), nil, 0o644); err != nil {
			s.log.Warn("recording folder not marked stored", "dir", dir, "err", err)
		}
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		s.log.Warn("recording folder not removed", "dir", dir, "err", err)
	}
}

// errLeftOver is the failure of a recording a previous run left.
var errLeftOver = errors.New("the edge stopped while recording; the files written until then are kept")

// recoverLeftovers stores what a previous run of the edge left in the
// recording folder (it was killed, or could not store in time) and
// reports those recordings failed.
func (s *Service) recoverLeftovers(ctx context.Context) {
	ents, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("recording folder unreadable", "dir", s.cfg.Dir, "err", err)
		}
		return
	}
	for _, e := range ents {
		dir := filepath.Join(s.cfg.Dir, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, doneMarker)); err == nil {
			continue
		}
		s.mu.Lock()
		_, running := s.jobs[e.Name()] // started by this run meanwhile
		s.mu.Unlock()
		if running {
			continue
		}
		m, err := record.ReadManifest(dir)
		if err != nil || m.ID != e.Name() {
			continue // not a recording's folder
		}
		files, uerr := s.store(ctx, m.ID, dir)
		end := occupancy.RecordState{ID: m.ID, Room: m.Room, State: occupancy.RecordFailed, Error: errLeftOver.Error(),
			StartedAt: m.StartedAt, FinishedAt: m.FinishedAt, DurationMs: m.DurationMs, Files: files}
		if m.State == record.StateFailed && m.Error != "" {
			end.Error = reason(errors.New(m.Error))
		}
		if end.FinishedAt.IsZero() {
			end.FinishedAt = s.deps.Now()
		}
		if end.Room == "" {
			end.Room = "unknown"
		}
		s.log.Warn("a recording of a previous run stored as failed", "recording", m.ID, "room", m.Room, "files", len(files), "err", uerr)
		s.deps.Report(end)
		if uerr == nil {
			s.tidy(dir)
		}
	}
}
