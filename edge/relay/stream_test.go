package relay

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestStream: packets come out in order and whole; a full stream drops and
// counts; the deadline times out as a net.Error; Close ends a waiting Read.
func TestStream(t *testing.T) {
	s := NewStream(2)
	if !s.Push([]byte{1, 2, 3}) || !s.Push([]byte{4}) {
		t.Fatal("push into an empty stream refused")
	}
	if s.Push([]byte{5}) || s.Drops() != 1 {
		t.Fatalf("a full stream took a packet (drops %d)", s.Drops())
	}
	if s.Push(make([]byte, maxRTPSize+1)) || s.Drops() != 2 {
		t.Fatal("an oversized packet was taken")
	}
	b := make([]byte, 1500)
	for _, want := range [][]byte{{1, 2, 3}, {4}} {
		n, _, err := s.Read(b)
		if err != nil || string(b[:n]) != string(want) {
			t.Fatalf("Read = %v, %v; want %v", b[:n], err, want)
		}
	}
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, _, err := s.Read(b)
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %v, want a timeout", err)
	}
	_ = s.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() {
		_, _, err := s.Read(b)
		done <- err
	}()
	s.Close()
	if err := <-done; !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
	if s.Push([]byte{1}) {
		t.Fatal("a closed stream took a packet")
	}
}

// TestSendRing: datagrams leave in order with their header and kind; a
// full ring refuses; pop swaps buffers so nothing is copied out.
func TestSendRing(t *testing.T) {
	r := newSendRing(2)
	if !r.push(1, 0, KindMedia, rtpPacket(1, 5, 1)) || !r.push(2, 1, KindRepair, rtpPacket(2, 5, 2)) {
		t.Fatal("push refused")
	}
	if r.push(3, 0, KindMedia, rtpPacket(3, 5, 3)) {
		t.Fatal("a full ring took a datagram")
	}
	if r.push(3, 0, KindMedia, make([]byte, maxRTPSize+1)) {
		t.Fatal("an oversized packet was taken")
	}
	spare := make([]byte, dgHeader+maxRTPSize)
	for i, want := range []uint32{1, 2} {
		buf, kind, ok := r.pop(spare)
		if !ok {
			t.Fatal("pop found nothing")
		}
		if wantKind := []Kind{KindMedia, KindRepair}[i]; kind != wantKind {
			t.Fatalf("datagram %d: kind %v, want %v", i, kind, wantKind)
		}
		ch, layer, pkt, err := parseDatagram(buf)
		if err != nil || ch != want || int(layer) != i || pkt[2] != 0 || pkt[3] != byte(want) {
			t.Fatalf("datagram %d: ch %d layer %d err %v", i, ch, layer, err)
		}
		spare = buf
	}
	if _, _, ok := r.pop(spare); ok || r.len() != 0 {
		t.Fatal("pop from an empty ring")
	}
}
