package forward

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/bwe"
	"github.com/spacecast/spacecast/edge/codec"
)

// benchPacket is a 1200-byte VP8 packet with a header extension, like a
// browser's.
func benchPacket() []byte {
	b := vp8Packet(pk{seq: 0, ts: 0, key: true, pic: 1, ext: true})
	return append(b, make([]byte, 1200-len(b))...)
}

// BenchmarkForward is the hot path for one subscriber: parse once, rewrite
// (SSRC, seq, ts, VP8 picture ID/TL0PICIDX/KEYIDX, strip extensions) into
// the queue, and the consumer's Pop. It must report 0 B/op.
func BenchmarkForward(b *testing.B) {
	r := newRig(b, 1, Config{}, 256)
	pkt := benchPacket()
	dst := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var i uint32
	for b.Loop() {
		binary.BigEndian.PutUint16(pkt[codec.SeqOffset:], uint16(i))
		binary.BigEndian.PutUint32(pkt[codec.TimestampOffset:], i*3000)
		p, err := r.src.Parse(pkt, 0, int64(i)*frame)
		if err != nil {
			b.Fatal(err)
		}
		if res := r.f.Forward(&p); res.Verdict != Sent {
			b.Fatalf("verdict %v", res.Verdict)
		}
		if _, _, ok := pop(r.q, dst); !ok {
			b.Fatal("empty queue")
		}
		i++
	}
}

// BenchmarkForwardFanout forwards each packet to N subscribers (parse once,
// N rewrites); ns/op divided by N is the cost per forwarded packet.
func BenchmarkForwardFanout(b *testing.B) {
	for _, n := range []int{10, 200} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src, err := NewSource(SourceConfig{Codec: codec.VP8})
			if err != nil {
				b.Fatal(err)
			}
			fs := make([]*Forwarder, n)
			qs := make([]*Queue, n)
			for j := range fs {
				if qs[j], err = NewQueue(QueueConfig{Size: 16}); err != nil {
					b.Fatal(err)
				}
				if fs[j], err = New(Config{Source: src, Queue: qs[j], SSRC: uint32(j)}); err != nil {
					b.Fatal(err)
				}
			}
			pkt := benchPacket()
			b.ReportAllocs()
			var i uint32
			for b.Loop() {
				binary.BigEndian.PutUint16(pkt[codec.SeqOffset:], uint16(i))
				p, err := src.Parse(pkt, 0, int64(i)*frame)
				if err != nil {
					b.Fatal(err)
				}
				for j, f := range fs {
					f.Forward(&p)
					if qs[j].Len() == qs[j].Cap() {
						for {
							if _, ok := qs[j].Front(); !ok {
								break
							}
							qs[j].Advance()
						}
					}
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/fwd")
		})
	}
}

// BenchmarkFiltered is the cost of a packet of a layer the subscriber does
// not get (the common case with simulcast: two of three layers).
func BenchmarkFiltered(b *testing.B) {
	r := newRig(b, 2, Config{}, 16)
	pkt := benchPacket()
	binary.BigEndian.PutUint32(pkt[codec.SSRCOffset:], layerSSRC[1])
	p, err := r.src.Parse(pkt, 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r.f.Forward(&p).Verdict != Filtered {
			b.Fatal("not filtered")
		}
	}
}

// BenchmarkHandleNACK is the cost of answering a NACK for a packet just
// forwarded: map, fetch from the cache, rewrite and queue again.
func BenchmarkHandleNACK(b *testing.B) {
	r := newRig(b, 1, Config{}, 64)
	c := newBenchCache(b)
	pkt := benchPacket()
	scratch := make([]byte, 1500)
	dst := make([]byte, 1500)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		binary.BigEndian.PutUint16(pkt[codec.SeqOffset:], uint16(i))
		c[0].Store(pkt)
		p, _ := r.src.Parse(pkt, 0, int64(i)*frame)
		r.f.Forward(&p)
		pop(r.q, dst)
		if resent, _, _ := r.f.HandleNACK(uint16(i), 0, c, scratch, int64(i)*frame, 0); resent != 1 {
			b.Fatal("not resent")
		}
		pop(r.q, dst)
		i++
	}
}

// discard counts what it is given: payload bytes, and packets carrying a
// transport-wide sequence number under id 3.
type discard struct{ n, tcc int }

func (d *discard) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	d.n += len(payload)
	if h.GetExtension(3) != nil {
		d.tcc++
	}
	return len(payload), nil
}

// BenchmarkFanout is one layer reader's work for a packet of a frame
// fanned out to 10 subscribers: the forwarders' rewrite into each
// subscriber's queue and each sink's drain into a pion-style writer
// (header unmarshal into a reused rtp.Header), without SRTP and the socket.
// "twcc" adds what send-side congestion control costs per packet: the
// transport-wide sequence number and abs-send-time written into the
// header extension and each packet recorded by the subscriber's estimator.
func BenchmarkFanout(b *testing.B) {
	b.Run("remb", func(b *testing.B) { benchFanout(b, false, 1) })
	b.Run("twcc", func(b *testing.B) { benchFanout(b, true, 1) })
	// A frame of three packets, as 600 kbit/s VP8 at 30 frames/s is.
	b.Run("twcc-3", func(b *testing.B) { benchFanout(b, true, 3) })
}

func benchFanout(b *testing.B, twcc bool, perFrame int) {
	const subs = 10
	var clock int64 // the media clock: one frame a packet
	now := func() int64 { return clock }
	tr, err := NewTrack(TrackConfig{Codec: codec.VP8, Upstream: nopUpstream{}, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	l, err := tr.AddLayer(0, 1, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	w := &discard{}
	for i := 0; i < subs; i++ {
		cfg := SinkConfig{Now: now}
		out := Output{Writer: w, SSRC: 5, PayloadType: 96, ClockRate: 90000}
		if twcc {
			est, err := bwe.New(bwe.Config{})
			if err != nil {
				b.Fatal(err)
			}
			cfg.BWE = est
			out.AbsSendTimeID, out.TransportCCID = 2, 3
		}
		sink, err := NewSink(cfg)
		if err != nil {
			b.Fatal(err)
		}
		sink.SetInline(true)
		d, err := sink.Subscribe(tr)
		if err != nil {
			b.Fatal(err)
		}
		d.Bind(out)
		d.fwd.SetTarget(0)
	}
	bufs := make([][]byte, perFrame)
	for k := range bufs {
		pkt := vp8Packet(pk{key: k == 0, pic: 1, ext: true, cont: k > 0})
		bufs[k] = append(pkt, make([]byte, 1200-len(pkt))...)
	}
	pkts := make([]Packet, perFrame)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		clock = int64(i) * frame
		for k, pkt := range bufs {
			binary.BigEndian.PutUint16(pkt[codec.SeqOffset:], uint16(int(i)*perFrame+k))
			binary.BigEndian.PutUint32(pkt[codec.TimestampOffset:], i*3000)
			p, err := tr.src.Parse(pkt, 0, clock)
			if err != nil {
				b.Fatal(err)
			}
			p.Keyframe = i == 0 && k == 0
			pkts[k] = p
		}
		l.fanout(pkts, nil)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs*perFrame), "ns/forwarded-packet")
	if w.n == 0 {
		b.Fatal("nothing written")
	}
	if twcc && w.tcc == 0 {
		b.Fatal("no packet carried a transport-wide sequence number")
	}
}

// BenchmarkForwardTemporal is BenchmarkForward for a subscriber at the
// base temporal layer of an L1T3 stream: three pictures in four dropped
// (taken out of its sequence numbers and picture ids). It must report
// 0 B/op.
func BenchmarkForwardTemporal(b *testing.B) {
	r := newRig(b, 1, Config{Layer: 0}, 256)
	r.f.SetTemporal(0)
	dst := make([]byte, 1500)
	pkts := make([][]byte, 4)
	for k := range pkts {
		p := temporalPacket(k, 0)
		p.cont, p.key = false, false
		pkts[k] = append(vp8Packet(p), make([]byte, 1100)...)
	}
	key := append(vp8Packet(temporalPacket(0, 0)), make([]byte, 1100)...)
	p, err := r.src.Parse(key, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	r.f.Forward(&p)
	pop(r.q, dst)
	b.ReportAllocs()
	i := 1
	for b.Loop() {
		pkt := pkts[i%4]
		binary.BigEndian.PutUint16(pkt[codec.SeqOffset:], uint16(i))
		binary.BigEndian.PutUint32(pkt[codec.TimestampOffset:], uint32(i)*3000)
		binary.BigEndian.PutUint16(pkt[14:], 0x8000|uint16(i)&0x7fff) // picture id
		p, err := r.src.Parse(pkt, 0, int64(i)*frame)
		if err != nil {
			b.Fatal(err)
		}
		if res := r.f.Forward(&p); res.Verdict == Sent {
			pop(r.q, dst)
		}
		i++
	}
	if st := r.f.Stats(); st.TemporalDrops == 0 || st.Packets == 0 {
		b.Fatalf("stats %+v: want packets both dropped and sent", st)
	}
}
