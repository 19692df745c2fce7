package participant

import (
	"testing"
	"time"
)

func TestStamp(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		fill func(b []byte)
		size int
	}{
		{"vp8 keyframe", func(b []byte) { vp8Frame(b, 0, 30, 640, 480, now) }, 200},
		{"vp8 interframe", func(b []byte) { vp8Frame(b, 1, 30, 640, 480, now) }, 200},
		{"opus", func(b []byte) { opusFrame(b, now) }, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.size)
			tt.fill(b)
			// A VP8 payload descriptor in front must not hide the stamp.
			got, ok := readStamp(append([]byte{0x90, 0x80, 0x12}, b...))
			if !ok || !got.Equal(now) {
				t.Fatalf("readStamp = %v %v", got, ok)
			}
		})
	}
	if b := make([]byte, 30); true {
		vp8Frame(b, 0, 30, 1, 1, now)
		if b[0]&1 != 0 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
			t.Fatalf("keyframe header wrong: % x", b[:10])
		}
	}
	if _, ok := readStamp([]byte("no stamp here")); ok {
		t.Fatal("found a stamp in a plain payload")
	}
}

func TestTrackStats(t *testing.T) {
	tests := []struct {
		name     string
		seqs     []uint16
		expected uint64
		lost     uint64
	}{
		{"no loss", []uint16{10, 11, 12, 13}, 4, 0},
		{"two lost", []uint16{10, 11, 14, 15}, 6, 2},
		{"wrap", []uint16{65534, 65535, 0, 2}, 5, 1},
		{"reordered", []uint16{10, 12, 11, 13}, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTrackStats(90000)
			base := time.Unix(100, 0)
			for i, q := range tt.seqs {
				now := base.Add(time.Duration(i) * 33 * time.Millisecond)
				payload := make([]byte, 20)
				stamp(payload, now.Add(-5*time.Millisecond))
				s.add(q, uint32(i*2970), 100, payload, now)
			}
			if s.expected() != tt.expected || s.lost() != tt.lost {
				t.Fatalf("expected/lost = %d/%d, want %d/%d", s.expected(), s.lost(), tt.expected, tt.lost)
			}
			if d := time.Duration(s.owd.Quantile(0.5)); d < 4900*time.Microsecond || d > 5100*time.Microsecond {
				t.Fatalf("one-way delay = %v, want 5ms", d)
			}
			if s.jitterMs() > 0.5 {
				t.Fatalf("jitter %.3f ms for evenly spaced packets", s.jitterMs())
			}
			_, p, x := s.tick()
			if p != uint64(len(tt.seqs)) || x != tt.expected {
				t.Fatalf("tick = %d packets / %d expected", p, x)
			}
		})
	}
}
