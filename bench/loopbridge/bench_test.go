package loopbridge

import (
	"net"
	"testing"
	"time"
)

// BenchmarkUDPRoundTrip: one 1,200-byte packet through the bridge to an
// echo service and back (two relayed packets per op, each one extra
// userspace hop), against the same exchange with the service directly.
func BenchmarkUDPRoundTrip(b *testing.B) {
	svc := echoUDPB(b)
	_, h := started(b, Config{Ports: []Port{{"udp", portOf(svc.LocalAddr())}}})
	for _, bc := range []struct {
		name, to string
	}{{"bridged", h.inside(b, "udp", svc.LocalAddr().String())}, {"direct", svc.LocalAddr().String()}} {
		b.Run(bc.name, func(b *testing.B) {
			c := udpClient(b)
			to, err := net.ResolveUDPAddr("udp4", bc.to)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 1200)
			buf := make([]byte, 2048)
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := c.WriteToUDP(msg, to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.ReadFromUDP(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// echoUDPB is a plain echo service for the benchmark (echoUDP's answers
// allocate, which ReportAllocs would count); it stops when the benchmark
// ends.
func echoUDPB(b *testing.B) *net.UDPConn {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	b.Cleanup(func() { pc.Close(); <-done })
	return pc
}
