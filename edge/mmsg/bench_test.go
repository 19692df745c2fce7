package mmsg

import (
	"net"
	"testing"
)

// BenchmarkFanout sends one 1100-byte packet to each of 200 loopback
// sockets per op, the way an SFU fans one packet out, packet by packet
// (sendto) and held (sendmmsg). Compare ns/op between the two:
//
//	go test -run '^$' -bench Fanout -benchmem ./edge/mmsg
func BenchmarkFanout(b *testing.B) {
	const subs = 200
	var dsts []net.Addr
	for range subs {
		r := listen(b)
		if err := r.SetReadBuffer(1 << 20); err != nil {
			b.Fatal(err)
		}
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := r.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		dsts = append(dsts, r.LocalAddr())
	}
	p := make([]byte, 1100)
	for _, held := range []bool{false, true} {
		name := "sendto"
		if held {
			name = "sendmmsg"
		}
		b.Run(name, func(b *testing.B) {
			c := New(listen(b))
			b.ReportAllocs()
			for b.Loop() {
				if held {
					c.Hold()
				}
				for _, d := range dsts {
					_, _ = c.WriteTo(p, d)
				}
				if held {
					c.Release()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/pkt")
		})
	}
}

// BenchmarkHeldWrite is the media socket's part of a fan-out alone: one
// 1100-byte packet to each of 200 destinations, copied in by WriteTo
// inside a hold, or written in place into a Batch's slots (nobody reads
// them; the kernel drops what overflows). It shows neither path allocates
// per packet:
//
//	go test -run '^$' -bench HeldWrite -benchmem ./edge/mmsg
func BenchmarkHeldWrite(b *testing.B) {
	const subs = 200
	var dsts []*net.UDPAddr
	for range subs {
		dsts = append(dsts, listen(b).LocalAddr().(*net.UDPAddr))
	}
	p := make([]byte, 1100)
	b.Run("WriteTo", func(b *testing.B) {
		c := New(listen(b))
		b.ReportAllocs()
		for b.Loop() {
			c.Hold()
			for _, d := range dsts {
				_, _ = c.WriteTo(p, d)
			}
			c.Release()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/pkt")
	})
	b.Run("Batch", func(b *testing.B) {
		c := New(listen(b))
		batch := c.NewBatch()
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range dsts {
				batch.Commit(copy(batch.Next(d.AddrPort()), p))
			}
			batch.Send()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/pkt")
	})
}
