package relay

import (
	"context"
	"testing"
	"time"
)

// benchLink is a link without a connection: the parts of the data path
// that are the relay's own.
func benchLink(b *testing.B) (*Relay, *peer, *link) {
	b.Helper()
	m, err := NewMetrics(nil)
	if err != nil {
		b.Fatal(err)
	}
	r := &Relay{m: m, cfg: Config{SendQueue: 1024}}
	p := newPeer(r, "edge-b")
	return r, p, newLink(r, p, nil, nil, "edge-a")
}

// BenchmarkSenderWriteRTP is the origin's per-packet cost: the demand
// check and the copy into the link's send ring (the datagram writer's pop
// runs alongside, as it would).
func BenchmarkSenderWriteRTP(b *testing.B) {
	_, _, l := benchLink(b)
	s := &Sender{l: l, ch: 1}
	s.layers.Store(0b111)
	pkt := rtpPacket(1, 1100, 0xaa)
	spare := make([]byte, dgHeader+maxRTPSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		if !s.WriteRTP(i%3, pkt) {
			b.Fatal("refused")
		}
		buf, _, _ := l.ring.pop(spare)
		spare = buf
	}
}

// BenchmarkDeliver is the receiving edge's per-packet cost: parse the
// datagram, find the subscription, push into the layer's Stream, and the
// layer reader's Read.
func BenchmarkDeliver(b *testing.B) {
	_, p, l := benchLink(b)
	st := NewStream(0)
	h := streamHandler{st}
	s := &Subscription{p: p, ch: 5, h: h}
	p.subs[5] = s
	p.publishInbound()
	pkt := rtpPacket(1, 1100, 0xaa)
	dg := make([]byte, dgHeader+len(pkt))
	putDatagram(dg, 5, 0)
	copy(dg[dgHeader:], pkt)
	out := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		l.deliver(dg)
		if _, _, err := st.Read(out); err != nil {
			b.Fatal(err)
		}
	}
}

type streamHandler struct{ s *Stream }

func (h streamHandler) RTP(_ int, pkt []byte)          { h.s.Push(pkt) }
func (streamHandler) SenderReport(int, uint64, uint32) {}
func (streamHandler) LayerState(LayerState)            {}
func (streamHandler) Refused(string)                   {}

// BenchmarkLink is the cost of a packet relayed between two relays on
// loopback, pipelined (the sender does not wait for each packet):
// WriteRTP on the origin, QUIC (TLS 1.3 AEAD, congestion control, UDP),
// the receiver's delivery into a Stream and its Read. Its allocations are
// quic-go's (SendDatagram copies each payload, ReceiveDatagram returns a
// fresh slice); the relay's own share is the two benchmarks above.
func BenchmarkLink(b *testing.B) {
	keys := [][]byte{newKey(b)}
	dir := newDirectory()
	a := startBenchEndpoint(b, "edge-a", dir, keys)
	r := startBenchEndpoint(b, "edge-b", dir, keys)
	st := NewStream(4096)
	sub, err := r.Subscribe("edge-a", "room", "TR", 1, streamHandler{st})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	deadline := time.Now().Add(10 * time.Second)
	for a.origin.feed("TR") == nil {
		if time.Now().After(deadline) {
			b.Fatal("no feed")
		}
		time.Sleep(time.Millisecond)
	}
	out := a.origin.feed("TR").out
	pkt := rtpPacket(1, 1100, 0xaa)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	got := make(chan int)
	go func() {
		buf := make([]byte, 1500)
		n := 0
		for n < b.N {
			_ = st.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := st.Read(buf); err != nil {
				break // the rest was lost
			}
			n++
		}
		got <- n
	}()
	for range b.N {
		for !out.WriteRTP(0, pkt) {
			time.Sleep(20 * time.Microsecond) // the ring is full: let QUIC drain it
		}
	}
	n := <-got
	b.StopTimer()
	b.ReportMetric(float64(b.N-n)/float64(b.N), "lost/op")
	// Where: the receiving Stream (its reader, the benchmark, fell
	// behind) or before it (QUIC's receive queue, the network).
	b.ReportMetric(float64(st.Drops())/float64(b.N), "stream-drops/op")
	sent, arrived := a.Stats("edge-b").DatagramsSent, r.Stats("edge-a").DatagramsReceived
	b.ReportMetric(float64(int64(sent)-int64(arrived))/float64(b.N), "net-drops/op")
}

func startBenchEndpoint(b *testing.B, node string, dir *directory, keys [][]byte) *endpoint {
	b.Helper()
	id, err := NewIdentity(node, keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	pc, err := listenUDP()
	if err != nil {
		b.Fatal(err)
	}
	e := &endpoint{origin: newTestOrigin(), msgs: &messages{}, done: make(chan error, 1)}
	r, err := New(Config{Identity: id, PacketConn: pc, Resolve: dir.resolve, Origin: e.origin})
	if err != nil {
		b.Fatal(err)
	}
	e.Relay = r
	dir.set(node, pc.LocalAddr().String())
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- r.Run(ctx) }()
	b.Cleanup(e.stop)
	return e
}
