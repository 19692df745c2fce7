package turn

import (
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// BenchmarkRelayRoundTrip relays one packet client→peer and one back per
// op through the channel fast path (report allocs: the path allocates
// nothing per packet; the test's own reads and writes allocate nothing).
func BenchmarkRelayRoundTrip(b *testing.B) { benchRelayRoundTrip(b, nil) }

// BenchmarkRelayRoundTripPortable is the same through the portable data
// path (pion's loops), what systems other than Linux get.
func BenchmarkRelayRoundTripPortable(b *testing.B) {
	benchRelayRoundTrip(b, []Option{withPortablePath()})
}

func benchRelayRoundTrip(b *testing.B, opts []Option) {
	ts := startServerOpts(b, func(c *Config) { c.UDPSockets = 1 }, opts)
	user, pass := creds(testSecret, "bench", time.Hour)
	c := newRawClient(b, ts.udp, user, pass)
	if code := c.allocate(); code != 0 {
		b.Fatalf("allocate: %v", code)
	}
	peer, peerAddr := udpPeer(b)
	if code := c.peerRequest(stun.MethodChannelBind, peerAddr, channelNumber(0x4000)); code != 0 {
		b.Fatalf("ChannelBind: %v", code)
	}
	_ = peer.SetReadDeadline(time.Time{})
	_ = c.conn.SetReadDeadline(time.Time{})
	msg := append([]byte{0x40, 0x00, 0, 200}, make([]byte, 200)...)
	payload := make([]byte, 200)
	buf := make([]byte, 2048)
	relay := c.relay
	b.SetBytes(400)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(payload, relay); err != nil {
			b.Fatal(err)
		}
		if _, err := c.conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
