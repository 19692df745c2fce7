package roomsbench

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/result"
)

// roomRecorder records the run's rooms (Config.Record): it starts every
// room's recording through the REST API once everyone has joined and
// measures what the edge writes for them until the participants leave;
// the call's end ends the recordings.
type roomRecorder struct {
	rooms *benchRooms
	dir   string // the edge's recording folder ("": not measured)
	// tracks is the number of tracks recorded (each publisher's camera
	// and microphone).
	tracks int

	mu        sync.Mutex
	started   []string // recording ids
	errs      []string
	from, to  time.Time
	bytesFrom int64
	bytesTo   int64
}

// run starts the recordings at at and measures the folder until until.
func (rc *roomRecorder) run(ctx context.Context, at, until time.Time) {
	if !sleepUntil(ctx, at) {
		return
	}
	b0 := dirBytes(rc.dir)
	t0 := time.Now()
	for _, id := range rc.rooms.ids {
		var rec struct {
			ID string `json:"id"`
		}
		err := rc.rooms.rest.call(ctx, "POST", "/v1/spaces/"+rc.rooms.space+"/rooms/"+id+"/records/start", nil, &rec)
		rc.mu.Lock()
		if err != nil {
			rc.errs = append(rc.errs, err.Error())
		} else {
			rc.started = append(rc.started, rec.ID)
		}
		rc.mu.Unlock()
	}
	if !sleepUntil(ctx, until) {
		return
	}
	b1 := dirBytes(rc.dir)
	rc.mu.Lock()
	rc.from, rc.to, rc.bytesFrom, rc.bytesTo = t0, time.Now(), b0, b1
	rc.mu.Unlock()
}

// fill adds the recording's figures to r.
func (rc *roomRecorder) fill(r *result.Result) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r.Add("recordings", result.UnitCount, float64(len(rc.started)), "rooms whose recording started")
	r.Add("recorded_tracks", result.UnitCount, float64(rc.tracks), "tracks recorded (each publisher's camera and microphone)")
	for _, e := range rc.errs {
		r.Warn("recording: %s", e)
	}
	if rc.dir == "" {
		r.Warn("recording: the edge's recording folder is not known (recordDir): what it writes is not measured")
		return
	}
	secs := rc.to.Sub(rc.from).Seconds()
	if secs <= 0 || rc.tracks == 0 {
		return
	}
	rate := float64(rc.bytesTo-rc.bytesFrom) / secs
	r.Add("record_write_rate", result.UnitBytesPerSec, rate, "bytes a second the edge wrote to its recording folder while it recorded every room")
	r.Add("record_write_rate_per_track", result.UnitBytesPerSec, rate/float64(rc.tracks), "the same, per recorded track")
}

// dirBytes is the size of the files under dir (0 for "").
func dirBytes(dir string) int64 {
	if dir == "" {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
