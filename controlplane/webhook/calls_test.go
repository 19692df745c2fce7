package webhook

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// edgeSim sends batches as one edge run would.
type edgeSim struct {
	name, boot string
	seq        uint64
}

func (e *edgeSim) batch(full bool, rooms ...occupancy.RoomState) occupancy.Batch {
	e.seq++
	return occupancy.Batch{Edge: e.name, Boot: e.boot, Seq: e.seq, Full: full, Rooms: append([]occupancy.RoomState{}, rooms...)}
}

func in(room string, sids ...string) occupancy.RoomState {
	s := occupancy.RoomState{Room: room, Participants: len(sids), Sessions: []occupancy.Session{}}
	for _, sid := range sids {
		s.Sessions = append(s.Sessions, occupancy.Session{SID: sid, Identity: "u-" + sid, Name: "name " + sid})
	}
	return s
}

// TestCalls: batches from two edges, reported to two trackers (two
// replicas) on one store, make one call with its sessions; the call
// finishes once the room has been empty for the grace, with one
// call_started and one call_finished in the outbox.
func TestCalls(t *testing.T) {
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", "https://hooks.example.com/x", true)
	cfg := DefaultCallsConfig()
	cfg.FinishGrace, cfg.Sweep = 200*time.Millisecond, 20*time.Millisecond
	a, err := NewCalls(cfg, f.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCalls(cfg, f.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCalls(t, a)
	runCalls(t, b)
	ctx := context.Background()
	e1, e2 := &edgeSim{name: "e1", boot: "x"}, &edgeSim{name: "e2", boot: "y"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Report(ctx, e1.batch(false, in("room1", "PA_1"))))
	must(b.Report(ctx, e2.batch(false, in("room1", "PA_2", "PA_3"))))
	stale := e1.batch(true) // sent, lost, retried late below
	must(a.Report(ctx, e1.batch(false, in("room1"))))
	must(b.Report(ctx, stale)) // superseded: changes nothing
	calls, _, err := f.st.ListCalls(ctx, "c1", "space1", store.CallFilter{}, store.Page{})
	must(err)
	if len(calls) != 1 || calls[0].Participants != 2 || calls[0].MaxParticipants != 3 || calls[0].FinishedAt != nil {
		t.Fatalf("calls %+v", calls)
	}
	// A room empty for less than the grace is still in its call.
	must(b.Report(ctx, e2.batch(true)))
	must(a.Report(ctx, e1.batch(false, in("room1", "PA_4"))))
	time.Sleep(2 * cfg.FinishGrace) // the grace passes while someone is there
	must(a.Report(ctx, e1.batch(true)))
	eventually(t, "call_finished", func() bool { return len(f.deliveries("c1", "space1")) == 2 })
	calls, _, err = f.st.ListCalls(ctx, "c1", "space1", store.CallFilter{}, store.Page{})
	must(err)
	if len(calls) != 1 || calls[0].FinishedAt == nil || calls[0].TotalParticipants != 4 || calls[0].UniqueParticipants != 4 {
		t.Fatalf("finished call %+v", calls)
	}
	l := f.deliveries("c1", "space1")
	if l[0].Event.Name != "call_started" || l[1].Event.Name != "call_finished" || l[0].Event.CallID != calls[0].ID || l[1].Event.CallID != calls[0].ID {
		t.Fatalf("events %+v", l)
	}
	// Bad batches are refused before the store.
	if err := a.Report(ctx, occupancy.Batch{}); !errors.Is(err, occupancy.ErrInvalid) {
		t.Fatalf("empty batch: %v", err)
	}
	a.Close()
	a.Close()
	if err := a.Report(ctx, e1.batch(true)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Report after Close = %v", err)
	}
}

// TestCallsSilentEdge: an edge that stops reporting counts as empty after
// EdgeTTL: its call finishes.
func TestCallsSilentEdge(t *testing.T) {
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", "https://hooks.example.com/x", true)
	cfg := DefaultCallsConfig()
	cfg.FinishGrace, cfg.EdgeTTL, cfg.Sweep = 50*time.Millisecond, 300*time.Millisecond, 20*time.Millisecond
	c, err := NewCalls(cfg, f.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCalls(t, c)
	e := &edgeSim{name: "e1", boot: "x"}
	// Before the report: the edge was last heard no earlier than this.
	start := time.Now()
	if err := c.Report(context.Background(), e.batch(true, in("room1", "PA_1"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "call_finished of a silent edge", func() bool { return len(f.deliveries("c1", "space1")) == 2 })
	if took := time.Since(start); took < cfg.EdgeTTL {
		t.Fatalf("finished after %s, before the edge TTL", took)
	}
}
