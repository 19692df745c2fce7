package udpbatch

import (
	"net/netip"
	"testing"
)

// BenchmarkSend sends one 1100-byte datagram to each of 200 loopback
// sockets per op (nobody reads them; the kernel drops what overflows),
// batched and one write per datagram, and five-packet runs per
// destination segmented. It shows that no path allocates per datagram:
//
//	go test -run '^$' -bench Send -benchmem ./internal/udpbatch
func BenchmarkSend(b *testing.B) {
	const subs = 200
	var dsts []netip.AddrPort
	for range subs {
		dsts = append(dsts, addr(listen(b)))
	}
	p := make([]byte, 1100)
	for _, bc := range []struct {
		name string
		each bool
		run  int
	}{{"sendmmsg", false, 1}, {"sendto", true, 1}, {"gso-runs-of-5", false, 5}} {
		b.Run(bc.name, func(b *testing.B) {
			c := newConn(b, bc.each)
			if bc.run > 1 && !c.GSO() {
				b.Skip("kernel without UDP_SEGMENT")
			}
			batch := NewBatch(128, 1500)
			b.ReportAllocs()
			for b.Loop() {
				for _, d := range dsts {
					for range bc.run {
						if batch.Full() {
							c.Send(batch)
						}
						batch.Commit(copy(batch.Next(), p), d)
					}
				}
				c.Send(batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs*bc.run), "ns/pkt")
		})
	}
}
