package bwe

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// fbFor builds feedback (pion structs) reporting seqs from base: arrivals
// (250 µs units after the reference time) for received ones, -1 for lost.
func fbFor(base uint16, ref uint32, count uint8, arrivals ...int) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{Header: rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback}, BaseSequenceNumber: base, PacketStatusCount: uint16(len(arrivals)), ReferenceTime: ref, FbPktCount: count}
	last := 0
	for i := 0; i < len(arrivals); i += 7 {
		v := &rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit}
		for _, a := range arrivals[i:min(i+7, len(arrivals))] {
			if a < 0 {
				v.SymbolList = append(v.SymbolList, rtcp.TypeTCCPacketNotReceived)
				continue
			}
			v.SymbolList = append(v.SymbolList, rtcp.TypeTCCPacketReceivedLargeDelta)
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: int64(a-last) * 250})
			last = a
		}
		fb.PacketChunks = append(fb.PacketChunks, v)
	}
	return fb
}

func mustNew(t testing.TB, cfg Config) *Estimator {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Feedback is matched with the history once per packet, whatever order or
// repetition it comes in.
func TestFeedbackMatching(t *testing.T) {
	type step struct {
		fb                             *rtcp.TransportLayerCC
		received, lost, unknown, dupes uint64
	}
	tests := []struct {
		name  string
		sent  []uint16
		steps []step
	}{
		{
			name: "in order across the sequence wrap",
			sent: []uint16{65533, 65534, 65535, 0, 1, 2},
			steps: []step{
				{fb: fbFor(65533, 1, 0, 0, 4, 8), received: 3},
				{fb: fbFor(0, 1, 1, 12, 16, 20), received: 6},
			},
		},
		{
			name: "duplicated feedback counts once",
			sent: []uint16{10, 11, 12},
			steps: []step{
				{fb: fbFor(10, 1, 0, 0, 4, 8), received: 3},
				{fb: fbFor(10, 1, 0, 0, 4, 8), received: 3, dupes: 3},
			},
		},
		{
			name: "reordered feedback",
			sent: []uint16{20, 21, 22, 23},
			steps: []step{
				{fb: fbFor(22, 1, 1, 8, 12), received: 2},
				{fb: fbFor(20, 1, 0, 0, 4), received: 4},
			},
		},
		{
			name: "lost, then received in a later feedback",
			sent: []uint16{30, 31, 32},
			steps: []step{
				{fb: fbFor(30, 1, 0, 0, -1, 8), received: 2, lost: 1},
				{fb: fbFor(31, 1, 1, 10), received: 3, lost: 1},
				// A stale "lost" for a packet since received changes nothing.
				{fb: fbFor(31, 1, 2, -1), received: 3, lost: 1},
			},
		},
		{
			name: "packets never sent or long overwritten",
			sent: []uint16{40},
			steps: []step{
				{fb: fbFor(39, 1, 0, 0, 4, 8), received: 1, unknown: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNew(t, Config{NoProbe: true})
			for i, s := range tt.sent {
				e.Sent(s, 1000, int64(i)*ms, 0)
			}
			for i, s := range tt.steps {
				if err := e.Feedback(s.fb, int64(100+i)*ms); err != nil {
					t.Fatal(err)
				}
				st := e.Stats()
				if st.Received != s.received || st.Lost != s.lost || st.Unknown != s.unknown || st.Duplicates != s.dupes {
					t.Fatalf("after feedback %d: received %d lost %d unknown %d duplicates %d; want %d %d %d %d",
						i, st.Received, st.Lost, st.Unknown, st.Duplicates, s.received, s.lost, s.unknown, s.dupes)
				}
			}
		})
	}
}

// The reference time wraps after 2^24 × 64 ms; arrival times must not jump.
func TestReferenceTimeWraps(t *testing.T) {
	e := mustNew(t, Config{NoProbe: true})
	for i := range 4 {
		e.Sent(uint16(i), 1000, int64(i)*ms, 0)
	}
	if err := e.Feedback(fbFor(0, refMask, 0, 0, 4), 100*ms); err != nil {
		t.Fatal(err)
	}
	if err := e.Feedback(fbFor(2, 0, 1, 8, 12), 150*ms); err != nil {
		t.Fatal(err)
	}
	if got, want := e.fb.ref, int64(refMask)+1; got != want {
		t.Fatalf("unwrapped reference time %d, want %d", got, want)
	}
	// And back, for a reordered packet from before the wrap.
	if err := e.Feedback(fbFor(0, refMask, 0, 0, 4), 160*ms); err != nil {
		t.Fatal(err)
	}
	if got, want := e.fb.ref, int64(refMask); got != want {
		t.Fatalf("unwrapped reference time %d, want %d", got, want)
	}
}

func TestMalformedFeedbackChangesNothing(t *testing.T) {
	e := mustNew(t, Config{NoProbe: true})
	e.Sent(1, 1000, 0, 0)
	before := e.Estimate()
	bad := fbFor(1, 1, 0, 0)
	bad.RecvDeltas = nil
	if err := e.Feedback(bad, ms); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if err := e.FeedbackBytes([]byte{1, 2, 3}, ms); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if st := e.Stats(); st.Malformed != 2 || st.Received != 0 || st.Feedbacks != 0 {
		t.Fatalf("stats %+v", st)
	}
	if e.Estimate() != before {
		t.Fatal("a malformed packet changed the estimate")
	}
}

// FeedbackBytes and Feedback read the same packet the same way.
func TestFeedbackBytesMatchesFeedback(t *testing.T) {
	a, b := mustNew(t, Config{NoProbe: true}), mustNew(t, Config{NoProbe: true})
	for i := range 300 {
		a.Sent(uint16(i), 1200, int64(i)*ms, 0)
		b.Sent(uint16(i), 1200, int64(i)*ms, 0)
	}
	for f := range 10 {
		arr := make([]int, 30)
		for i := range arr {
			arr[i] = (f*30+i)*4 + i%3
			if i%11 == 5 {
				arr[i] = -1
			}
		}
		fb := fbFor(uint16(f*30), 1, uint8(f), arr...)
		raw := marshalTCC(t, fb)
		at := int64(100+f*30) * ms
		if err := a.Feedback(fb, at); err != nil {
			t.Fatal(err)
		}
		if err := b.FeedbackBytes(raw, at); err != nil {
			t.Fatal(err)
		}
	}
	if a.Estimate() != b.Estimate() || a.Stats() != b.Stats() {
		t.Fatalf("pion path %+v %+v\nwire path %+v %+v", a.Estimate(), a.Stats(), b.Estimate(), b.Stats())
	}
}

// The sender side and the feedback side run concurrently (go test -race).
func TestSendAndFeedbackConcurrently(t *testing.T) {
	e := mustNew(t, Config{History: 1024})
	const n = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the sink's drain
		defer wg.Done()
		for i := range n {
			at := int64(i) * 100_000
			e.Sent(uint16(i), 1200, at, 0)
			if p, ok := e.NextProbe(at); ok {
				for range p.Packets {
					e.Sent(uint16(i), p.Bytes/p.Packets, at, p.Cluster)
				}
			}
		}
	}()
	for f := range n / 50 { // the RTCP reader
		arr := make([]int, 50)
		for i := range arr {
			arr[i] = (f*50 + i) * 2
		}
		_ = e.Feedback(fbFor(uint16(f*50), 1, uint8(f), arr...), int64(f)*5*ms)
		e.WantProbe(5_000_000, int64(f)*5*ms)
		_ = e.Estimate()
	}
	wg.Wait()
	if st := e.Stats(); st.Feedbacks == 0 {
		t.Fatal("no feedback taken")
	}
}

// NextProbe hands a cluster out in bursts sized by the sender's cadence,
// and Sent completes it.
func TestNextProbePacesClusters(t *testing.T) {
	e := mustNew(t, Config{Initial: 1_000_000})
	now := int64(sec)
	seq := uint16(0)
	sent := map[int]int{}
	bursts := map[int]int{}
	for i := range 20 { // a drain every 10 ms
		now += 10 * ms
		for {
			p, ok := e.NextProbe(now)
			if !ok {
				break
			}
			if p.Bytes <= 0 || p.Packets <= 0 || p.Cluster <= 0 || p.Until < now-10*ms {
				t.Fatalf("drain %d: probe %+v", i, p)
			}
			bursts[p.Cluster]++
			for k := range p.Packets {
				size := p.Bytes / p.Packets
				if k == 0 {
					size += p.Bytes % p.Packets
				}
				seq++
				e.Sent(seq, size, now, p.Cluster)
				sent[p.Cluster] += size + DefaultOverhead // what the link carries
			}
			break // one burst a drain
		}
	}
	// The start clusters: 3 and 6 Mbit/s for at least the minimum
	// duration and two drains.
	if len(sent) != 2 {
		t.Fatalf("clusters sent: %v", sent)
	}
	d := int(max(DefaultProbeMinDuration, 20*time.Millisecond) / time.Millisecond)
	for id, rate := range map[int]int{1: 3_000_000, 2: 6_000_000} {
		lo, hi := rate*d/1000/8, rate*(d+10)/1000/8 // at least d, within one more drain
		if sent[id] < lo-probeSlack || sent[id] > hi+probePadPacket {
			t.Errorf("cluster %d: %d bytes, want %d–%d", id, sent[id], lo, hi)
		}
		if bursts[id] < 2 {
			t.Errorf("cluster %d in %d bursts, want at least 2", id, bursts[id])
		}
	}
	if _, ok := e.NextProbe(now + 10*ms); ok {
		t.Error("a probe after the start clusters were sent")
	}
}

func TestNoProbe(t *testing.T) {
	e := mustNew(t, Config{NoProbe: true})
	if _, ok := e.NextProbe(0); ok {
		t.Fatal("NoProbe: NextProbe returned a cluster")
	}
	if e.WantProbe(1e9, sec) {
		t.Fatal("NoProbe: WantProbe says probing")
	}
}

// Clusters the sender never started are dropped after a second.
func TestStaleClustersDropped(t *testing.T) {
	e := mustNew(t, Config{})
	e.mu.Lock()
	e.probe.desired = 10e6
	e.startEpisode(sec, 5e6)
	e.mu.Unlock()
	if st := e.Stats(); st.Probes != 3 {
		t.Fatalf("%d clusters queued, want the 2 start clusters and 1 more", st.Probes)
	}
	// The start clusters (no clock when queued) still go; the timed one is
	// stale two seconds later.
	var ids []int
	for now := 3 * sec; ; now += 20 * ms {
		p, ok := e.NextProbe(now)
		if !ok {
			break
		}
		ids = append(ids, p.Cluster)
		e.Sent(uint16(len(ids)), p.Bytes, now, p.Cluster)
	}
	for _, id := range ids {
		if id == 3 {
			t.Fatalf("stale cluster handed out: %v", ids)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero value", Config{}, true},
		{"bounds", Config{Min: 50_000, Max: 5_000_000, Initial: 300_000}, true},
		{"initial outside bounds is clamped", Config{Min: 50_000, Max: 100_000, Initial: 5_000_000}, true},
		{"min above max", Config{Min: 5_000_000, Max: 1_000_000}, false},
		{"history not a power of two", Config{History: 1000}, false},
		{"history too small", Config{History: 128}, false},
		{"probe packets", Config{ProbeMinPackets: 1000}, false},
		{"probe duration", Config{ProbeMinDuration: time.Second}, false},
		{"probe interval", Config{ProbeInterval: time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v", err)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("%v does not wrap ErrConfig", err)
			}
			if _, nerr := New(tt.cfg); (nerr == nil) != tt.ok {
				t.Fatalf("New: %v", nerr)
			}
		})
	}
	e := mustNew(t, Config{Min: 50_000, Max: 100_000, Initial: 5_000_000, NoProbe: true})
	if got := e.Estimate().Target; got != 100_000 {
		t.Fatalf("initial target %d, want the clamp 100000", got)
	}
}

// The history answers only for the packet it holds.
func TestHistory(t *testing.T) {
	h := newHistory(256)
	tests := []struct {
		name      string
		at, now   int64
		size      int
		probe     int
		wantAt    int64
		wantSize  int
		wantProbe int
	}{
		{"plain", 77_000, 100 * ms, 1200, 3, 77_000, 1200, 3},
		{"sub-µs send time rounds down", 77_999, 100 * ms, 1200, 0, 77_000, 1200, 0},
		{"send time past the 2^27 µs field", 1_099_511_632_000, 1_099_511_632_000 + 900*ms, 100, 0, 1_099_511_632_000, 100, 0},
		{"negative clock", -3 * sec, -2 * sec, 100, 0, -3 * sec, 100, 0},
		{"a minute before the feedback", 10 * sec, 70 * sec, 100, 0, 10 * sec, 100, 0},
		{"size clamped", 0, ms, maxSize + 100, 0, 0, maxSize, 0},
		{"cluster id modulo 256", 0, ms, 1, 257, 0, 1, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := uint16(i)
			h.put(seq, tt.size, tt.at, tt.probe)
			p, ok := h.get(seq, tt.now)
			if !ok || p != (sent{at: tt.wantAt, size: tt.wantSize, probe: tt.wantProbe}) {
				t.Fatalf("get = %+v %v, want %d %d %d", p, ok, tt.wantAt, tt.wantSize, tt.wantProbe)
			}
		})
	}
	h.put(5+256, 100, 78, 0)
	if _, ok := h.get(5, ms); ok {
		t.Fatal("an overwritten packet is still found")
	}
	if _, ok := h.get(200, ms); ok {
		t.Fatal("a packet never sent is found")
	}
}

// Fill queues one cluster of padding at the difference between the rate
// to check and what the caller sends, paced over the duration asked; it is
// refused while another probe runs, for a rate the media already reaches,
// and with probing off.
func TestFill(t *testing.T) {
	now := int64(sec)
	e := mustNew(t, Config{Initial: 500_000, NoProbe: true})
	if e.Fill(900_000, 400_000, time.Second, now) {
		t.Fatal("Fill with probing off")
	}
	e = mustNew(t, Config{Initial: 500_000})
	if e.Fill(900_000, 400_000, time.Second, now) {
		t.Fatal("Fill while the start probes are under way")
	}
	e.mu.Lock()
	e.probe.active = false // the start episode over
	e.mu.Unlock()
	if e.Fill(400_000, 400_000, time.Second, now) {
		t.Fatal("Fill of a rate the media already reaches")
	}
	if !e.Fill(900_000, 400_000, time.Second, now) {
		t.Fatal("Fill refused")
	}
	if st := e.Stats(); st.Fills != 1 {
		t.Fatalf("fills %d, want 1", st.Fills)
	}
	// The sender paces it after the start clusters still queued: about
	// 500 kbit/s of padding over a second.
	var padding int
	var first, last int64
	seq := uint16(0)
	for at := now; at < now+4*sec; at += 10 * ms {
		p, ok := e.NextProbe(at)
		if !ok {
			continue
		}
		seq++
		e.Sent(seq, p.Bytes, at, p.Cluster)
		if p.Rate == 500_000 {
			padding += p.Bytes + DefaultOverhead
			if first == 0 {
				first = at
			}
			last = at
		}
	}
	if padding < 500_000/8*9/10 || padding > 500_000/8*11/10 {
		t.Fatalf("fill sent %d bytes, want about %d (500 kbit/s for 1 s)", padding, 500_000/8)
	}
	if d := last - first; d < 800*ms || d > 1100*ms {
		t.Fatalf("fill paced over %v, want about a second", time.Duration(d))
	}
}
