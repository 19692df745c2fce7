package turn

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/spacecast/spacecast/internal/turncred"
)

// FuzzScreen: every STUN message reaches screen before pion, and TCP
// streams reach the frame parser of sniffConn.
func FuzzScreen(f *testing.F) {
	user, pass := turncred.Mint(testSecret, "fuzz", time.Unix(1<<40, 0))
	m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		xorPeer{&stun.XORMappedAddress{IP: []byte{10, 0, 0, 1}, Port: 9}}, channelNumber(0x4000),
		stun.NewUsername(user), stun.NewRealm(DefaultRealm), stun.NewNonce("n"),
		stun.NewLongTermIntegrity(user, DefaultRealm, pass), stun.Fingerprint)
	f.Add(m.Raw)
	f.Add([]byte{0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0})
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	pol, err := newPolicy(nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{policy: pol, m: newMetrics(), keys: newKeyring([]string{testSecret}, time.Now)}
	f.Fuzz(func(t *testing.T, b []byte) {
		s.screen(b, netip.MustParseAddrPort("127.0.0.1:1"), nil)
		c := &sniffConn{s: s}
		c.feed(b)
		c.feed(b)
		if len(c.pending) > maxFrame {
			t.Fatalf("pending grew to %d", len(c.pending))
		}
		// Nothing is lost or invented: what is not pending is ready (no
		// reply function can drop a frame here: replies go nowhere, and
		// only a verified ChannelBind to a denied peer is dropped).
		if len(c.ready)+len(c.pending) > 2*len(b) {
			t.Fatalf("%d ready + %d pending from 2×%d bytes", len(c.ready), len(c.pending), len(b))
		}
	})
}
