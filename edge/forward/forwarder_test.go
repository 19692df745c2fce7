package forward

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/codec"
)

const frame = int64(33_333_333) // ns between frames at 30 fps; 3000 ticks at 90 kHz

// step is one action of a rewrite scenario: an optional control call, then
// a packet and what must come out of it.
type step struct {
	do      func(t *testing.T, r *rig)
	p       pk
	verdict Verdict
	kf      int8 // expected Result.KeyframeLayer
	// expected output; -1 = not checked
	seq, pic, tl0, keyIdx int
	ts                    int64
}

// sent expects p to be forwarded as seq/ts (VP8 fields unchecked).
func sent(p pk, seq int, ts int64) step {
	return step{p: p, verdict: Sent, kf: -1, seq: seq, ts: ts, pic: -1, tl0: -1, keyIdx: -1}
}

// sentVP8 also checks the munged VP8 fields.
func sentVP8(p pk, seq int, ts int64, pic, tl0, keyIdx int) step {
	s := sent(p, seq, ts)
	s.pic, s.tl0, s.keyIdx = pic, tl0, keyIdx
	return s
}

// filtered expects p not to be forwarded; kf is the keyframe request.
func filtered(p pk, kf int8) step { return step{p: p, verdict: Filtered, kf: kf} }

// then runs do before the step.
func (s step) then(do func(t *testing.T, r *rig)) step { s.do = do; return s }

func target(layer int, wantNeed bool) func(t *testing.T, r *rig) {
	return func(t *testing.T, r *rig) {
		t.Helper()
		if need := r.f.SetTarget(layer); need != wantNeed {
			t.Fatalf("SetTarget(%d) needKeyframe = %v, want %v", layer, need, wantNeed)
		}
	}
}

func withSR(layer int, ntpSeconds float64, rtp uint32) func(t *testing.T, r *rig) {
	return func(t *testing.T, r *rig) {
		r.src.SenderReport(layer, uint64(ntpSeconds*(1<<32)), rtp)
	}
}

func both(a, b func(t *testing.T, r *rig)) func(t *testing.T, r *rig) {
	return func(t *testing.T, r *rig) { a(t, r); b(t, r) }
}

func TestRewrite(t *testing.T) {
	// Two layers whose timestamps and sequence numbers have nothing in
	// common, as with real simulcast encoders.
	l0 := func(seq uint16, n int64, key bool) pk {
		return pk{seq: seq, ts: 9000 + uint32(n)*3000, layer: 0, key: key, pic: 100 + uint16(n), tl0: 5, keyIdx: 3, arrival: n * frame}
	}
	l1 := func(seq uint16, n int64, key bool) pk {
		return pk{seq: seq, ts: 700000 + uint32(n)*3000, layer: 1, key: key, pic: 7000 + uint16(n), tl0: 200, keyIdx: 17, arrival: n * frame}
	}
	tests := []struct {
		name   string
		layers int
		steps  []step
	}{
		{
			name: "first packet waits for a keyframe", layers: 1,
			steps: []step{filtered(l0(10, 0, false), 0), sent(l0(11, 1, true), 11, 12000), sent(l0(12, 2, false), 12, 15000)},
		},
		{
			name: "wraparound at 65535", layers: 1,
			steps: []step{
				sent(l0(65533, 0, true), 65533, 9000), sent(l0(65534, 1, false), 65534, 12000),
				sent(l0(65535, 2, false), 65535, 15000), sent(l0(0, 3, false), 0, 18000), sent(l0(1, 4, false), 1, 21000),
			},
		},
		{
			name: "a real loss stays a gap", layers: 1,
			steps: []step{sent(l0(10, 0, true), 10, 9000), sent(l0(11, 1, false), 11, 12000), sent(l0(13, 3, false), 13, 18000)},
		},
		{
			name: "reordering, duplicates and packets before the segment", layers: 1,
			steps: []step{
				sent(l0(10, 0, true), 10, 9000), sent(l0(12, 2, false), 12, 15000), sent(l0(11, 1, false), 11, 12000),
				filtered(l0(12, 2, false), -1), filtered(l0(9, 0, false), -1), sent(l0(13, 3, false), 13, 18000),
			},
		},
		{
			name: "layer switch only at a keyframe, contiguous sequence numbers", layers: 2,
			steps: []step{
				sent(l0(100, 0, true), 100, 9000),
				filtered(l1(500, 0, false), -1), // not selected
				sent(l0(101, 1, false), 101, 12000),
				filtered(l1(501, 1, false), 1).then(target(1, true)), // selected, not a keyframe
				{p: l0(102, 2, false), verdict: Sent, kf: 1, seq: 102, ts: 15000, pic: -1, tl0: -1, keyIdx: -1},
				sent(l1(502, 3, true), 103, 18000), // switch: next seq, ts + one frame
				filtered(l0(103, 3, false), -1),
				sent(l1(503, 4, false), 104, 21000),
				sent(l1(504, 5, true), 105, 24000), // later keyframes change nothing
			},
		},
		{
			name: "switch down and up again", layers: 2,
			steps: []step{
				sent(l1(500, 0, true), 500, 700000).then(target(1, true)),
				sent(l1(501, 1, false), 501, 703000),
				filtered(l0(11, 2, false), 0).then(target(0, true)),
				sent(l0(12, 3, true), 502, 709000),
				filtered(l1(504, 4, false), 1).then(target(1, true)),
				sent(l1(505, 5, true), 503, 715000),
			},
		},
		{
			name: "timestamps mapped through sender reports", layers: 2,
			steps: []step{
				// Both layers captured on one wall clock: at NTP 1000.0 s,
				// layer 0 read 9000 and layer 1 read 700000.
				sent(l0(100, 0, true), 100, 9000).then(both(withSR(0, 1000, 9000), withSR(1, 1000, 700000))),
				sent(l0(101, 1, false), 101, 12000),
				// Layer 1's keyframe is one frame after layer 0's last packet,
				// but arrives 200 ms late (a pacer): the reports win.
				sent(pk{seq: 900, ts: 706000, layer: 1, key: true, pic: 7000, arrival: frame + 200_000_000}, 102, 15000).then(target(1, true)),
			},
		},
		{
			name: "stale sender report falls back to arrival time", layers: 2,
			steps: []step{
				// Layer 1's report claims its clock is 5 s ahead.
				sent(l0(100, 0, true), 100, 9000).then(both(withSR(0, 1000, 9000), withSR(1, 1005, 700000))),
				sent(l0(101, 1, false), 101, 12000),
				sent(l1(900, 2, true), 102, 15000).then(target(1, true)),
			},
		},
		{
			name: "no sender reports: arrival time", layers: 2,
			steps: []step{
				sent(l0(100, 0, true), 100, 9000),
				sent(pk{seq: 900, ts: 1, layer: 1, key: true, arrival: 10 * frame}, 101, 9000+10*3000).then(target(1, true)),
			},
		},
		{
			name: "pause and resume: no hole, timestamps keep running", layers: 1,
			steps: []step{
				sent(l0(100, 0, true), 100, 9000),
				sent(l0(101, 1, false), 101, 12000),
				filtered(l0(102, 2, false), -1).then(target(-1, false)),
				filtered(l0(103, 3, true), -1),
				filtered(l0(104, 4, false), 0).then(target(0, true)),
				sent(l0(105, 5, true), 102, 24000),
				sent(l0(106, 6, false), 103, 27000),
			},
		},
		{
			name: "publisher restart: jump in sequence numbers waits for a keyframe", layers: 1,
			steps: []step{
				sent(l0(100, 0, true), 100, 9000),
				sent(l0(101, 1, false), 101, 12000),
				filtered(pk{seq: 40000, ts: 5, arrival: 2 * frame, pic: 1}, 0),
				sent(pk{seq: 40001, ts: 3005, key: true, arrival: 3 * frame, pic: 2}, 102, 18000),
				sent(pk{seq: 40002, ts: 6005, arrival: 4 * frame, pic: 3}, 103, 21000),
			},
		},
		{
			name: "publisher restart backwards", layers: 1,
			steps: []step{
				sent(l0(30000, 0, true), 30000, 9000),
				sent(pk{seq: 7, ts: 1, key: true, arrival: frame}, 30001, 12000),
				sent(pk{seq: 8, ts: 3001, arrival: 2 * frame}, 30002, 15000),
			},
		},
		{
			name: "padding-only packets leave no hole", layers: 1,
			steps: []step{
				sent(l0(10, 0, true), 10, 9000),
				sent(l0(11, 1, false), 11, 12000),
				filtered(pk{seq: 12, ts: 12000, padOnly: true}, -1),
				sent(l0(13, 2, false), 12, 15000),
				filtered(pk{seq: 14, ts: 15000, padOnly: true}, -1),
				filtered(pk{seq: 15, ts: 15000, padOnly: true}, -1),
				filtered(pk{seq: 16, ts: 15000, padOnly: true}, -1),
				sent(l0(17, 3, false), 13, 18000),
				sent(l0(18, 4, false), 14, 21000),
			},
		},
		{
			name: "a loss before padding stays a hole", layers: 1,
			steps: []step{
				sent(l0(10, 0, true), 10, 9000),
				// 11 and 12 lost upstream
				filtered(pk{seq: 13, ts: 9000, padOnly: true}, -1),
				sent(l0(14, 1, false), 13, 12000),
				sent(l0(15, 2, false), 14, 15000),
			},
		},
		{
			name: "a late packet after padding takes the place kept for it", layers: 1,
			steps: []step{
				sent(l0(10, 0, true), 10, 9000),
				// 11 lost upstream; Chromium's probes follow; the
				// publisher's retransmission of 11 comes after them.
				filtered(pk{seq: 12, ts: 9000, padOnly: true}, -1),
				filtered(pk{seq: 13, ts: 9000, padOnly: true}, -1),
				sent(l0(14, 1, false), 12, 12000),
				filtered(pk{seq: 15, ts: 12000, padOnly: true}, -1),
				sent(l0(16, 2, false), 13, 15000),
				sent(l0(11, 0, false), 11, 9000), // two padding segments back
				sent(l0(17, 3, false), 14, 18000),
			},
		},
		{
			name: "a late packet from before a layer switch is not forwarded", layers: 2,
			steps: []step{
				sent(l0(100, 0, true), 100, 9000),
				sent(l0(102, 2, false), 102, 15000),
				sent(l1(502, 3, true), 103, 18000).then(target(1, true)),
				filtered(pk{seq: 503, ts: 709000, layer: 1, padOnly: true}, -1),
				sent(l1(504, 4, false), 104, 21000),
				filtered(l0(101, 1, false), -1), // layer 0's run is over
				filtered(l1(501, 2, false), -1), // before the keyframe layer 1 started at
			},
		},
		{
			name: "start paused", layers: 1,
			steps: []step{
				filtered(l0(100, 0, true), -1).then(target(-1, false)),
				sent(l0(101, 1, true), 101, 12000).then(target(0, true)),
			},
		},
		{
			name: "VP8 picture ID, TL0PICIDX and KEYIDX continue across a switch", layers: 2,
			steps: []step{
				sentVP8(l0(100, 0, true), 100, 9000, 100, 5, 3),
				sentVP8(l0(101, 1, false), 101, 12000, 101, 5, 3),
				sentVP8(l1(502, 2, true), 102, 15000, 102, 6, 4).then(target(1, true)),
				sentVP8(l1(503, 3, false), 103, 18000, 103, 6, 4),
				sentVP8(pk{seq: 504, ts: 712000, layer: 1, pic: 7004, tl0: 201, keyIdx: 17, arrival: 4 * frame}, 104, 21000, 104, 7, 4),
			},
		},
		{
			name: "15-bit picture ID wraps", layers: 2,
			steps: []step{
				sentVP8(pk{seq: 1, ts: 3000, key: true, pic: 0x7ffe}, 1, 3000, 0x7ffe, 0, 0),
				sentVP8(pk{seq: 2, ts: 6000, pic: 0x7fff, arrival: frame}, 2, 6000, 0x7fff, 0, 0),
				sentVP8(pk{seq: 9, ts: 99, layer: 1, key: true, pic: 50, tl0: 255, keyIdx: 31, arrival: 2 * frame}, 3, 9000, 0, 1, 1).then(target(1, true)),
				sentVP8(pk{seq: 10, ts: 3099, layer: 1, pic: 51, tl0: 0, arrival: 3 * frame}, 4, 12000, 1, 2, 2),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.layers, Config{}, 64)
			for i, s := range tt.steps {
				if s.do != nil {
					s.do(t, r)
				}
				res := r.feed(s.p)
				if res.Verdict != s.verdict {
					t.Fatalf("step %d: verdict %v, want %v", i, res.Verdict, s.verdict)
				}
				if res.KeyframeLayer != s.kf {
					t.Fatalf("step %d: keyframe layer %d, want %d", i, res.KeyframeLayer, s.kf)
				}
				outs := r.drain()
				if s.verdict != Sent {
					if len(outs) != 0 {
						t.Fatalf("step %d: %d packets queued for a filtered packet", i, len(outs))
					}
					continue
				}
				if len(outs) != 1 {
					t.Fatalf("step %d: %d packets queued, want 1", i, len(outs))
				}
				o := outs[0]
				if o.seq != uint16(s.seq) || (s.ts >= 0 && o.ts != uint32(s.ts)) {
					t.Fatalf("step %d: seq %d ts %d, want %d %d", i, o.seq, o.ts, s.seq, s.ts)
				}
				if o.ssrc != 0xabcdef {
					t.Fatalf("step %d: ssrc %#x not rewritten", i, o.ssrc)
				}
				if s.pic >= 0 && (o.pic != uint16(s.pic) || o.tl0 != uint8(s.tl0) || o.keyIdx != uint8(s.keyIdx)) {
					t.Fatalf("step %d: picture ID %d TL0PICIDX %d KEYIDX %d, want %d %d %d", i, o.pic, o.tl0, o.keyIdx, s.pic, s.tl0, s.keyIdx)
				}
			}
		})
	}
}

func TestHeaderRewrite(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		ext     bool
		wantExt bool
		wantPT  uint8
		padded  bool
	}{
		{"extensions stripped", Config{}, true, false, 96, false},
		{"extensions kept", Config{KeepExtensions: true}, true, true, 96, false},
		{"no extensions", Config{}, false, false, 96, false},
		{"payload type rewritten", Config{PayloadType: 100}, false, false, 100, false},
		{"padding removed", Config{}, false, false, 96, true},
		{"padding removed, extensions kept", Config{KeepExtensions: true}, true, true, 96, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 1, tt.cfg, 8)
			in := pk{seq: 7, ts: 1, key: true, pic: 3, ext: tt.ext}
			raw := vp8Packet(in)
			if tt.padded {
				raw[0] |= 0x20
				raw = append(raw, 0, 0, 0, 4)
			}
			pkt, err := r.src.Parse(raw, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if res := r.f.Forward(&pkt); res.Verdict != Sent {
				t.Fatalf("verdict %v", res.Verdict)
			}
			o := r.drain()[0]
			if o.hasExt != tt.wantExt || o.pt != tt.wantPT {
				t.Fatalf("ext %v pt %d, want %v %d", o.hasExt, o.pt, tt.wantExt, tt.wantPT)
			}
			src := vp8Packet(in)
			sh, _ := codec.ParseRTP(src)
			oh, _ := codec.ParseRTP(o.raw)
			if !bytes.Equal(src[sh.PayloadOffset:sh.PayloadEnd], o.raw[oh.PayloadOffset:oh.PayloadEnd]) {
				t.Fatal("payload changed")
			}
			if tt.padded && (o.raw[0]&0x20 != 0 || oh.PayloadEnd != len(o.raw)) {
				t.Fatal("padding forwarded")
			}
			if o.raw[1]&0x80 != src[1]&0x80 {
				t.Fatal("marker bit changed")
			}
		})
	}
}

func TestQueueFullDropsAndIsolates(t *testing.T) {
	slow := newRig(t, 1, Config{}, 4)
	fastQ, err := NewQueue(QueueConfig{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := New(Config{Source: slow.src, Queue: fastQ, SSRC: 1})
	if err != nil {
		t.Fatal(err)
	}
	var sentN, droppedN int
	for i := 0; i < 10; i++ {
		p, err := slow.src.Parse(vp8Packet(pk{seq: uint16(i), ts: uint32(i) * 3000, key: i == 0}), 0, int64(i)*frame)
		if err != nil {
			t.Fatal(err)
		}
		switch slow.f.Forward(&p).Verdict {
		case Sent:
			sentN++
		case Dropped:
			droppedN++
		}
		if v := fast.Forward(&p).Verdict; v != Sent {
			t.Fatalf("fast subscriber: verdict %v", v)
		}
	}
	if sentN != 4 || droppedN != 6 {
		t.Fatalf("slow subscriber: %d sent %d dropped, want 4 and 6", sentN, droppedN)
	}
	if st := slow.f.Stats(); st.QueueDrops != 6 || st.Packets != 4 {
		t.Fatalf("forwarder stats %+v", st)
	}
	if st := slow.q.Stats(); st.Dropped != 6 || st.Pushed != 4 || st.Len != 4 {
		t.Fatalf("queue stats %+v", st)
	}
	if fastQ.Len() != 10 {
		t.Fatalf("fast queue holds %d, want 10", fastQ.Len())
	}
	// The dropped packets are real losses in the subscriber's sequence
	// space: the next packet leaves a gap the subscriber can NACK.
	outs := slow.drain()
	if len(outs) != 4 || outs[3].seq != 3 {
		t.Fatalf("queued %d, last seq %d", len(outs), outs[len(outs)-1].seq)
	}
}

func TestNACK(t *testing.T) {
	r := newRig(t, 2, Config{}, 64)
	caches := make([]*cache.Cache, 2)
	for i := range caches {
		c, err := cache.New(cache.Config{Capacity: 64, Codec: codec.VP8})
		if err != nil {
			t.Fatal(err)
		}
		caches[i] = c
	}
	feed := func(p pk) {
		b := vp8Packet(p)
		caches[p.layer].Store(b)
		pkt, err := r.src.Parse(b, p.layer, p.arrival)
		if err != nil {
			t.Fatal(err)
		}
		r.f.Forward(&pkt)
	}
	// Layer 0 seq 65534..1 (out 65534..1), then layer 1 from seq 300 (out 2..).
	for i, s := range []uint16{65534, 65535, 0, 1} {
		feed(pk{seq: s, ts: uint32(i) * 3000, key: i == 0, pic: uint16(i), arrival: int64(i) * frame})
	}
	r.f.SetTarget(1)
	for i, s := range []uint16{300, 301, 303} { // 302 lost upstream
		feed(pk{seq: s, ts: 50000 + uint32(i)*3000, layer: 1, key: i == 0, pic: 900 + uint16(i), arrival: int64(4+i) * frame})
	}
	first := r.drain()
	sentBySeq := map[uint16][]byte{}
	for _, o := range first {
		sentBySeq[o.seq] = o.raw
	}

	tests := []struct {
		name   string
		out    uint16
		ok     bool
		layer  int
		srcSeq uint16
	}{
		{"old layer before wrap", 65535, true, 0, 65535},
		{"old layer after wrap", 1, true, 0, 1},
		{"new layer first", 2, true, 1, 300},
		{"upstream loss maps to the lost source packet", 4, true, 1, 302},
		{"newest", 5, true, 1, 303},
		{"never sent", 6, false, 0, 0},
		{"before the first segment", 65000, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layer, src, ok := r.f.MapNACK(tt.out)
			if ok != tt.ok || (ok && (layer != tt.layer || src != tt.srcSeq)) {
				t.Fatalf("MapNACK(%d) = %d, %d, %v; want %d, %d, %v", tt.out, layer, src, ok, tt.layer, tt.srcSeq, tt.ok)
			}
		})
	}

	t.Run("retransmission is byte-identical to the first send", func(t *testing.T) {
		// NACK 65535 with BLP bits for 0, 1, 2 and 4 (4 was lost upstream,
		// so it is not in the cache).
		resent, missed, _ := r.f.HandleNACK(65535, 0b10111, caches, make([]byte, 1500), 0, 0)
		if resent != 4 || missed != 1 {
			t.Fatalf("resent %d missed %d, want 4 and 1", resent, missed)
		}
		got := r.drain()
		if len(got) != 4 {
			t.Fatalf("%d packets queued", len(got))
		}
		for _, o := range got {
			if !bytes.Equal(o.raw, sentBySeq[o.seq]) {
				t.Fatalf("retransmission of %d differs:\n got %x\nwant %x", o.seq, o.raw, sentBySeq[o.seq])
			}
		}
		st := r.f.Stats()
		if st.NACKs != 5 || st.NACKMisses != 1 || st.Resent != 4 {
			t.Fatalf("stats %+v", st)
		}
	})

	t.Run("wrong cached packet is refused", func(t *testing.T) {
		if r.f.Retransmit(vp8Packet(pk{seq: 301, layer: 1}), 2) {
			t.Fatal("retransmitted source 301 as out 2 (which is source 300)")
		}
		if r.f.Retransmit([]byte{1, 2}, 2) {
			t.Fatal("retransmitted garbage")
		}
	})
}

func TestConfigErrors(t *testing.T) {
	src, err := NewSource(SourceConfig{Codec: codec.VP8, Layers: 3})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue(QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		fn   func() error
	}{
		{"forwarder without source", ErrConfig, func() error { _, err := New(Config{Queue: q}); return err }},
		{"forwarder layer too high", ErrLayer, func() error { _, err := New(Config{Source: src, Queue: q, Layer: 3}); return err }},
		{"source with 5 layers", ErrConfig, func() error { _, err := NewSource(SourceConfig{Layers: 5}); return err }},
		{"negative interval", ErrConfig, func() error { _, err := NewSource(SourceConfig{KeyframeInterval: -1}); return err }},
		{"queue too large", ErrConfig, func() error { _, err := NewQueue(QueueConfig{Size: 1 << 20}); return err }},
		{"parse layer out of range", ErrLayer, func() error { _, err := src.Parse(vp8Packet(pk{}), 3, 0); return err }},
		{"parse garbage", codec.ErrShort, func() error { _, err := src.Parse([]byte{0x80}, 0, 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.fn(); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestPrime(t *testing.T) {
	tests := []struct {
		name    string
		target  int
		packets int // after the keyframe, including it
		started bool
		want    int
	}{
		{"replays keyframe and what follows", 0, 5, false, 5},
		{"not twice", 0, 5, true, 0},
		{"paused", -1, 5, false, 0},
		{"too much to replay", 0, 40, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 1, Config{Layer: tt.target}, 64)
			c := newBenchCache(t)[0]
			c.Store(vp8Packet(pk{seq: 9, ts: 0, pic: 1})) // before the keyframe
			for i := 0; i < tt.packets; i++ {
				c.Store(vp8Packet(pk{seq: uint16(10 + i), ts: 3000 + uint32(i/3)*3000, key: i == 0, pic: 2 + uint16(i/3)}))
			}
			if tt.started {
				r.feed(pk{seq: 5, key: true})
				r.drain()
			}
			if got := r.f.Prime([]*cache.Cache{c}, make([]byte, 1500), 0); got != tt.want {
				t.Fatalf("Prime queued %d, want %d", got, tt.want)
			}
			outs := r.drain()
			if len(outs) != tt.want {
				t.Fatalf("%d packets in the queue", len(outs))
			}
			if tt.want > 0 {
				if outs[0].seq != 10 || outs[len(outs)-1].seq != uint16(10+tt.packets-1) {
					t.Fatalf("replayed %d..%d", outs[0].seq, outs[len(outs)-1].seq)
				}
				// Live packets continue the sequence.
				if res := r.feed(pk{seq: uint16(10 + tt.packets), ts: 90000, pic: 50}); res.Verdict != Sent {
					t.Fatalf("live packet after prime: %v", res.Verdict)
				}
				if st := r.src.LayerStats(0, 0); st.Packets != 1 {
					t.Fatalf("replayed packets counted as received: %+v", st)
				}
			}
		})
	}
}

func TestNACKAcrossPadding(t *testing.T) {
	r := newRig(t, 1, Config{}, 64)
	r.feed(pk{seq: 10, key: true})
	// 11 lost upstream, 12 padding, 13 media.
	r.feed(pk{seq: 12, padOnly: true})
	r.feed(pk{seq: 13})
	r.feed(pk{seq: 14})
	tests := []struct {
		out uint16
		src uint16
	}{{10, 10}, {11, 11}, {12, 13}, {13, 14}}
	for _, tt := range tests {
		if _, src, ok := r.f.MapNACK(tt.out); !ok || src != tt.src {
			t.Fatalf("MapNACK(%d) = %d, %v; want %d", tt.out, src, ok, tt.src)
		}
	}
	if _, _, ok := r.f.MapNACK(14); ok {
		t.Fatal("mapped a sequence number never sent")
	}
}

func TestSetOutput(t *testing.T) {
	r := newRig(t, 1, Config{}, 8)
	r.f.SetOutput(Output{SSRC: 0x777, PayloadType: 111})
	r.feed(pk{seq: 1, key: true})
	o := r.drain()[0]
	if o.ssrc != 0x777 || o.pt != 111 {
		t.Fatalf("ssrc %#x pt %d", o.ssrc, o.pt)
	}
}

// A packet is sent again at most three times, and not again within twice
// the round-trip time (10–100 ms): a subscriber behind a full bottleneck
// NACKs it every round trip while the first retransmission still waits in
// the queue.
func TestResendLimits(t *testing.T) {
	ms := int64(time.Millisecond)
	r := newRig(t, 1, Config{}, 64)
	caches := newBenchCache(t)
	for i := 0; i < 4; i++ {
		b := vp8Packet(pk{seq: uint16(10 + i), ts: uint32(i) * 3000, key: i == 0})
		caches[0].Store(b)
		r.feed(pk{seq: uint16(10 + i), ts: uint32(i) * 3000, key: i == 0})
	}
	r.drain()
	scratch := make([]byte, 1500)
	for i, tc := range []struct {
		at   int64
		rtt  time.Duration
		want int
	}{
		{0, 0, 1},
		{5 * ms, 0, 0},                       // within the 10 ms floor
		{12 * ms, 0, 1},                      // past it
		{60 * ms, 40 * time.Millisecond, 0},  // within 2 × 40 ms
		{100 * ms, 40 * time.Millisecond, 1}, // the third
		{400 * ms, 40 * time.Millisecond, 0}, // no fourth
	} {
		if resent, _, _ := r.f.HandleNACK(11, 0, caches, scratch, tc.at, tc.rtt); resent != tc.want {
			t.Fatalf("NACK %d at %d ms: resent %d, want %d", i, tc.at/ms, resent, tc.want)
		}
	}
	if resent, _, _ := r.f.HandleNACK(12, 0, caches, scratch, 400*ms, 0); resent != 1 {
		t.Fatal("another packet held back")
	}
	if st := r.f.Stats(); st.Resent != 4 || st.ResendsHeld != 3 {
		t.Fatalf("stats %+v", st)
	}
}
