package record

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recordView is the part of a records list item the tests read.
type recordView struct {
	ID       string  `json:"id"`
	State    string  `json:"state"`
	FileSize int64   `json:"fileSize"`
	Error    string  `json:"error"`
	CallID   string  `json:"callId"`
	Duration float64 `json:"durationSeconds"`
}

func (w *world) records(token, space string, rm room) []recordView {
	w.t.Helper()
	var l struct {
		Items []recordView `json:"items"`
		Total int          `json:"total"`
	}
	if c := w.call("GET", "/spaces/"+space+"/rooms/"+rm.id+"/records", token, nil, &l); c != 200 {
		w.t.Fatalf("list records: %d", c)
	}
	return l.Items
}

// TestRecordCall: three SDK participants publish VP8 and Opus test
// patterns; a moderator records 30 s of the call through the REST API.
// Each track's file lasts the recorded time (ffprobe, within 1 s); the
// composed MP4 decodes end to end, lasts the recorded time, has no black
// picture and has sound; the records list shows it finished with the
// composed file's size; the download link serves exactly the stored
// bytes; record_started and record_finished arrive signed, with the
// recording's id.
func TestRecordCall(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s recording of a call of three processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	ivf, ogg := w.media(10, "testsrc2", "smptebars", "rgbtestsrc")
	owner, space := w.owner()
	rm := w.room(owner, space, map[string]any{"isRecordAllowed": true})
	for i, name := range []string{"ann", "bob", "cyd"} {
		url, tok := w.guest(owner, space, rm, name)
		w.publish(name, url, tok, ivf[i], ogg)
	}

	var rec recordView
	if c := w.call("POST", "/spaces/"+space+"/rooms/"+rm.id+"/records/start", owner, nil, &rec); c != 200 {
		t.Fatalf("start: %d", c)
	}
	started := time.Now()
	if rec.State != "recording" || rec.CallID == "" {
		t.Fatalf("started %+v", rec)
	}
	w.hooks.event(w, "record_started", rec.ID, 10*time.Second)
	select { // the recording the issue asks for
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if c := w.call("POST", "/spaces/"+space+"/rooms/"+rm.id+"/records/stop", owner, map[string]any{"recordId": rec.ID}, nil); c != 200 {
		t.Fatalf("stop: %d", c)
	}
	recorded := time.Since(started).Seconds()
	w.hooks.event(w, "record_finished", rec.ID, 90*time.Second)

	var got recordView
	for _, r := range w.records(owner, space, rm) {
		if r.ID == rec.ID {
			got = r
		}
	}
	mp4 := filepath.Join(w.storage, "recordings", rec.ID, rec.ID+".mp4")
	st, err := os.Stat(mp4)
	if err != nil {
		t.Fatalf("the composed file is not stored: %v", err)
	}
	if got.State != "finished" || got.FileSize != st.Size() || got.Error != "" {
		t.Fatalf("listed %+v, want finished with %d bytes", got, st.Size())
	}
	t.Logf("recorded %.1f s: composed file %d bytes, listed %.1f s", recorded, st.Size(), got.Duration)

	// Every track: a file that lasts the recording.
	tracks, err := filepath.Glob(filepath.Join(w.storage, "recordings", rec.ID, "*.webm"))
	if err != nil || len(tracks) != 6 {
		t.Fatalf("track files %v (%v), want 6 (3 participants, video and audio)", tracks, err)
	}
	for _, f := range tracks {
		d := w.probe(f).seconds()
		t.Logf("%s: %.3f s", filepath.Base(f), d)
		if math.Abs(d-recorded) > 1 {
			t.Errorf("%s lasts %.3f s, recorded %.3f s", filepath.Base(f), d, recorded)
		}
	}
	w.checkComposed(mp4, recorded)

	// The link anyone may fetch serves the stored bytes.
	var link []byte
	if c := w.call("GET", "/spaces/"+space+"/rooms/"+rm.id+"/records/download/"+rec.ID, owner, nil, &link); c != 200 {
		t.Fatalf("download: %d", c)
	}
	resp, err := w.hc.Get(string(link))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch the link: %d %v", resp.StatusCode, err)
	}
	stored, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, stored) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("the link served %d bytes (%s), the stored file has %d", len(body), resp.Header.Get("Content-Type"), len(stored))
	}
}

// TestAutoRecordingAndEdgeLoss: in a room that records automatically the
// recording starts with the call and finishes with it (record_started,
// record_finished, signed, with its id). In the next call the recording
// edge is killed: the recording ends as record_failed, the files written
// until then stay on the edge's disk, and the edge stores them when it
// runs again.
func TestAutoRecordingAndEdgeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("calls of several processes, an edge killed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	ivf, ogg := w.media(4, "testsrc2")
	owner, space := w.owner()
	rm := w.room(owner, space, map[string]any{"isRecordAllowed": true, "isAutoRecordingAllowed": true})

	url, tok := w.guest(owner, space, rm, "ann")
	ann := w.publish("ann", url, tok, ivf[0], ogg)
	first := w.hooks.event(w, "record_started", "", 15*time.Second)
	if first.RecordID == "" || first.RoomID != rm.id || first.SpaceID != space {
		t.Fatalf("record_started %+v", first)
	}
	w.eventually("some media recorded", 20*time.Second, func() bool { return trackBytes(w, first.RecordID) > 20_000 })
	ann.leave() // the call ends: the recording ends with it
	w.hooks.event(w, "record_finished", first.RecordID, 90*time.Second)

	// The next call; its recording's edge dies mid-call.
	w.eventually("the first call's room closed", 20*time.Second, func() bool {
		var l struct {
			Total int `json:"total"`
		}
		return w.call("GET", "/spaces/"+space+"/rooms/"+rm.id+"/participants", owner, nil, &l) == 200 && l.Total == 0
	})
	url, tok = w.guest(owner, space, rm, "bob")
	w.publish("bob", url, tok, ivf[0], ogg)
	var second string
	w.eventually("a second recording", 20*time.Second, func() bool {
		for _, r := range w.records(owner, space, rm) {
			if r.ID != first.RecordID && r.State == "recording" {
				second = r.ID
				return true
			}
		}
		return false
	})
	w.hooks.event(w, "record_started", second, 15*time.Second)
	w.eventually("media recorded in the second call", 20*time.Second, func() bool { return trackBytes(w, second) > 20_000 })
	w.kill(w.edge)
	failed := w.hooks.event(w, "record_failed", second, 30*time.Second)
	if failed.RoomID != rm.id {
		t.Fatalf("record_failed %+v", failed)
	}
	var lost recordView
	for _, r := range w.records(owner, space, rm) {
		if r.ID == second {
			lost = r
		}
	}
	if lost.State != "failed" || !strings.Contains(lost.Error, "edge lost") {
		t.Fatalf("the lost recording is listed %+v", lost)
	}
	partial, _ := filepath.Glob(filepath.Join(w.recDir, second, "*.webm"))
	if len(partial) != 2 {
		t.Fatalf("partial files on the edge: %v, want its video and audio", partial)
	}
	for _, f := range partial {
		if p := w.probe(f); len(p.Streams) != 1 {
			t.Errorf("%s: %d streams", filepath.Base(f), len(p.Streams))
		}
	}

	// The edge comes back and stores what it left.
	w.run(w.edge)
	w.eventually("the partial files stored", 30*time.Second, func() bool {
		stored, _ := filepath.Glob(filepath.Join(w.storage, "recordings", second, "*.webm"))
		return len(stored) == 2
	})
	if _, err := os.Stat(filepath.Join(w.recDir, second)); !os.IsNotExist(err) {
		t.Fatalf("the stored leftovers are still in the edge's folder: %v", err)
	}
}

// trackBytes is what the edge has written of recording id's track files.
func trackBytes(w *world, id string) int64 {
	files, _ := filepath.Glob(filepath.Join(w.recDir, id, "*.webm"))
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}
