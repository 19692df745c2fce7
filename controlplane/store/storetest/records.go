package storetest

import (
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// records lists every recording of a room.
func (f *fx) records(c store.ClientID, sp store.SpaceID, room store.RoomID, flt store.RecordFilter) []store.Record {
	f.t.Helper()
	l, n, err := f.s.ListRecords(f.ctx, c, sp, room, flt, store.Page{Limit: store.MaxPageLimit})
	f.must(err, "list records")
	if n != len(l) {
		f.t.Fatalf("total %d, %d listed", n, len(l))
	}
	return l
}

func (f *fx) recordReport(edge, boot string, seq uint64, full bool, at time.Time, recs ...store.RecordUpdate) {
	f.t.Helper()
	f.must(f.s.ApplyEdgeReport(f.ctx, store.EdgeReport{Edge: edge, Boot: boot, Seq: seq, Full: full, Records: recs}, at), "apply edge report")
}

// testRecords: a recording appears with its record_started (from the
// answer of the edge asked to start it, or from the edge's report: once),
// belongs to the call that was on, moves forward only (a stale state
// changes nothing), ends with its files and its record_finished; the
// list selects by start date; a foreign room or id is not found.
func testRecords(f *fx) {
	w := f.world()
	c, sp, room := w.client.ID, w.space.ID, w.room.ID
	t0 := f.now
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	f.report("e1", "b1", 1, false, at(0), roomState(room, sess("s1", "ann")))
	call := f.calls(c, sp)[0]

	// The control plane stores the start under the name it knows the
	// edge by; the edge's report of the same start claims it.
	start := store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordRecording, StartedAt: at(1)}
	f.must(f.s.ApplyRecords(f.ctx, "placed-as", []store.RecordUpdate{start}, at(1)), "apply the start")
	f.recordReport("e1", "b1", 2, false, at(1), start)
	l := f.records(c, sp, room, store.RecordFilter{})
	if len(l) != 1 || l[0].ID != "rec1" || l[0].State != store.RecordRecording || l[0].CallID != call.ID || l[0].Edge != "e1" ||
		!l[0].StartedAt.Equal(at(1)) || l[0].FinishedAt != nil || l[0].SpaceID != sp || l[0].Name == "" {
		f.t.Fatalf("recording after its start: %+v", l)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted, store.EventRecordStarted}, "record_started queued once")

	files := []store.RecordFile{{Key: "recordings/rec1/01-ann-camera.webm", Bytes: 100}, {Key: "recordings/rec1/rec1.mp4", Bytes: 2000}}
	done := store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordFinished, StartedAt: at(1), FinishedAt: at(31), DurationMs: 30000,
		FileKey: "recordings/rec1/rec1.mp4", FileSize: 2000, Files: files}
	f.recordReport("e1", "b1", 3, false, at(32), store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordProcessing, StartedAt: at(1)}, done)
	// A stale state, and another edge's word on it once it is over,
	// change nothing.
	f.recordReport("e1", "b1", 4, false, at(33), store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordRecording, StartedAt: at(1)})
	f.recordReport("e2", "x", 1, false, at(33), store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordFailed, Error: "no", StartedAt: at(1)})
	got, err := f.s.GetRecord(f.ctx, c, sp, room, "rec1")
	f.must(err, "get record")
	if got.State != store.RecordFinished || got.FileSize != 2000 || got.FileKey != done.FileKey || got.DurationMs != 30000 ||
		got.FinishedAt == nil || !got.FinishedAt.Equal(at(31)) || len(got.Files) != 2 || got.Files[1] != files[1] || got.Error != "" {
		f.t.Fatalf("finished recording: %+v", got)
	}
	f.eq(f.events(c, sp), []string{store.EventCallStarted, store.EventRecordStarted, store.EventRecordFinished}, "record_finished queued once")
	d, _, err := f.s.ListWebhookDeliveries(f.ctx, c, sp, store.Page{})
	f.must(err, "list deliveries")
	if d[0].Event.RecordID != "rec1" || d[0].Event.Name != store.EventRecordFinished {
		f.t.Fatalf("record_finished delivery: %+v", d[0].Event)
	}

	// Dates select by start.
	f.must(f.s.ApplyRecords(f.ctx, "e1", []store.RecordUpdate{{ID: "rec2", Room: room, State: store.RecordRecording, StartedAt: at(100)}}, at(100)), "second")
	if l = f.records(c, sp, room, store.RecordFilter{}); len(l) != 2 || l[0].ID != "rec2" {
		f.t.Fatalf("newest first: %+v", l)
	}
	if l = f.records(c, sp, room, store.RecordFilter{From: at(50)}); len(l) != 1 || l[0].ID != "rec2" {
		f.t.Fatalf("from: %+v", l)
	}
	if l = f.records(c, sp, room, store.RecordFilter{To: at(50)}); len(l) != 1 || l[0].ID != "rec1" {
		f.t.Fatalf("to: %+v", l)
	}
	// Not found: an unknown id, another room, another client, a room the
	// store does not know (ignored).
	_, err = f.s.GetRecord(f.ctx, c, sp, room, "nope")
	f.is(err, store.ErrNotFound, "unknown record")
	other := f.client()
	_, err = f.s.GetRecord(f.ctx, other.ID, sp, room, "rec1")
	f.is(err, store.ErrNotFound, "another client's record")
	_, _, err = f.s.ListRecords(f.ctx, other.ID, sp, room, store.RecordFilter{}, store.Page{})
	f.is(err, store.ErrNotFound, "another client's room")
	f.must(f.s.ApplyRecords(f.ctx, "e1", []store.RecordUpdate{{ID: "rec9", Room: "nowhere", State: store.RecordRecording, StartedAt: at(1)}}, at(1)), "unknown room")
}

// testRecordsLost: a recording whose edge restarted without it (a full
// report that leaves it out) or went silent ends failed with the reason,
// with its record_failed; files the edge stores later still reach it.
func testRecordsLost(f *fx) {
	w := f.world()
	c, sp, room := w.client.ID, w.space.ID, w.room.ID
	t0 := f.now
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	f.recordReport("e1", "b1", 1, false, at(0), store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordRecording, StartedAt: at(0)})
	f.recordReport("e2", "x", 1, false, at(0), store.RecordUpdate{ID: "rec2", Room: room, State: store.RecordRecording, StartedAt: at(0)})
	// e1 restarts: its first snapshot does not list rec1.
	f.recordReport("e1", "b2", 1, true, at(5))
	r1, err := f.s.GetRecord(f.ctx, c, sp, room, "rec1")
	f.must(err, "get rec1")
	if r1.State != store.RecordFailed || r1.Error == "" || r1.FinishedAt == nil {
		f.t.Fatalf("rec1 after its edge restarted: %+v", r1)
	}
	// The restarted edge stores what rec1 left and says so.
	left := []store.RecordFile{{Key: "recordings/rec1/01-ann-camera.webm", Bytes: 42}}
	f.recordReport("e1", "b2", 2, false, at(6), store.RecordUpdate{ID: "rec1", Room: room, State: store.RecordFailed, Error: "left over",
		StartedAt: at(0), DurationMs: 4000, Files: left})
	if r1, err = f.s.GetRecord(f.ctx, c, sp, room, "rec1"); err != nil || len(r1.Files) != 1 || r1.Files[0] != left[0] || r1.DurationMs != 4000 {
		f.t.Fatalf("rec1's files: %+v, %v", r1, err)
	}
	// e2 goes silent.
	if _, err := f.s.SweepCalls(f.ctx, at(100), at(100)); err != nil {
		f.t.Fatal(err)
	}
	r2, err := f.s.GetRecord(f.ctx, c, sp, room, "rec2")
	f.must(err, "get rec2")
	if r2.State != store.RecordFailed || r2.Error == "" {
		f.t.Fatalf("rec2 after its edge went silent: %+v", r2)
	}
	n := 0
	for _, e := range f.events(c, sp) {
		if e == store.EventRecordFailed {
			n++
		}
	}
	if n != 2 {
		f.t.Fatalf("%d record_failed, want 2: %v", n, f.events(c, sp))
	}
}
