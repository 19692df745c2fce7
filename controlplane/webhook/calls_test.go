package webhook

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/spacecast/spacecast/edge/report"
)

// notes records the events Calls emits.
type notes struct {
	mu  sync.Mutex
	evs []string
}

func (n *notes) Deliver(ev Event) bool {
	n.mu.Lock()
	n.evs = append(n.evs, string(ev.Name)+":"+string(ev.RoomID))
	n.mu.Unlock()
	return true
}

func (n *notes) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.evs, " ")
}

// edgeSim sends batches as one edge run would.
type edgeSim struct {
	name, boot string
	seq        uint64
}

func (e *edgeSim) batch(full bool, rooms ...any) report.Batch {
	e.seq++
	b := report.Batch{Edge: e.name, Boot: e.boot, Seq: e.seq, Full: full, Rooms: []report.RoomState{}}
	for i := 0; i < len(rooms); i += 2 {
		b.Rooms = append(b.Rooms, report.RoomState{Room: rooms[i].(string), Participants: rooms[i+1].(int)})
	}
	return b
}

const grace = 5 * time.Second

// step is one thing that happens in a Calls scenario.
type step struct {
	edge  *edgeSim
	full  bool
	rooms []any
	wait  time.Duration // then let fake time pass
	stale *report.Batch // send this batch again instead
}

func TestCalls(t *testing.T) {
	a := func() *edgeSim { return &edgeSim{name: "edge-a", boot: "a1"} }
	b := func() *edgeSim { return &edgeSim{name: "edge-b", boot: "b1"} }
	tests := []struct {
		name  string
		steps func() []step
		want  string
	}{
		{"one edge: start, empty, grace, finish", func() []step {
			ea := a()
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {edge: ea, rooms: []any{"r1", 2}}, {edge: ea, rooms: []any{"r1", 0}, wait: grace + time.Second}}
		}, "call_started:r1 call_finished:r1"},
		{"not finished within the grace", func() []step {
			ea := a()
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {edge: ea, rooms: []any{"r1", 0}, wait: grace - time.Second}}
		}, "call_started:r1"},
		{"back within the grace: one call", func() []step {
			ea := a()
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {edge: ea, rooms: []any{"r1", 0}, wait: grace / 2}, {edge: ea, rooms: []any{"r1", 1}, wait: grace * 2}}
		}, "call_started:r1"},
		{"two edges host one room: one start, one finish", func() []step {
			ea, eb := a(), b()
			return []step{
				{edge: ea, rooms: []any{"r1", 1}},
				{edge: eb, rooms: []any{"r1", 3}},
				{edge: ea, rooms: []any{"r1", 0}, wait: grace * 2}, // b still has it
				{edge: ea, rooms: []any{"r1", 1}},
				{edge: eb, rooms: []any{"r1", 0}},
				{edge: ea, rooms: []any{"r1", 0}, wait: grace + time.Second},
			}
		}, "call_started:r1 call_finished:r1"},
		{"participant moves between edges", func() []step {
			ea, eb := a(), b()
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {edge: ea, rooms: []any{"r1", 0}, wait: time.Second}, {edge: eb, rooms: []any{"r1", 1}, wait: grace * 2}}
		}, "call_started:r1"},
		{"a snapshot leaving a room out empties it", func() []step {
			ea := a()
			return []step{{edge: ea, rooms: []any{"r1", 1, "r2", 1}}, {edge: ea, full: true, rooms: []any{"r2", 4}, wait: grace + time.Second}}
		}, "call_started:r1 call_started:r2 call_finished:r1"},
		{"an edge's goodbye finishes its calls", func() []step {
			ea := a()
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {edge: ea, full: true, wait: grace + time.Second}}
		}, "call_started:r1 call_finished:r1"},
		{"a silent edge times out", func() []step {
			ea := a()
			return []step{{edge: ea, rooms: []any{"r1", 1}, wait: DefaultCallsConfig().EdgeTTL + grace + 2*time.Second}}
		}, "call_started:r1 call_finished:r1"},
		{"a late retry of an old batch is ignored", func() []step {
			ea := a()
			old := ea.batch(false, "r1", 0)
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {stale: &old, wait: grace * 2}}
		}, "call_started:r1"},
		{"a restarted edge starts a new sequence", func() []step {
			ea := a()
			ea2 := &edgeSim{name: "edge-a", boot: "a2"}
			return []step{{edge: ea, rooms: []any{"r1", 1}}, {edge: ea, rooms: []any{"r1", 2}}, {edge: ea2, full: true, wait: grace + time.Second}}
		}, "call_started:r1 call_finished:r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := &notes{}
				c, err := NewCalls(DefaultCallsConfig(), n, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- c.Run(ctx) }()
				for i, s := range tt.steps() {
					var b report.Batch
					if s.stale != nil {
						b = *s.stale
					} else {
						b = s.edge.batch(s.full, s.rooms...)
					}
					if err := c.Report(ctx, b); err != nil {
						t.Fatalf("step %d: Report() = %v", i, err)
					}
					synctest.Wait()
					time.Sleep(s.wait)
					synctest.Wait()
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run() = %v", err)
				}
				if got := n.String(); got != tt.want {
					t.Fatalf("events %q, want %q", got, tt.want)
				}
			})
		})
	}
}

func TestCallsReportAfterClose(t *testing.T) {
	c, err := NewCalls(DefaultCallsConfig(), &notes{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if err := c.Report(context.Background(), report.Batch{Edge: "e"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Report() after Close = %v", err)
	}
	if err := c.Report(context.Background(), report.Batch{}); err == nil {
		t.Fatal("Report() of an invalid batch = nil")
	}
	if _, err := NewCalls(CallsConfig{}, &notes{}, nil, nil); err == nil {
		t.Fatal("NewCalls(zero config) = nil error")
	}
}
