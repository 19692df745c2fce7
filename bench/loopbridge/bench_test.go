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
	svc, wg := echoUDPB(b)
	defer wg()
	port := portOf(svc.LocalAddr())
	br, err := New(Config{Ports: []Port{{"udp", port}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := newFakeHost()
	if err := br.Add("a", h); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- br.Run(b.Context()) }()
	defer func() { _ = br.Close(); <-done }()
	h.mu.Lock()
	in := h.udp[svc.LocalAddr().String()]
	h.mu.Unlock()
	for _, bc := range []struct {
		name, to string
	}{{"bridged", in}, {"direct", svc.LocalAddr().String()}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			to, _ := net.ResolveUDPAddr("udp4", bc.to)
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

// echoUDPB is a plain echo service for the benchmark; the returned func
// stops it and waits.
func echoUDPB(b *testing.B) (*net.UDPConn, func()) {
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
	return pc, func() { pc.Close(); <-done }
}
