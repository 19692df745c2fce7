package udpbatch

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
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

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// modes are the two ways a Conn sends: batched system calls (Linux) and
// one write per datagram (elsewhere, and forced here with perPacket).
var modes = []struct {
	name string
	each bool
}{{"batched", false}, {"per-packet", true}}

func newConn(t testing.TB, each bool) *Conn {
	t.Helper()
	c, err := NewConn(listen(t))
	if err != nil {
		t.Fatal(err)
	}
	if each {
		c.each = true
	} else if !c.Batched() {
		t.Skip("no batched system calls on this system")
	}
	return c
}

// put commits p to to.
func put(b *Batch, p []byte, to netip.AddrPort) { b.Commit(copy(b.Next(), p), to) }

// read reads n datagrams from r (each within a deadline).
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
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, fmt.Sprintf("%c%d", buf[0], k))
	}
	return got
}

func TestSendDeliversEveryDatagramInOrder(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newConn(t, m.each)
			c.DisableGSO()
			rs := []*net.UDPConn{listen(t), listen(t), listen(t)}
			b := NewBatch(16, 1500)
			for i := range 9 {
				put(b, bytes.Repeat([]byte{byte('a' + i)}, 10+i), addr(rs[i%3]))
			}
			res := c.Send(b)
			calls := uint64(1)
			if m.each {
				calls = 9
			}
			want := Result{Packets: 9, Bytes: 9*10 + 36, Calls: calls}
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			if b.Len() != 0 {
				t.Fatalf("batch holds %d after Send", b.Len())
			}
			for i, r := range rs {
				want := fmt.Sprintf("[%c%d %c%d %c%d]", 'a'+i, 10+i, 'a'+i+3, 13+i, 'a'+i+6, 16+i)
				if got := fmt.Sprint(read(t, r, 3)); got != want {
					t.Fatalf("receiver %d got %s, want %s", i, got, want)
				}
			}
		})
	}
}

// A datagram the kernel refuses (an IPv6 destination on an IPv4 socket)
// is counted and does not stop the rest of its batch.
func TestRefusedDatagramDoesNotSinkItsBatch(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newConn(t, m.each)
			r := listen(t)
			b := NewBatch(8, 1500)
			put(b, []byte("a"), addr(r))
			put(b, []byte("x"), netip.MustParseAddrPort("[::1]:9"))
			put(b, []byte("b"), addr(r))
			res := c.Send(b)
			if res.Failed != 1 || res.Packets != 2 || res.Bytes != 2 {
				t.Fatalf("result %+v, want 1 failed and 2 sent", res)
			}
			if got := fmt.Sprint(read(t, r, 2)); got != "[a1 b1]" {
				t.Fatalf("got %s", got)
			}
		})
	}
}

// A reader that reads into free slots keeps some and drops others: the
// kept ones are sent, in order, and nothing is copied.
func TestCommitSlotSkipsWhatWasNotKept(t *testing.T) {
	c := newConn(t, true)
	r := listen(t)
	b := NewBatch(4, 64)
	put(b, []byte("a"), addr(r))
	for i := 1; i < 4; i++ {
		copy(b.Slot(i), []byte{byte('a' + i)})
	}
	kept := &b.Slot(3)[0]
	b.CommitSlot(3, 1, addr(r)) // slot 2 dropped, slot 1 too
	if b.Len() != 2 || &b.Datagram(1)[0] != kept || string(b.Datagram(1)) != "d" {
		t.Fatalf("len %d, datagram 1 %q: want slot 3's buffer moved to 1", b.Len(), b.Datagram(1))
	}
	c.Send(b)
	if got := fmt.Sprint(read(t, r, 2)); got != "[a1 d1]" {
		t.Fatalf("got %s", got)
	}
}

func TestCommitUnmapsIPv4(t *testing.T) {
	b := NewBatch(1, 8)
	b.Commit(0, netip.MustParseAddrPort("[::ffff:127.0.0.1]:5"))
	if got := b.To(0); got != netip.MustParseAddrPort("127.0.0.1:5") {
		t.Fatalf("To = %v", got)
	}
}

func TestCoalesce(t *testing.T) {
	x := netip.MustParseAddrPort("127.0.0.1:1")
	y := netip.MustParseAddrPort("127.0.0.1:2")
	type pkt struct {
		to  netip.AddrPort
		len int
	}
	run := func(to netip.AddrPort, n, size int) []pkt {
		var out []pkt
		for range n {
			out = append(out, pkt{to, size})
		}
		return out
	}
	cases := []struct {
		name string
		gso  bool
		pkts []pkt
		want string // count/seg per message
	}{
		{"off", false, []pkt{{x, 100}, {x, 100}}, "[1/0 1/0]"},
		{"a frame: equal, then a shorter last", true, []pkt{{x, 100}, {x, 100}, {x, 40}, {x, 100}}, "[3/100 1/0]"},
		{"another destination ends a run", true, []pkt{{x, 100}, {y, 100}, {x, 100}, {x, 100}}, "[1/0 1/0 2/100]"},
		{"a longer datagram ends a run", true, []pkt{{x, 100}, {x, 100}, {x, 120}}, "[2/100 1/0]"},
		{"too big to be a segment", true, []pkt{{x, MaxSegmentSize + 1}, {x, MaxSegmentSize + 1}}, "[1/0 1/0]"},
		{"at most 64 segments", true, run(x, 70, 10), "[64/10 6/10]"},
		{"at most 64 KiB", true, run(x, 50, 1400), "[46/1400 4/1400]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBatch(len(tc.pkts), 1500)
			for _, p := range tc.pkts {
				b.Commit(p.len, p.to)
			}
			b.coalesce(tc.gso)
			var got []string
			for _, m := range b.msgs {
				got = append(got, fmt.Sprintf("%d/%d", m.count, m.seg))
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("messages %v, want %s", got, tc.want)
			}
		})
	}
}

func TestRunsToOneDestinationAreSegmented(t *testing.T) {
	c := newConn(t, false)
	if !c.GSO() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	r1, r2 := listen(t), listen(t)
	b := NewBatch(16, 1500)
	for _, p := range []struct {
		r    *net.UDPConn
		c    byte
		size int
	}{{r1, 'a', 100}, {r1, 'b', 100}, {r1, 'c', 40}, {r1, 'd', 100}, {r2, 'e', 100}, {r1, 'f', 100}, {r1, 'g', 120}} {
		put(b, bytes.Repeat([]byte{p.c}, p.size), addr(p.r))
	}
	res := c.Send(b)
	if want := (Result{Packets: 7, Bytes: 660, Calls: 1, Segmented: 3}); res != want {
		t.Fatalf("result %+v, want %+v (a-b-c segmented)", res, want)
	}
	if got := fmt.Sprint(read(t, r1, 6)); got != "[a100 b100 c40 d100 f100 g120]" {
		t.Fatalf("r1 got %s", got)
	}
	if got := fmt.Sprint(read(t, r2, 1)); got != "[e100]" {
		t.Fatalf("r2 got %s", got)
	}
}
