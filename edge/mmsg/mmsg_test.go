package mmsg

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/internal/udpbatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// read reads n packets from r (each within a deadline) and returns them.
func read(t *testing.T, r *net.UDPConn, n int) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 2048)
	for range n {
		if err := r.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		k, _, err := r.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(got), n, err)
		}
		got = append(got, string(buf[:k]))
	}
	return got
}

// calls is how many system calls c makes to send packets that take
// batched calls where the system batches (Linux), one per packet elsewhere.
func calls(c *Conn, batched, packets int) uint64 {
	if c.out.Batched() {
		return uint64(batched)
	}
	return uint64(packets)
}

func TestUnheldWritesGoOutAtOnce(t *testing.T) {
	c := New(listen(t))
	r := listen(t)
	for i := range 3 {
		if _, err := c.WriteTo([]byte(fmt.Sprint("p", i)), r.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if s := c.Stats(); s.Calls != uint64(i+1) || s.Packets != uint64(i+1) {
			t.Fatalf("after write %d: %+v, want one call per packet", i, s)
		}
	}
	if got := read(t, r, 3); fmt.Sprint(got) != "[p0 p1 p2]" {
		t.Fatalf("got %v", got)
	}
}

func TestHeldWritesLeaveTogetherOnRelease(t *testing.T) {
	c := New(listen(t))
	rs := []*net.UDPConn{listen(t), listen(t), listen(t)}
	c.Hold()
	c.Hold() // nested: only the outer Release sends
	for i := range 9 {
		if n, err := c.WriteTo([]byte(fmt.Sprint("p", i)), rs[i%3].LocalAddr()); err != nil || n != 2 {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	c.Release()
	if s := c.Stats(); s.Calls != 0 || s.Packets != 0 {
		t.Fatalf("sent while held: %+v", s)
	}
	c.Release()
	if s := c.Stats(); s.Calls != calls(c, 1, 9) || s.Packets != 9 || s.Bytes != 18 || s.Failed != 0 {
		t.Fatalf("after release: %+v, want 9 packets in one call", s)
	}
	for i, r := range rs {
		want := fmt.Sprintf("[p%d p%d p%d]", i, i+3, i+6)
		if got := fmt.Sprint(read(t, r, 3)); got != want {
			t.Fatalf("receiver %d got %s, want %s", i, got, want)
		}
	}
}

func TestFullBatchLeavesWithoutRelease(t *testing.T) {
	c := New(listen(t))
	r := listen(t)
	c.Hold()
	for i := range Capacity + 5 {
		if _, err := c.WriteTo([]byte{byte(i)}, r.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.Calls != calls(c, 1, Capacity) || s.Packets != Capacity {
		t.Fatalf("held past capacity: %+v", s)
	}
	c.Release()
	if s := c.Stats(); s.Calls != calls(c, 2, Capacity+5) || s.Packets != Capacity+5 {
		t.Fatalf("after release: %+v", s)
	}
	got := read(t, r, Capacity+5)
	for i, p := range got {
		if p != string([]byte{byte(i)}) {
			t.Fatalf("packet %d is %q: out of order", i, p)
		}
	}
}

// The caller's buffer is reused at once (pion's SRTP buffers are pooled):
// the batch must hold a copy.
func TestHeldWriteCopiesThePacket(t *testing.T) {
	c := New(listen(t))
	r := listen(t)
	buf := []byte("first")
	c.Hold()
	if _, err := c.WriteTo(buf, r.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX")
	c.Release()
	if got := read(t, r, 1); got[0] != "first" {
		t.Fatalf("sent %q: the batch kept the caller's buffer", got[0])
	}
}

func TestOversizePacketBypassesTheBatch(t *testing.T) {
	c := New(listen(t))
	r := listen(t)
	big := bytes.Repeat([]byte{7}, maxPacket+1)
	c.Hold()
	if _, err := c.WriteTo(big, r.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Calls != 1 || s.Bytes != uint64(len(big)) {
		t.Fatalf("oversize packet held: %+v", s)
	}
	c.Release()
	if got := read(t, r, 1); len(got[0]) != len(big) {
		t.Fatalf("got %d bytes", len(got[0]))
	}
}

// A packet the kernel refuses (an IPv6 destination on an IPv4 socket) is
// counted and does not stop the rest of its batch.
func TestRefusedPacketDoesNotSinkItsBatch(t *testing.T) {
	c := New(listen(t))
	r := listen(t)
	c.Hold()
	_, _ = c.WriteTo([]byte("a"), r.LocalAddr())
	_, _ = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv6loopback, Port: 9})
	_, _ = c.WriteTo([]byte("b"), r.LocalAddr())
	c.Release()
	if s := c.Stats(); s.Failed != 1 || s.Packets != 2 {
		t.Fatalf("stats %+v, want 1 failed and 2 sent", s)
	}
	if got := fmt.Sprint(read(t, r, 2)); got != "[a b]" {
		t.Fatalf("got %s", got)
	}
}

func TestNonUDPConnWritesPacketByPacket(t *testing.T) {
	u := listen(t)
	c := New(struct{ net.PacketConn }{u}) // hides *net.UDPConn
	r := listen(t)
	c.Hold()
	if _, err := c.WriteTo([]byte("x"), r.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Calls != 1 {
		t.Fatalf("%+v: a plain PacketConn cannot batch and must not hold", s)
	}
	c.Release()
	read(t, r, 1)
}

// Concurrent fan-outs and unheld writers: every packet arrives once.
func TestConcurrentWriters(t *testing.T) {
	c := New(listen(t))
	r := listen(t)
	if err := r.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	const writers, per = 4, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				held := w%2 == 0
				if held && i%10 == 0 {
					c.Hold()
				}
				_, _ = c.WriteTo([]byte(fmt.Sprint(w, "-", i)), r.LocalAddr())
				if held && i%10 == 9 {
					c.Release()
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, p := range read(t, r, writers*per) {
		if seen[p] {
			t.Fatalf("%s twice", p)
		}
		seen[p] = true
	}
	if s := c.Stats(); s.Packets != writers*per || c.out.Batched() && s.Calls >= writers*per {
		t.Fatalf("stats %+v", s)
	}
}

// sizes reads n datagrams from r and returns their lengths and first bytes.
func sizes(t *testing.T, r *net.UDPConn, n int) string {
	t.Helper()
	var out []string
	for _, p := range read(t, r, n) {
		out = append(out, fmt.Sprintf("%c%d", p[0], len(p)))
	}
	return fmt.Sprint(out)
}

func TestRunsToOneDestinationAreSegmented(t *testing.T) {
	c := New(listen(t))
	if !c.out.GSO() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	r1, r2 := listen(t), listen(t)
	write := func(r *net.UDPConn, b byte, n int) {
		if _, err := c.WriteTo(bytes.Repeat([]byte{b}, n), r.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	c.Hold()
	write(r1, 'a', 100) // a frame for r1: two full packets and a short one
	write(r1, 'b', 100)
	write(r1, 'c', 40)
	write(r1, 'd', 100) // the next frame starts a new run
	write(r2, 'e', 100) // another destination
	write(r1, 'f', 100)
	write(r1, 'g', 120) // longer than the run's segments: a run of its own
	c.Release()
	s := c.Stats()
	if s.Calls != 1 || s.Packets != 7 || s.Segmented != 3 || s.Bytes != 660 {
		t.Fatalf("stats %+v: want 7 packets in one call, a-b-c segmented", s)
	}
	if got := sizes(t, r1, 6); got != "[a100 b100 c40 d100 f100 g120]" {
		t.Fatalf("r1 got %s", got)
	}
	if got := sizes(t, r2, 1); got != "[e100]" {
		t.Fatalf("r2 got %s", got)
	}
}

// A batch close to full is sent where one destination's run ends, not in
// the middle of the next run.
func TestNearlyFullBatchEndsBetweenRuns(t *testing.T) {
	c := New(listen(t))
	if !c.out.GSO() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	r1, r2 := listen(t), listen(t)
	if err := r1.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	c.Hold()
	n := Capacity - runRoom + 1 // past the soft limit, all to r1: one run
	for range n {
		_, _ = c.WriteTo([]byte("x"), r1.LocalAddr())
	}
	if s := c.Stats(); s.Calls != 0 {
		t.Fatalf("sent inside a run: %+v", s)
	}
	for range 3 {
		_, _ = c.WriteTo([]byte("y"), r2.LocalAddr()) // a new run: the first batch leaves before it
	}
	if s := c.Stats(); s.Calls != 1 || s.Packets != uint64(n) {
		t.Fatalf("stats %+v: want the r1 run sent alone", s)
	}
	c.Release()
	if s := c.Stats(); s.Calls != 2 || s.Packets != uint64(n+3) || s.Segmented != uint64(n+3) {
		t.Fatalf("stats %+v: want both runs whole, each one segmented write", s)
	}
	read(t, r1, n)
	read(t, r2, 3)
}

// Packets too big to be segments on a 1500-byte path go out one by one,
// and GSO stays on.
func TestBigPacketsAreNotSegmented(t *testing.T) {
	c := New(listen(t))
	if !c.out.GSO() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	r := listen(t)
	c.Hold()
	for range 2 {
		_, _ = c.WriteTo(bytes.Repeat([]byte{'z'}, udpbatch.MaxSegmentSize+1), r.LocalAddr())
	}
	c.Release()
	if s := c.Stats(); s.Segmented != 0 || s.Packets != 2 || s.GSOOff != 0 || !c.out.GSO() {
		t.Fatalf("stats %+v", s)
	}
	read(t, r, 2)
}
