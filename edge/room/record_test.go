package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/record"
)

// runRecording makes a recording into a temporary folder and runs it
// until the test stops it; wait returns Run's error and the manifest.
func runRecording(t *testing.T, id string) (rec *record.Recording, wait func() (record.Manifest, error)) {
	t.Helper()
	rec, err := record.New(record.Config{ID: id, Room: "r", Dir: t.TempDir(), ReportWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	t.Cleanup(func() { rec.Stop(); <-done })
	var res error
	waited := false
	return rec, func() (record.Manifest, error) {
		if !waited {
			rec.Stop()
			res, waited = <-done, true
			done <- res
		}
		return rec.Manifest(), res
	}
}

// TestRecordingSpansEdges: a room on two edges, a publisher on each. Edge
// A records the whole room: its own publisher's tracks and the ones it
// relays from B, whose top layer it pulls although nobody on A watches
// them. Both edges flag the room as recorded; B refuses a second
// recording and passes a stop on to A.
func TestRecordingSpansEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time media for several seconds")
	}
	e := newSpan(t, nil, "edge-a", "edge-b")
	a, b := e[0], e[1]
	alice := publish(t, a.m, "r", "alice")
	bob := publish(t, b.m, "r", "bob")
	eventually(t, "A relays bob's tracks", func() bool {
		ra := a.m.Room("r")
		return ra.Track(bob.video.sid) != nil && ra.Track(bob.audio.sid) != nil
	})
	ra, rb := a.m.Room("r"), b.m.Room("r")
	if ra.Proto().ActiveRecording || rb.Proto().ActiveRecording {
		t.Fatal("a room is flagged as recorded before any recording")
	}

	relayed := ra.Track(bob.video.sid)
	rec, wait := runRecording(t, "rec1")
	ended := make(chan error, 1)
	if err := ra.StartRecording("rec1", rec, func(err error) { ended <- err }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both edges flag the room as recorded", func() bool {
		return ra.Proto().ActiveRecording && rb.Proto().ActiveRecording
	})
	other, _ := runRecording(t, "rec2")
	if err := rb.StartRecording("rec2", other, func(error) {}); !errors.Is(err, ErrRecording) {
		t.Fatalf("a second recording on B: %v, want ErrRecording", err)
	}
	// Nobody on A watches bob's video: the recording alone pulls its top
	// layer, and has alice's publisher send her top layer.
	eventually(t, "A pulls bob's top layer for the recording", func() bool { return relayed.Pulled()&0b100 != 0 })
	if !alice.video.demand.Enabled(2) {
		t.Fatal("alice's publisher is not asked for her top layer")
	}
	// Two seconds of media reach every tapped layer (the recording's
	// manifest is only rewritten every 10 s; the final one is read below).
	type tapped struct {
		t     *PubTrack
		layer int
		from  uint64
	}
	var layers []*tapped
	for _, tr := range []*PubTrack{alice.video, alice.audio, relayed, ra.Track(bob.audio.sid)} {
		q := tr.media.Layers() - 1
		layers = append(layers, &tapped{t: tr, layer: q, from: tr.media.Source().LayerStats(q, a.m.now()).Packets})
	}
	eventually(t, "two seconds of media on every recorded layer", func() bool {
		for _, l := range layers {
			if l.t.media.Source().LayerStats(l.layer, a.m.now()).Packets < l.from+100 {
				return false
			}
		}
		return true
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rb.StopRecording(ctx, "rec1"); err != nil {
		t.Fatalf("stop through B: %v", err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("recording ended with %v, want a plain stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stop did not reach A")
	}
	eventually(t, "neither edge flags the room", func() bool {
		return !ra.Proto().ActiveRecording && !rb.Proto().ActiveRecording
	})
	eventually(t, "the recording no longer pulls bob's video", func() bool { return relayed.Pulled() == 0 })
	// Alice's track keeps the relay's feed to B alone; the relayed one
	// none.
	alice.video.mu.Lock()
	feeds := len(alice.video.feeds)
	alice.video.mu.Unlock()
	if alice.video.media.Taps() != feeds || relayed.media.Taps() != 0 || alice.video.recorded.Load() || relayed.recorded.Load() {
		t.Fatalf("taps left on the tracks: alice's %d (%d feeds), the relayed one's %d", alice.video.media.Taps(), feeds, relayed.media.Taps())
	}
	m, err := wait()
	if err != nil || m.State != record.StateFinished {
		t.Fatalf("recording: %v, state %s", err, m.State)
	}
	people := map[string]bool{}
	for _, tr := range m.Tracks {
		people[tr.Participant] = true
		if len(tr.Files) == 0 || tr.Files[0].Frames < 30 {
			t.Errorf("%s's %s: %+v, want a file of 30 frames or more", tr.Participant, tr.Kind, tr.Files)
		}
	}
	if len(m.Tracks) != 4 {
		t.Errorf("%d tracks recorded, want 4", len(m.Tracks))
	}
	if !people["alice"] || !people["bob"] {
		t.Fatalf("recorded %v, want alice and bob", people)
	}
}

// TestRecordingEndsWithTheCall: a recording ends by itself once the room
// has had nobody for RecordingGrace, and a room that closes ends it.
func TestRecordingEndsWithTheCall(t *testing.T) {
	m := newTestManager(t, func(c *Config) { c.RecordingGrace = 300 * time.Millisecond; c.EmptyTimeout = time.Hour })
	p, err := m.Join(JoinParams{Room: "r", Identity: "alice", Permission: allPerms()})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, false)
	r := m.Room("r")
	rec, _ := runRecording(t, "rec1")
	ended := make(chan error, 1)
	if err := r.StartRecording("rec1", rec, func(err error) { ended <- err }); err != nil {
		t.Fatal(err)
	}
	if !r.Proto().ActiveRecording {
		t.Fatal("room not flagged")
	}
	p.Close(0)
	<-p.Done()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("ended with %v, want the end of the call", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the recording outlived the call")
	}
	if r.Proto().ActiveRecording {
		t.Fatal("room still flagged")
	}

	// A room that closes ends its recording with ErrRoomClosed.
	if _, err := m.Join(JoinParams{Room: "r2", Identity: "bob", Permission: allPerms()}); err != nil {
		t.Fatal(err)
	}
	r2 := m.Room("r2")
	rec2, _ := runRecording(t, "rec2")
	if err := r2.StartRecording("rec2", rec2, func(err error) { ended <- err }); err != nil {
		t.Fatal(err)
	}
	r2.Close(0)
	select {
	case err := <-ended:
		if !errors.Is(err, ErrRoomClosed) {
			t.Fatalf("ended with %v, want ErrRoomClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the room did not end its recording")
	}
}
