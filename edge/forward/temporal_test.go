package forward

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// l1t3 is Chromium's VP8 temporal pattern: picture k is in temporal layer
// [0 2 1 2][k%4]; the two pictures after a base picture depend on it only
// (layer sync, Y).
func l1t3(k int) (tid uint8, y bool) {
	return [4]uint8{0, 2, 1, 2}[k%4], k%4 == 1 || k%4 == 2
}

// temporalPacket is packet part (0 or 1) of picture k of an L1T3 stream
// whose pictures are two packets each: picture ids from 100, TL0PICIDX
// counting the base pictures, a keyframe at picture 0.
func temporalPacket(k, part int) pk {
	tid, y := l1t3(k)
	return pk{seq: uint16(1000 + 2*k + part), ts: uint32(k) * 3000, key: k == 0 && part == 0, pic: uint16(100 + k),
		tl0: uint8(k / 4), tid: tid, y: y, cont: part == 1, arrival: int64(k) * frame}
}

// Dropping temporal layers keeps the subscriber's stream continuous:
// sequence numbers without holes, picture ids without gaps, TL0PICIDX as
// the publisher sent it; going down happens at the next picture, going up
// at the next layer-sync picture; a NACK across dropped pictures gets the
// packet as it was first sent.
func TestTemporalLayers(t *testing.T) {
	r := newRig(t, 1, Config{Layer: 0}, 256)
	caches := newBenchCache(t)
	type sent struct {
		k   int // picture
		out out
	}
	var got []sent
	feed := func(from, to int) {
		for k := from; k < to; k++ {
			for part := 0; part < 2; part++ {
				b := vp8Packet(temporalPacket(k, part))
				caches[0].Store(b)
				pkt, err := r.src.Parse(b, 0, int64(k)*frame)
				if err != nil {
					t.Fatal(err)
				}
				r.f.Forward(&pkt)
			}
			for _, o := range r.drain() {
				got = append(got, sent{k, o})
			}
		}
	}
	pictures := func(from int) []int {
		var ks []int
		for _, s := range got[from:] {
			if len(ks) == 0 || ks[len(ks)-1] != s.k {
				ks = append(ks, s.k)
			}
		}
		return ks
	}
	feed(0, 8) // everything
	if len(got) != 16 {
		t.Fatalf("%d packets of 8 pictures forwarded, want 16", len(got))
	}
	r.f.SetTemporal(0)
	mark := len(got)
	feed(8, 19) // the base layer only: pictures 8, 12 and 16
	if ks := pictures(mark); fmt.Sprint(ks) != "[8 12 16]" {
		t.Fatalf("at temporal layer 0, pictures %v forwarded, want [8 12 16]", ks)
	}
	r.f.SetTemporal(simulcast.AllTemporal)
	mark = len(got)
	feed(19, 24) // 19 is no sync picture; up at 21 (TID 2, Y)
	if ks := pictures(mark); fmt.Sprint(ks) != "[20 21 22 23]" {
		t.Fatalf("going up: pictures %v forwarded, want [20 21 22 23] (up at the sync picture)", ks)
	}
	r.f.SetTemporal(1)
	mark = len(got)
	feed(24, 28) // TID 2 dropped: 24 (TID 0) and 26 (TID 1)
	if ks := pictures(mark); fmt.Sprint(ks) != "[24 26]" {
		t.Fatalf("at temporal layer 1, pictures %v forwarded, want [24 26]", ks)
	}

	for i := 1; i < len(got); i++ {
		a, b := got[i-1].out, got[i].out
		if b.seq != a.seq+1 {
			t.Fatalf("sequence numbers %d then %d (pictures %d, %d): a hole", a.seq, b.seq, got[i-1].k, got[i].k)
		}
		if got[i].k != got[i-1].k && b.pic != a.pic+1 {
			t.Fatalf("picture ids %d then %d (pictures %d, %d): a gap", a.pic, b.pic, got[i-1].k, got[i].k)
		}
		if want := uint8(got[i].k / 4); b.tl0 != want {
			t.Fatalf("picture %d: TL0PICIDX %d, want %d", got[i].k, b.tl0, want)
		}
	}
	if st := r.f.Stats(); st.TemporalDrops != 2*(8+1+2) || st.Temporal != 1 {
		t.Fatalf("stats %+v: want 22 packets dropped, temporal layer 1 forwarded", st)
	}

	// The subscriber lost the first packet of picture 12, sent between
	// dropped pictures: the retransmission is what it would have got.
	var lost out
	for _, s := range got {
		if s.k == 12 {
			lost = s.out
			break
		}
	}
	if resent, _, _ := r.f.HandleNACK(lost.seq, 0, caches, make([]byte, 1500), 0, 0); resent != 1 {
		t.Fatal("not resent")
	}
	re := r.drain()
	if len(re) != 1 || !bytes.Equal(re[0].raw, lost.raw) {
		t.Fatalf("retransmissions %d; the first differs from the first send:\n got %v\nwant %x", len(re), re, lost.raw)
	}
}

// Without TID (Chromium's descriptor when the dependency descriptor is
// negotiated), non-reference pictures (N) make the upper temporal layer:
// dropped without a hole, taken back at the next picture.
func TestTemporalNonReference(t *testing.T) {
	r := newRig(t, 1, Config{Layer: 0}, 256)
	var seqs []uint16
	var pictures []int
	feed := func(from, to int) {
		for k := from; k < to; k++ {
			// One packet a picture, a short descriptor (X=0): N on odd
			// pictures.
			b := vp8Packet(pk{seq: uint16(500 + k), ts: uint32(k) * 3000, key: k == 0})
			b = append(b[:12], b[12+6:]...) // no extended fields
			b[12] = 0x10
			if k%2 == 1 {
				b[12] |= 0x20
			}
			pkt, err := r.src.Parse(b, 0, int64(k)*frame)
			if err != nil {
				t.Fatal(err)
			}
			if pkt.VP8.HasTID || pkt.VP8.HasPictureID {
				t.Fatal("the test's packet has extended fields")
			}
			if r.f.Forward(&pkt).Verdict == Sent {
				pictures = append(pictures, k)
			}
			for _, o := range r.drain() {
				seqs = append(seqs, o.seq)
			}
		}
	}
	feed(0, 4)
	r.f.SetTemporal(0)
	feed(4, 10)
	r.f.SetTemporal(simulcast.AllTemporal)
	feed(10, 12)
	want := []int{0, 1, 2, 3, 4, 6, 8, 10, 11}
	if len(pictures) != len(want) {
		t.Fatalf("pictures %v forwarded, want %v", pictures, want)
	}
	for i := range want {
		if pictures[i] != want[i] {
			t.Fatalf("pictures %v forwarded, want %v", pictures, want)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v: a hole", seqs)
		}
	}
}

// A layer's temporal bitrates are metered per temporal layer and given
// cumulatively; a stream with non-reference pictures has two.
func TestTemporalBitrates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mime  string
		short bool // no extended descriptor: N bit only
		n     int
	}{
		{"VP8 with TID", webrtc.MimeTypeVP8, false, 3},
		{"VP8, N bit only", webrtc.MimeTypeVP8, true, 2},
		{"H.264", webrtc.MimeTypeH264, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewSource(SourceConfig{Codec: codec.KindFromMime(tc.mime)})
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 30; k++ {
				b := vp8Packet(temporalPacket(k, 0))
				if tc.short {
					b = append(b[:12], b[12+6:]...)
					b[12] = 0x10
					if tid, _ := l1t3(k); tid == 2 {
						b[12] |= 0x20
					}
				}
				if _, err := src.Parse(b, 0, int64(k)*frame); err != nil {
					t.Fatal(err)
				}
			}
			var rates [simulcast.MaxTemporal]uint64
			n := src.TemporalBitrates(0, 30*frame, &rates)
			if n != tc.n {
				t.Fatalf("%d temporal layers, want %d (rates %v)", n, tc.n, rates)
			}
			total := src.Bitrate(0, 30*frame)
			if n > 0 && (rates[n-1] < total*99/100 || rates[n-1] > total || rates[0] == 0 || rates[0] >= total) {
				t.Fatalf("cumulative rates %v, want the last equal to the layer's %d and the base below it", rates, total)
			}
			for i := 1; i < n; i++ {
				if rates[i] < rates[i-1] {
					t.Fatalf("rates %v not cumulative", rates)
				}
			}
		})
	}
}

// upstreamRecorder records a track's keyframe requests.
type upstreamRecorder struct{ plis []uint32 }

func (u *upstreamRecorder) RequestKeyframe(_ int, ssrc uint32)          { u.plis = append(u.plis, ssrc) }
func (u *upstreamRecorder) RequestRetransmission(int, uint32, []uint16) {}

// A NACK the edge cannot answer because the packet is gone for good
// (evicted from the cache, or from a segment the forwarder no longer
// remembers) leaves the subscriber unable to recover: the edge asks the
// publisher for a keyframe. A packet lost upstream but still within the
// cache's window may yet be repaired: no keyframe for that.
func TestUnrecoverableNACKAsksForKeyframe(t *testing.T) {
	up := &upstreamRecorder{}
	var now int64
	tr, err := NewTrack(TrackConfig{Codec: codec.VP8, Upstream: up, Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tr.AddLayer(0, 0x77, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(SinkConfig{Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s.SetInline(true)
	d, err := s.Subscribe(tr)
	if err != nil {
		t.Fatal(err)
	}
	w := &rtpWriter{}
	d.Bind(Output{Writer: w, SSRC: 1234, PayloadType: 96, ClockRate: 90000})
	d.SetTarget(0, 0)
	lostUpstream := uint16(videoCache + 95)
	for i := 0; i < videoCache+100; i++ {
		now = int64(i) * frame
		if uint16(i) == lostUpstream {
			continue
		}
		raw := vp8Frame(uint16(i), uint32(i)*3000, i == 0)
		pkt, err := tr.src.Parse(raw, 0, now)
		if err != nil {
			t.Fatal(err)
		}
		tr.caches[0].StoreParsed(raw, pkt.Header.Seq, pkt.Header.Timestamp, pkt.Keyframe)
		l.fanout([]Packet{pkt}, nil)
	}
	if len(up.plis) != 1 {
		t.Fatalf("%d keyframe requests while starting, want 1", len(up.plis))
	}
	scratch := make([]byte, 1500)
	now += int64(DefaultKeyframeInterval)
	// Lost upstream, within the cache's window: not now.
	if _, missed := d.HandleNACK(w.pkts[len(w.pkts)-5].SequenceNumber+1, 0, scratch, now, 0); missed != 1 || len(up.plis) != 1 {
		t.Fatalf("missed %d; %d keyframe requests for a packet that may yet come", missed, len(up.plis))
	}
	// Evicted.
	if _, missed := d.HandleNACK(w.pkts[1].SequenceNumber, 0, scratch, now, 0); missed != 1 {
		t.Fatalf("an evicted packet: missed %d", missed)
	}
	if len(up.plis) != 2 || up.plis[1] != 0x77 {
		t.Fatalf("keyframe requests %v after a NACK for an evicted packet, want a second to 0x77", up.plis)
	}
	if st := d.Stats(); st.Unrecoverable != 1 {
		t.Fatalf("stats %+v: want 1 unrecoverable", st)
	}
}

// A forwarder that has started more segments than it remembers reports a
// NACK for a packet before them as gone.
func TestForgottenSegmentIsGone(t *testing.T) {
	r := newRig(t, 1, Config{Layer: 0}, 256)
	c := []*cache.Cache{newBenchCache(t)[0]}
	seq := uint16(0)
	first := uint16(0)
	for i := 0; i < segHistory+2; i++ {
		// A packet, then a padding-only probe after a lost number: a new
		// segment each time.
		r.feed(pk{seq: seq, ts: uint32(i) * 3000, key: i == 0})
		if i == 0 {
			first = r.drain()[0].seq
		}
		r.feed(pk{seq: seq + 2, padOnly: true})
		seq += 3
	}
	r.drain()
	_, _, gone := r.f.HandleNACK(first, 0, c, make([]byte, 1500), 0, 0)
	if gone != 1 {
		t.Fatalf("a NACK for the first packet, %d segments ago: gone %d, want 1", segHistory+2, gone)
	}
}

// A packet lost just before a dropped one keeps its place in the
// subscriber's numbers; when its repair comes and belongs to the dropped
// layer, an empty packet fills the place: a receiver without picture ids
// would decode nothing past a hole until the next keyframe.
func TestTemporalDropFillsHoles(t *testing.T) {
	r := newRig(t, 1, Config{Layer: 0}, 256)
	short := func(seq uint16, k int) []byte {
		// Picture k in two packets, a short descriptor: N on odd
		// pictures.
		b := vp8Packet(pk{seq: seq, ts: uint32(k) * 3000, key: k == 0 && seq%2 == 0})
		b = append(b[:12], b[12+6:]...)
		b[12] = 0x10
		if seq%2 == 1 {
			b[12] = 0 // continuation
		}
		if k%2 == 1 {
			b[12] |= 0x20
		}
		return b
	}
	var got []out
	feed := func(seq uint16, k int) {
		pkt, err := r.src.Parse(short(seq, k), 0, int64(k)*frame)
		if err != nil {
			t.Fatal(err)
		}
		r.f.Forward(&pkt)
		got = append(got, r.drain()...)
	}
	feed(0, 0)
	feed(1, 0)
	r.f.SetTemporal(0)
	feed(2, 1) // picture 1: non-reference, dropped
	feed(3, 1)
	feed(4, 2)
	feed(5, 2)
	feed(7, 3) // picture 3, dropped; its first packet late
	feed(6, 3)
	feed(8, 4)
	feed(9, 4)
	if len(got) != 7 {
		t.Fatalf("%d packets sent, want 7: pictures 0 and 2, a filler, picture 4", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].seq != got[i-1].seq+1 {
			t.Fatalf("sequence numbers %d then %d: a hole", got[i-1].seq, got[i].seq)
		}
	}
	if h, _ := codec.ParseRTP(got[4].raw); h.PayloadLen() != 0 {
		t.Fatalf("the filler carries %d bytes of payload, want none", h.PayloadLen())
	}
	if st := r.f.Stats(); st.HolesFilled != 1 {
		t.Fatalf("stats %+v: want 1 hole filled", st)
	}

	// A late packet of a picture that was forwarded goes as it is, even
	// after the forwarder went down a temporal layer.
	r.f.SetTemporal(simulcast.AllTemporal)
	got = got[:0]
	feed(10, 5) // picture 5 (non-reference): taken again; its end late
	r.f.SetTemporal(0)
	feed(12, 6)
	feed(13, 6)
	feed(11, 5)
	if len(got) != 4 {
		t.Fatalf("%d packets sent, want 4: pictures 5 and 6", len(got))
	}
	late := got[3]
	if h, _ := codec.ParseRTP(late.raw); h.PayloadLen() == 0 || late.seq != got[0].seq+1 {
		t.Fatalf("the late end of picture 5: %d bytes at %d, want its payload right after its start (%d)", h.PayloadLen(), late.seq, got[0].seq)
	}
}
