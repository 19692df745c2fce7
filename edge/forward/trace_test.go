package forward

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/codec"
)

// tracePacket is one packet of a recorded publisher trace (testdata/*.trace.gz).
type tracePacket struct {
	layer    int
	seq      uint16
	ts       uint32
	marker   bool
	payload  int // length, without padding
	padding  int
	repaired bool   // came on the RTX stream
	head     []byte // first payload bytes: enough to find keyframes
}

// loadTrace reads a trace recorded from Chromium at the edge's layer
// readers (see the file's header).
func loadTrace(t *testing.T, name string) []tracePacket {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []tracePacket
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 8 {
			t.Fatalf("trace line %q", line)
		}
		n := func(i int) int {
			v, err := strconv.ParseInt(fs[i], 10, 64)
			if err != nil {
				t.Fatalf("trace line %q: %v", line, err)
			}
			return int(v)
		}
		p := tracePacket{layer: n(1), seq: uint16(n(2)), ts: uint32(n(3)), marker: fs[4] == "true",
			payload: n(5), padding: n(6), repaired: fs[7] == "true"}
		if len(fs) > 8 {
			if p.head, err = hex.DecodeString(fs[8]); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return out
}

// bytes rebuilds the packet: the recorded header fields and payload start,
// zeros for the rest of the payload, RFC 3550 padding.
func (p tracePacket) bytes() []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: 0x5000 + uint32(p.layer),
		Marker: p.marker, Padding: p.padding > 0}
	b, _ := h.Marshal()
	payload := make([]byte, max(p.payload, 0))
	copy(payload, p.head)
	b = append(b, payload...)
	if p.padding > 0 {
		pad := make([]byte, p.padding)
		pad[len(pad)-1] = byte(p.padding)
		b = append(b, pad...)
	}
	return b
}

// replay hands a trace's packets to the layers' readers in the recorded
// order: a layer's Read waits for its turn.
type replay struct {
	mu    sync.Mutex
	cond  *sync.Cond
	pkts  []tracePacket
	next  int
	done  bool
	hooks map[int]func() // run before the packet of that index is read
}

func newReplay(pkts []tracePacket) *replay {
	r := &replay{pkts: pkts}
	r.cond = sync.NewCond(&r.mu)
	return r
}

type replayReader struct {
	r     *replay
	layer int
}

func (rr replayReader) Read(b []byte) (int, interceptor.Attributes, error) {
	r := rr.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.next < len(r.pkts) && r.pkts[r.next].layer != rr.layer {
		r.cond.Wait()
	}
	if r.next == len(r.pkts) {
		r.done = true
		return 0, nil, io.EOF
	}
	if h := r.hooks[r.next]; h != nil {
		h()
	}
	n := copy(b, r.pkts[r.next].bytes())
	r.next++
	r.cond.Broadcast()
	return n, nil, nil
}

// SetReadDeadline is ignored: a frame whose end is late waits for the
// layer's next packet, which keeps the replay deterministic.
func (replayReader) SetReadDeadline(time.Time) error { return nil }

// seqRecorder is a subscriber's writer: what reached it, in order.
type seqRecorder struct {
	mu   sync.Mutex
	seqs []uint16
}

func (w *seqRecorder) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.mu.Lock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.mu.Unlock()
	return 0, nil
}

// TestChromiumTracesReachSubscribersWithoutHoles replays what Chromium
// published through the edge's whole receive → fan-out path (the layers'
// readers, packet cache, frame grouping, forwarders, queues and drain) to
// subscribers of each layer, one that switches layers and one at half the
// frame rate (its non-reference pictures dropped): a subscriber's
// sequence numbers have no hole and no repeat, except a hole for a packet
// the publisher never delivered. The traces carry Chromium's bandwidth
// probes as padding on the media stream (no RTX negotiated) and as RTX
// copies of recent packets (RTX negotiated), on a clean link and with 2 %
// of the publisher's packets dropped (so NACKs, late repairs and
// reordering).
func TestChromiumTracesReachSubscribersWithoutHoles(t *testing.T) {
	for _, name := range []string{"vp8-padding", "vp8-padding-loss", "vp8-rtx", "vp8-rtx-loss", "h264-padding", "h264-rtx"} {
		t.Run(name, func(t *testing.T) {
			mime := webrtc.MimeTypeVP8
			if strings.HasPrefix(name, "h264") {
				mime = webrtc.MimeTypeH264
			}
			pkts := loadTrace(t, "chromium-"+name+".trace.gz")
			// The numbers the publisher never delivered, per layer: a
			// subscriber may see a hole only there.
			seen := map[[2]int]bool{}
			for _, p := range pkts {
				seen[[2]int{p.layer, int(p.seq)}] = true
			}
			replayTrace(t, mime, pkts, func(layer int, seq uint16) bool { return !seen[[2]int{layer, int(seq)}] })
		})
	}
}

func replayTrace(t *testing.T, mime string, pkts []tracePacket, neverArrived func(layer int, seq uint16) bool) {
	tr, err := NewTrack(TrackConfig{Codec: codec.KindFromMime(mime), Layers: 3, Upstream: nopUpstream{}, Now: func() int64 { return int64(time.Since(time.Time{})) }})
	if err != nil {
		t.Fatal(err)
	}
	rp := newReplay(pkts)
	rp.hooks = map[int]func(){}
	// Subscribers: one per layer, and one that moves 2 → 0 → 1 → 2.
	type sub struct {
		d       *Down
		w       *seqRecorder
		targets []int // its layer in each quarter of the trace
	}
	var subs []sub
	for _, targets := range [][]int{{0}, {1}, {2}, {2, 0, 1, 2}, {2}} {
		s, err := NewSink(SinkConfig{Now: tr.now})
		if err != nil {
			t.Fatal(err)
		}
		s.SetInline(true)
		d, err := s.Subscribe(tr)
		if err != nil {
			t.Fatal(err)
		}
		w := &seqRecorder{}
		d.Bind(Output{Writer: w, SSRC: 1234, PayloadType: 96, ClockRate: 90000})
		d.fwd.SetTarget(targets[0])
		subs = append(subs, sub{d: d, w: w, targets: targets})
	}
	// The last subscriber gets layer 2 at half the frame rate: without
	// Chromium's non-reference pictures (VP8; H.264 has no temporal layer
	// the edge can drop).
	halfRate := subs[4]
	halfRate.d.SetTemporal(0)
	// The mover changes layer at each quarter of the trace; the new
	// layer's next frame is made a keyframe, as the publisher's answer to
	// the keyframe request would be.
	mover := subs[3]
	segments := 1
	for k := 1; k < 4; k++ {
		at, q := k*len(pkts)/4, mover.targets[k]
		rp.hooks[at] = func() {
			if k == 1 && mover.d.fwd.Current() < 0 {
				segments-- // the first layer had no keyframe: no start before the first switch
			}
			mover.d.fwd.SetTarget(q)
		}
		if makeKeyframe(pkts, at, q, mime) {
			segments++
		}
	}
	var wg sync.WaitGroup
	for q := 0; q < 3; q++ {
		l, err := tr.AddLayer(q, 0x5000+uint32(q), replayReader{rp, q}, 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); l.Run() }()
	}
	wg.Wait()
	if sw := mover.d.fwd.Stats().Switches; sw != uint64(segments) || segments < 3 {
		t.Errorf("the mover started %d segments, want %d (a start and a switch per keyframe)", sw, segments)
	}

	if full, half := len(subs[2].w.seqs), len(halfRate.w.seqs); mime == webrtc.MimeTypeVP8 && (half >= full*9/10 || halfRate.d.Stats().TemporalDrops == 0) {
		t.Errorf("at half the frame rate, %d packets of layer 2's %d sent", half, full)
	}
	for i, s := range subs {
		seqs := s.w.seqs
		if len(seqs) < 50 {
			t.Fatalf("subscriber %d got %d packets", i, len(seqs))
		}
		got := map[uint16]int{}
		for _, q := range seqs {
			got[q]++
		}
		holes, repeats := 0, 0
		for q, n := range got {
			if n > 1 {
				repeats += n - 1
				t.Errorf("subscriber %d: sequence number %d sent %d times", i, q, n)
			}
		}
		lo, hi := seqs[0], seqs[0]
		for _, q := range seqs {
			if int16(q-lo) < 0 {
				lo = q
			}
			if int16(q-hi) > 0 {
				hi = q
			}
		}
		for q := lo; q != hi; q++ {
			if got[q] == 0 {
				holes++
			}
		}
		// Holes are allowed only for packets that never arrived: the
		// forwarder keeps their place. Count those of the layers the
		// subscriber was on.
		allowed := allowedHoles(pkts, s.targets, neverArrived)
		if holes > allowed {
			t.Errorf("subscriber %d (layers %v): %d holes in %d packets (%d..%d), %d allowed for packets the publisher never delivered",
				i, s.targets, holes, len(seqs), lo, hi, allowed)
		}
		t.Logf("subscriber %d (layers %v): %d packets, %d holes (publisher lost %d), %d repeats", i, s.targets, len(seqs), holes, allowed, repeats)
	}
}

// makeKeyframe turns the first frame of layer q that starts at or after
// index from into a keyframe; false if the layer sends no frame after it.
func makeKeyframe(pkts []tracePacket, from, q int, mime string) bool {
	prevMarker := false
	for i := range pkts {
		p := &pkts[i]
		if p.layer != q || p.payload == 0 {
			continue
		}
		if i >= from && prevMarker && len(p.head) > 1 {
			if mime == webrtc.MimeTypeVP8 {
				// RFC 7741 §4.2–4.3: descriptor S=1, then the payload
				// header of a key frame (P=0) with its start code.
				p.head = []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}
			} else {
				p.head = []byte{0x65} // an IDR slice (RFC 6184 §5.6)
			}
			return true
		}
		prevMarker = p.marker
	}
	return false
}

// allowedHoles bounds the holes a subscriber on the given layers may see:
// the packets of those layers the publisher never delivered (every gap in
// a layer's numbers that no packet, media, repair or padding, filled).
func allowedHoles(pkts []tracePacket, layers []int, neverArrived func(int, uint16) bool) int {
	n := 0
	for _, q := range uniq(layers) {
		var lo, hi uint16
		first := true
		for _, p := range pkts {
			if p.layer != q {
				continue
			}
			if first {
				lo, hi, first = p.seq, p.seq, false
			}
			if int16(p.seq-hi) > 0 {
				hi = p.seq
			}
		}
		for s := lo; s != hi; s++ {
			if neverArrived(q, s) {
				n++
			}
		}
	}
	return n
}

func uniq(xs []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
