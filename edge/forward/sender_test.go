package forward

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// recorder is a Writer that re-marshals what it gets, as pion's SRTP
// writer does.
type recorder struct {
	mu   sync.Mutex
	pkts [][]byte
	fail bool
}

func (r *recorder) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if r.fail {
		return 0, errors.New("closed")
	}
	b := make([]byte, rtp.PacketMarshalSize(h, payload))
	n, err := rtp.MarshalPacketTo(b, h, payload)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.pkts = append(r.pkts, b[:n])
	r.mu.Unlock()
	return n, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

func TestSender(t *testing.T) {
	q, err := NewQueue(QueueConfig{Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	src := newRig(t, 1, Config{}, 4).src
	video, err := New(Config{Source: src, Queue: q, SSRC: 11, Tag: 1})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := New(Config{Source: src, Queue: q, SSRC: 12, Tag: 2})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := New(Config{Source: src, Queue: q, SSRC: 13, Tag: 3})
	if err != nil {
		t.Fatal(err)
	}
	rec, bad := &recorder{}, &recorder{fail: true}
	s := NewSender(q)
	s.SetWriter(1, rec)
	s.SetWriter(3, bad)

	// A packet with padding (RFC 3550 §5.1) reaches the writer without it.
	in := vp8Packet(pk{seq: 5, ts: 90, key: true, pic: 1})
	in[0] |= 0x20
	in = append(in, 0, 0, 3)
	p, err := src.Parse(in, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Forwarder{video, orphan, broken} {
		if f.Forward(&p).Verdict != Sent {
			t.Fatal("not sent")
		}
	}
	it, ok := q.Front() // the video packet as queued
	front := it.Pkt
	if !ok {
		t.Fatal("empty queue")
	}
	want := append([]byte(nil), front...)
	if video.Forward(&p).Verdict != Filtered { // duplicate: nothing queued
		t.Fatal("duplicate forwarded")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Written+s.Stats().Failed+s.Stats().Unrouted < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("sender stuck: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Written != 1 || st.Failed != 1 || st.Unrouted != 1 {
		t.Fatalf("stats %+v", st)
	}
	if rec.count() != 1 {
		t.Fatalf("writer got %d packets", rec.count())
	}
	got := rec.pkts[0]
	if got[0]&0x20 != 0 || len(got) != len(in)-3 {
		t.Fatalf("padding kept: got %x", got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("writer got\n%x\nwant\n%x", got, want)
	}

	// Removing a route discards that track's packets.
	s.SetWriter(1, nil)
	p3, _ := src.Parse(vp8Packet(pk{seq: 7, ts: 180, pic: 2}), 0, 0)
	video.Forward(&p3)
	s.Flush()
	if s.Stats().Unrouted != 2 || rec.count() != 1 {
		t.Fatalf("after removal: %+v, %d written", s.Stats(), rec.count())
	}
}
