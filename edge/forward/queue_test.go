package forward

import (
	"encoding/binary"
	"slices"
	"testing"
	"unsafe"
)

// TestQueueReusesFirstSlots checks that a queue drained as fast as it fills
// keeps writing its first slot, so the rest of its buffer never becomes
// resident memory; a backlog still uses (and wraps around) the whole ring.
func TestQueueReusesFirstSlots(t *testing.T) {
	const size = 8
	tests := []struct {
		name    string
		backlog int // packets queued before each drain
		consume func(q *Queue, buf []byte) bool
		slots   int // distinct slots expected to be written
	}{
		{"pop one at a time", 1, func(q *Queue, buf []byte) bool { _, _, ok := pop(q, buf); return ok }, 1},
		{"front and advance one at a time", 1, func(q *Queue, _ []byte) bool {
			_, ok := q.Front()
			if ok {
				q.Advance()
			}
			return ok
		}, 1},
		{"backlog of three", 3, func(q *Queue, buf []byte) bool { _, _, ok := pop(q, buf); return ok }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := NewQueue(QueueConfig{Size: size})
			if err != nil {
				t.Fatal(err)
			}
			src := newRig(t, 1, Config{}, 4).src
			f, err := New(Config{Source: src, Queue: q, SSRC: 1, Tag: 1})
			if err != nil {
				t.Fatal(err)
			}
			used := map[uintptr]bool{}
			buf := make([]byte, 1500)
			seq := uint16(1)
			for round := 0; round < 5*size; round++ {
				for i := 0; i < tt.backlog; i++ {
					p, err := src.Parse(vp8Packet(pk{seq: seq, ts: uint32(seq) * 3000, key: seq == 1, pic: seq}), 0, int64(seq))
					if err != nil {
						t.Fatal(err)
					}
					seq++
					if f.Forward(&p).Verdict != Sent {
						t.Fatalf("packet %d not queued", seq-1)
					}
				}
				for {
					front, ok := q.Front()
					if !ok {
						break
					}
					used[uintptr(unsafe.Pointer(&front.Pkt[0]))] = true
					if !tt.consume(q, buf) {
						t.Fatal("queue emptied under Front")
					}
				}
			}
			if len(used) != tt.slots {
				t.Fatalf("%d distinct slots written, want %d", len(used), tt.slots)
			}
			allocated := 0
			for _, s := range q.slots {
				if s != nil {
					allocated++
				}
			}
			if allocated != tt.slots {
				t.Fatalf("%d slots allocated, want %d", allocated, tt.slots)
			}
			if st := q.Stats(); st.Pushed != uint64(5*size*tt.backlog) || st.Dropped != 0 || st.Len != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// TestQueuePendingRun checks the consumer's lock-free run: Peek returns what
// is queued, in order; packets pushed while the run is read are not in it but
// come with Next, which moves past the run; a full queue drops rather than
// overwrite a run not yet moved past; an emptied queue starts over at its
// first slot.
func TestQueuePendingRun(t *testing.T) {
	const size = 4
	r := newRig(t, 1, Config{}, size)
	q := r.q
	seq := uint16(1)
	push := func(n int) {
		t.Helper()
		for range n {
			p, err := r.src.Parse(vp8Packet(pk{seq: seq, ts: uint32(seq) * 3000, key: seq == 1, pic: seq}), 0, int64(seq))
			if err != nil {
				t.Fatal(err)
			}
			if res := r.f.Forward(&p); res.Verdict != Sent && res.Verdict != Dropped {
				t.Fatalf("packet %d: verdict %v", seq, res.Verdict)
			}
			seq++
		}
	}
	seqs := func(run Pending) []uint16 {
		var out []uint16
		for i := range run.Len() {
			out = append(out, binary.BigEndian.Uint16(run.At(i).Pkt[2:]))
		}
		return out
	}
	if run := q.Peek(); run.Len() != 0 {
		t.Fatalf("empty queue: run of %d", run.Len())
	}
	push(2)
	run := q.Peek()
	got := seqs(run)
	push(3) // two fit, one is dropped: the run's slots are not free yet
	if again := seqs(run); !slices.Equal(again, got) || len(got) != 2 || got[1] != got[0]+1 {
		t.Fatalf("run %v, after pushes %v: want two consecutive packets, unchanged", got, again)
	}
	if st := q.Stats(); st.Dropped != 1 || st.Len != size {
		t.Fatalf("stats %+v, want 1 dropped, %d queued", st, size)
	}
	first := &run.At(0).Pkt[0]
	run = q.Next(run.Len())
	if later := seqs(run); len(later) != 2 || later[0] != got[1]+1 || later[1] != later[0]+1 {
		t.Fatalf("after the run of %v: %v, want the next two", got, later)
	}
	if run = q.Next(run.Len()); run.Len() != 0 || q.Len() != 0 {
		t.Fatalf("queue not empty: run %d, len %d", run.Len(), q.Len())
	}
	push(1)
	if run = q.Peek(); run.Len() != 1 || &run.At(0).Pkt[0] != first {
		t.Fatal("an emptied queue did not start over at its first slot")
	}
}
