package mmsg

import (
	"bytes"
	"net"
	"testing"
)

// fill writes n bytes of b into the batch's next slot to r.
func fill(bt *Batch, r *net.UDPConn, b byte, n int) {
	slot := bt.Next(r.LocalAddr().(*net.UDPAddr).AddrPort())
	bt.Commit(copy(slot, bytes.Repeat([]byte{b}, n)))
}

// A Batch holds what is written into its slots until Send, sends runs to
// one destination segmented like held writes, and is reusable afterwards;
// a Next without Commit sends nothing.
func TestBatchSendsWhatWasCommitted(t *testing.T) {
	c := New(listen(t))
	r1, r2 := listen(t), listen(t)
	b := c.NewBatch()
	fill(b, r1, 'a', 100)
	fill(b, r1, 'b', 100)
	fill(b, r1, 'c', 40)
	_ = b.Next(r2.LocalAddr().(*net.UDPAddr).AddrPort()) // abandoned
	fill(b, r2, 'd', 100)
	if b.Len() != 4 || c.Stats().Calls != 0 {
		t.Fatalf("holds %d, %+v: want 4 held, nothing sent", b.Len(), c.Stats())
	}
	b.Send()
	s := c.Stats()
	if s.Calls != calls(c, 1, 4) || s.Packets != 4 || s.Bytes != 340 {
		t.Fatalf("stats %+v: want 4 packets in one call", s)
	}
	if c.out.GSO() && s.Segmented != 3 {
		t.Fatalf("stats %+v: want r1's run segmented", s)
	}
	if got := sizes(t, r1, 3); got != "[a100 b100 c40]" {
		t.Fatalf("r1 got %s", got)
	}
	if got := sizes(t, r2, 1); got != "[d100]" {
		t.Fatalf("r2 got %s", got)
	}
	// Reused after Send; Send on an empty batch sends nothing.
	b.Send()
	fill(b, r2, 'e', 10)
	b.Send()
	if got := sizes(t, r2, 1); got != "[e10]" || c.Stats().Calls != calls(c, 2, 5) {
		t.Fatalf("after reuse: %s, %+v", got, c.Stats())
	}
}

// A full batch leaves as the next packet is written; a nearly full one
// leaves where a destination's run ends, keeping runs whole.
func TestBatchFullAndRuns(t *testing.T) {
	c := New(listen(t))
	r1, r2 := listen(t), listen(t)
	for _, r := range []*net.UDPConn{r1, r2} {
		if err := r.SetReadBuffer(1 << 20); err != nil {
			t.Fatal(err)
		}
	}
	b := c.NewBatch()
	n := Capacity - runRoom + 1
	for range n {
		fill(b, r1, 'x', 10)
	}
	if c.Stats().Calls != 0 {
		t.Fatalf("sent inside a run: %+v", c.Stats())
	}
	fill(b, r2, 'y', 10) // a new destination: the r1 run leaves first
	if s := c.Stats(); s.Packets != uint64(n) || b.Len() != 1 {
		t.Fatalf("stats %+v, holding %d: want the r1 run sent alone", s, b.Len())
	}
	for range Capacity {
		fill(b, r2, 'y', 10) // one run past Capacity: the full batch leaves
	}
	if s := c.Stats(); s.Packets != uint64(n+Capacity) || b.Len() != 1 {
		t.Fatalf("stats %+v, holding %d: want a full batch sent", s, b.Len())
	}
	b.Send()
	read(t, r1, n)
	read(t, r2, Capacity+1)
	if s := c.Stats(); s.Packets != uint64(n+Capacity+1) || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNoBatchWithoutUDPConn(t *testing.T) {
	c := New(struct{ net.PacketConn }{listen(t)})
	if b := c.NewBatch(); b != nil {
		t.Fatal("a plain PacketConn cannot batch")
	}
}
