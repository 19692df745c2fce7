package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/record"
	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/occupancy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reports collects what a Service reports.
type reports struct {
	mu  sync.Mutex
	all []occupancy.RecordState
}

func (r *reports) add(rs occupancy.RecordState) {
	r.mu.Lock()
	r.all = append(r.all, rs)
	r.mu.Unlock()
}

// final waits for the final state of id.
func (r *reports) final(t *testing.T, id string) occupancy.RecordState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, rs := range r.all {
			if rs.ID == id && rs.Terminal() {
				r.mu.Unlock()
				return rs
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // polling
	}
	t.Fatalf("no final state of %s", id)
	return occupancy.RecordState{}
}

func (r *reports) states(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rs := range r.all {
		if rs.ID == id {
			out = append(out, rs.State)
		}
	}
	return out
}

type env struct {
	svc   *Service
	rooms *room.Manager
	store *blob.Local
	rep   *reports
	dir   string
}

// newEnv runs a Service over a room manager without media and a local
// store in temporary folders; mutate edits the config, fs the files.
func newEnv(t *testing.T, mutate func(*Config), fs func(string) record.FS) *env {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api, err := rtc.NewAPI(rtc.APIOptions{UDP: udp, Loopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	rooms, err := room.NewManager(room.Config{API: api, NodeID: "edge-1", EmptyTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st, err := blob.NewLocal(blob.LocalConfig{Dir: t.TempDir()}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rooms: rooms, store: st, rep: &reports{}, dir: t.TempDir()}
	cfg := Config{Dir: e.dir}
	if mutate != nil {
		mutate(&cfg)
	}
	e.svc, err = New(cfg, Deps{Rooms: rooms, Store: st, Report: e.rep.add, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		rooms.Close()
		_ = udp.Close()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.svc.mu.Lock()
		running := e.svc.work != nil
		e.svc.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(time.Millisecond) // polling
	}
	return e
}

func (e *env) join(t *testing.T, roomName, identity string) *room.Participant {
	t.Helper()
	p, err := e.rooms.Join(room.JoinParams{Room: roomName, Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, false)
	return p
}

// A recording of a call where nobody published fails (nothing to
// compose), and what was written (the manifest) is stored all the same;
// the room shows it recorded while it runs, and a second start is
// refused.
func TestNothingRecordedFailsAndKeepsTheManifest(t *testing.T) {
	e := newEnv(t, nil, nil)
	if _, err := e.svc.Start("nowhere"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("start in a room not here: %v", err)
	}
	e.join(t, "r1", "alice")
	info, err := e.svc.Start("r1")
	if err != nil {
		t.Fatal(err)
	}
	if !e.rooms.Room("r1").Proto().ActiveRecording {
		t.Fatal("the room is not flagged as recorded")
	}
	if _, err := e.svc.Start("r1"); !errors.Is(err, room.ErrRecording) {
		t.Fatalf("second start: %v, want room.ErrRecording", err)
	}
	if err := e.svc.Stop(context.Background(), "r1", "not-it"); !errors.Is(err, room.ErrNotRecording) {
		t.Fatalf("stop of another id: %v", err)
	}
	if err := e.svc.Stop(context.Background(), "r1", info.ID); err != nil {
		t.Fatal(err)
	}
	end := e.rep.final(t, info.ID)
	if end.State != occupancy.RecordFailed || !strings.Contains(end.Error, "nothing recorded") {
		t.Fatalf("end %+v, want failed: nothing recorded", end)
	}
	if got := strings.Join(e.rep.states(info.ID), " "); got != "recording processing failed" {
		t.Fatalf("states %q", got)
	}
	if len(end.Files) != 1 || end.Files[0].Key != "recordings/"+info.ID+"/manifest.json" || end.Composed != "" {
		t.Fatalf("stored %+v, want the manifest alone", end.Files)
	}
	if _, err := e.store.Stat(context.Background(), end.Files[0].Key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, info.ID)); !os.IsNotExist(err) {
		t.Fatalf("the stored recording's folder is still there: %v", err)
	}
	if e.rooms.Room("r1").Proto().ActiveRecording {
		t.Fatal("the room is still flagged")
	}
}

// fullFS fails every write: a disk that is full.
type fullFS struct{}

func (fullFS) Create(string) (record.File, error) { return nil, record.ErrWrite }
func (fullFS) WriteFile(string, []byte) error     { return errors.New("no space left on device") }

// A full disk ends the recording as failed at once, with the reason.
func TestDiskFullFails(t *testing.T) {
	e := newEnv(t, nil, func(string) record.FS { return fullFS{} })
	e.join(t, "r1", "alice")
	info, err := e.svc.Start("r1")
	if err != nil {
		t.Fatal(err)
	}
	end := e.rep.final(t, info.ID)
	if end.State != occupancy.RecordFailed || !strings.Contains(end.Error, "no space left") {
		t.Fatalf("end %+v, want failed with the disk's error", end)
	}
	if e.rooms.Room("r1").Proto().ActiveRecording {
		t.Fatal("the room is still flagged after the recording failed")
	}
}

// What a killed edge left in the recording folder is stored when the
// edge runs again, and reported failed with its files.
func TestLeftoversStoredAsFailed(t *testing.T) {
	dir := t.TempDir()
	id := "0123456789abcdef01234567"
	left := filepath.Join(dir, id)
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	m := record.Manifest{ID: id, Room: "r1", State: record.StateRecording, StartedAt: time.Now().Add(-time.Minute).UTC(), DurationMs: 30000}
	b, _ := json.Marshal(m)
	for name, data := range map[string][]byte{"manifest.json": b, "01-alice-camera.webm": []byte("partial video"), ".tmp-manifest.json-1": nil} {
		if err := os.WriteFile(filepath.Join(left, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, func(c *Config) { c.Dir = dir }, nil)
	end := e.rep.final(t, id)
	if end.State != occupancy.RecordFailed || end.Room != "r1" || end.DurationMs != 30000 || !strings.Contains(end.Error, "stopped while recording") {
		t.Fatalf("end %+v", end)
	}
	if len(end.Files) != 2 {
		t.Fatalf("stored %+v, want the video and the manifest", end.Files)
	}
	rc, err := e.store.Get(context.Background(), "recordings/"+id+"/01-alice-camera.webm")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "partial video" {
		t.Fatalf("stored %q", got)
	}
}

// An ffmpeg that fails ends the recording as failed with ffmpeg's
// reason, and the track files and the manifest are stored all the same.
func TestComposeFailureKeepsTheTracks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Compose.FFmpeg = "false" }, nil) // /bin/false: exits 1
	id := "00112233445566778899aabb"
	dir := filepath.Join(e.dir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := record.Manifest{ID: id, Room: "r1", State: record.StateFinished, StartedAt: time.Now().Add(-10 * time.Second), DurationMs: 10000,
		Tracks: []record.ManifestTrack{{Participant: "ann", Kind: "audio", Codec: "opus",
			Files: []record.ManifestFile{{Name: "01-ann-microphone.webm", StartMs: 0, EndMs: 10000, Frames: 500, Bytes: 5}}}}}
	for name, data := range map[string]string{"01-ann-microphone.webm": "audio", "manifest.json": "{}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	end := e.svc.process(context.Background(), id, dir, m, nil)
	if end.State != occupancy.RecordFailed || !strings.Contains(end.Error, "ffmpeg") || end.Composed != "" {
		t.Fatalf("end %+v, want failed by ffmpeg", end)
	}
	if len(end.Files) != 2 {
		t.Fatalf("stored %+v, want the track and the manifest", end.Files)
	}
	if _, err := e.store.Stat(context.Background(), "recordings/"+id+"/01-ann-microphone.webm"); err != nil {
		t.Fatal(err)
	}
}
