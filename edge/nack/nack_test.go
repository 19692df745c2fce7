package nack

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ms = int64(time.Millisecond)

func newReq(t *testing.T, cfg Config) *Requester {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ev is one step: a packet arriving (seq >= 0) or a look at what is due.
type ev struct {
	at   int64 // ms
	seq  int   // -1: no packet, only Due
	due  string
	kfrm bool // the gap is too large: ask a keyframe
}

func TestRequester(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		evs   []ev
		stats Stats
	}{
		{"in order: nothing to ask", Config{}, []ev{{0, 1, "[]", false}, {1, 2, "[]", false}, {2, 3, "[]", false}}, Stats{}},
		{"a loss is asked for at once", Config{}, []ev{{0, 1, "[]", false}, {1, 4, "[2 3]", false}, {2, 5, "[]", false}},
			Stats{Missed: 2, Requested: 2}},
		{"asked again after the interval, not before", Config{}, []ev{
			{0, 10, "[]", false}, {1, 12, "[11]", false}, {50, 13, "[]", false}, {101, 14, "[11]", false},
		}, Stats{Missed: 1, Requested: 2}},
		{"the round-trip time stretches the interval", Config{}, []ev{
			{0, 10, "[]", false}, {0, -2, "", false}, {1, 12, "[11]", false}, {150, 13, "[]", false}, {202, 14, "[11]", false},
		}, Stats{Missed: 1, Requested: 2}},
		{"a repaired packet is not asked for again", Config{}, []ev{
			{0, 10, "[]", false}, {1, 13, "[11 12]", false}, {20, 11, "[]", false}, {120, 14, "[12]", false},
		}, Stats{Missed: 2, Recovered: 1, Requested: 3}},
		{"reordered: filled before the next look", Config{}, []ev{
			{0, 10, "[]", false}, {1, 12, "[11]", false}, {2, 11, "[]", false}, {200, 13, "[]", false},
		}, Stats{Missed: 1, Recovered: 1, Requested: 1}},
		{"given up after the tries", Config{Tries: 2}, []ev{
			{0, 10, "[]", false}, {1, 12, "[11]", false}, {110, 13, "[11]", false}, {220, 14, "[]", false},
		}, Stats{Missed: 1, Requested: 2, GaveUp: 1}},
		{"given up when too old", Config{MaxAge: 150 * time.Millisecond}, []ev{
			{0, 10, "[]", false}, {1, 12, "[11]", false}, {110, 13, "[11]", false}, {200, 14, "[]", false},
		}, Stats{Missed: 1, Requested: 2, GaveUp: 1}},
		{"a gap too large asks a keyframe", Config{Capacity: 4}, []ev{
			{0, 10, "[]", false}, {1, 13, "[11 12]", false}, {2, 17, "[]", true}, {3, 18, "[]", false},
		}, Stats{Missed: 2, Requested: 2, GaveUp: 5}},
		{"wraps at 65535", Config{}, []ev{{0, 65534, "[]", false}, {1, 1, "[65535 0]", false}, {2, 0, "[]", false}},
			Stats{Missed: 2, Recovered: 1, Requested: 2}},
		{"older than anything outstanding is ignored", Config{}, []ev{{0, 100, "[]", false}, {1, 90, "[]", false}, {2, 101, "[]", false}}, Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReq(t, tt.cfg)
			var buf []uint16
			for i, e := range tt.evs {
				now := e.at * ms
				if e.seq == -2 {
					r.SetRTT(200 * time.Millisecond)
					continue
				}
				if e.seq >= 0 {
					if kf := r.Received(uint16(e.seq), now); kf != e.kfrm {
						t.Fatalf("step %d: gapTooLarge %v, want %v", i, kf, e.kfrm)
					}
				}
				buf = r.Due(now, buf[:0])
				if got := fmt.Sprint(buf); got != e.due {
					t.Fatalf("step %d (seq %d at %d ms): due %s, want %s", i, e.seq, e.at, got, e.due)
				}
			}
			if r.Stats() != tt.stats {
				t.Fatalf("stats %+v, want %+v", r.Stats(), tt.stats)
			}
		})
	}
}

// TestRepairsFromTheMiddle clears outstanding entries in any order and
// keeps the rest asked for in sequence order.
func TestRepairsFromTheMiddle(t *testing.T) {
	r := newReq(t, Config{Capacity: 8})
	r.Received(0, 0)
	r.Received(7, 0) // 1..6 missing
	for _, s := range []uint16{4, 1, 6} {
		r.Received(s, 0)
	}
	if got := fmt.Sprint(r.Due(0, nil)); got != "[2 3 5]" {
		t.Fatalf("due %s", got)
	}
	r.Received(9, 0) // 8 missing too: the ring wraps
	r.Received(3, 0)
	if got := fmt.Sprint(r.Due(int64(time.Second/2), nil)); got != "[2 5 8]" {
		t.Fatalf("due %s", got)
	}
	if r.Missing() != 3 {
		t.Fatalf("missing %d", r.Missing())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Interval: -1}, {Tries: 300}, {Capacity: 1 << 16}, {MaxAge: -time.Second}} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
}

func BenchmarkReceivedInOrder(b *testing.B) {
	r, _ := New(Config{})
	var buf []uint16
	b.ReportAllocs()
	var s uint16
	for b.Loop() {
		r.Received(s, int64(s))
		buf = r.Due(int64(s), buf[:0])
		s++
	}
}
