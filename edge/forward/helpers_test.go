package forward

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/edge/cache"

	"github.com/spacecast/spacecast/edge/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pk describes a synthetic VP8 packet of a simulcast layer.
type pk struct {
	seq     uint16
	ts      uint32
	layer   int
	key     bool
	pic     uint16
	tl0     uint8
	keyIdx  uint8
	tid     uint8 // temporal layer (TID)
	y       bool  // layer sync
	arrival int64 // ns
	ext     bool  // carry a header extension
	cont    bool  // continuation packet (S=0)
	padOnly bool  // no payload, only 8 octets of padding
}

var layerSSRC = [MaxLayers]uint32{0x1000, 0x1001, 0x1002, 0x1003}

// vp8Packet builds an RTP packet (RFC 3550) with a full VP8 payload
// descriptor (RFC 7741 §4.2): X, I with M (15-bit picture ID), L, T and K.
func vp8Packet(p pk) []byte {
	b := make([]byte, 12, 80)
	b[0] = 0x80
	b[1] = 96
	binary.BigEndian.PutUint16(b[2:], p.seq)
	binary.BigEndian.PutUint32(b[4:], p.ts)
	binary.BigEndian.PutUint32(b[8:], layerSSRC[p.layer])
	if p.ext {
		b[0] |= 0x10
		b = append(b, 0xbe, 0xde, 0x00, 0x01, 0x32, 0xaa, 0xbb, 0xcc)
	}
	if p.padOnly {
		b[0] |= 0x20
		return append(b, 0, 0, 0, 0, 0, 0, 0, 8)
	}
	s := byte(0x10)
	if p.cont {
		s = 0
	}
	tk := p.tid<<6 | p.keyIdx&0x1f
	if p.y {
		tk |= 0x20
	}
	b = append(b, 0x80|s, 0xf0, 0x80|byte(p.pic>>8), byte(p.pic), p.tl0, tk)
	if p.key {
		b = append(b, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a)
	} else {
		b = append(b, 0x11, 0x02, 0x00)
	}
	for i := 0; i < 20; i++ {
		b = append(b, byte(p.seq)+byte(i))
	}
	return b
}

// out is a forwarded packet, parsed back.
type out struct {
	seq    uint16
	ts     uint32
	ssrc   uint32
	pt     uint8
	pic    uint16
	tl0    uint8
	keyIdx uint8
	hasExt bool
	raw    []byte
}

func parseOut(t testing.TB, b []byte) out {
	t.Helper()
	h, err := codec.ParseRTP(b)
	if err != nil {
		t.Fatalf("forwarded packet does not parse: %v", err)
	}
	var d codec.VP8Descriptor
	if h.PayloadLen() > 0 { // an empty packet (a filler) has none
		if d, err = codec.ParseVP8(b[h.PayloadOffset:h.PayloadEnd]); err != nil {
			t.Fatalf("forwarded VP8 descriptor does not parse: %v", err)
		}
	}
	return out{seq: h.Seq, ts: h.Timestamp, ssrc: h.SSRC, pt: h.PayloadType, pic: d.PictureID, tl0: d.TL0PicIdx,
		keyIdx: d.KeyIdx, hasExt: b[0]&0x10 != 0, raw: append([]byte(nil), b...)}
}

// rig is a Source with one Forwarder on its own Queue.
type rig struct {
	t   testing.TB
	src *Source
	q   *Queue
	f   *Forwarder
}

func newRig(t testing.TB, layers int, fcfg Config, qsize int) *rig {
	t.Helper()
	src, err := NewSource(SourceConfig{Codec: codec.VP8, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue(QueueConfig{Size: qsize})
	if err != nil {
		t.Fatal(err)
	}
	fcfg.Source, fcfg.Queue = src, q
	if fcfg.SSRC == 0 {
		fcfg.SSRC = 0xabcdef
	}
	f, err := New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, src: src, q: q, f: f}
}

// feed parses and forwards one packet, returning the result.
func (r *rig) feed(p pk) Result {
	r.t.Helper()
	pkt, err := r.src.Parse(vp8Packet(p), p.layer, p.arrival)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.f.Forward(&pkt)
}

// drain pops every queued packet.
func (r *rig) drain() []out {
	r.t.Helper()
	var outs []out
	buf := make([]byte, 1500)
	for {
		n, _, ok := pop(r.q, buf)
		if !ok {
			return outs
		}
		outs = append(outs, parseOut(r.t, buf[:n]))
	}
}

func newBenchCache(b testing.TB) []*cache.Cache {
	c, err := cache.New(cache.Config{Capacity: 128, Codec: codec.VP8})
	if err != nil {
		b.Fatal(err)
	}
	return []*cache.Cache{c}
}

// pop copies the oldest queued packet into dst and removes it, as a
// consumer that copies out would.
func pop(q *Queue, dst []byte) (n int, tag uint32, ok bool) {
	it, ok := q.Front()
	if !ok {
		return 0, 0, false
	}
	n = copy(dst, it.Pkt)
	q.Advance()
	return n, it.Tag, true
}

// nopUpstream drops a track's feedback.
type nopUpstream struct{}

func (nopUpstream) RequestKeyframe(int, uint32)                 {}
func (nopUpstream) RequestRetransmission(int, uint32, []uint16) {}

// stepReader hands a layer's reader one packet at a time: feed returns
// once the reader has forwarded the packet (it came back for the next).
type stepReader struct {
	pkts     chan []byte
	done     chan struct{}
	inflight bool // the reader's own
}

func newStepReader() *stepReader {
	return &stepReader{pkts: make(chan []byte), done: make(chan struct{})}
}

func (r *stepReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if r.inflight {
		r.done <- struct{}{}
	}
	p, ok := <-r.pkts
	if !ok {
		return 0, nil, io.EOF
	}
	r.inflight = true
	return copy(b, p), nil, nil
}

func (r *stepReader) SetReadDeadline(time.Time) error { return nil }

func (r *stepReader) feed(p []byte) {
	r.pkts <- p
	<-r.done
}

// close ends the stream (after feed's packets, all forwarded).
func (r *stepReader) close() { close(r.pkts) }
