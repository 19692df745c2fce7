package forward

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/bwe"
)

const ms = int64(1_000_000)

func TestResendBudget(t *testing.T) {
	var b resendBudget
	const rate = 80_000 // bits/s: 10 kB/s, 2 kB in the bucket
	if !b.allow(1500, ms, rate) || b.allow(1000, ms, rate) {
		t.Fatal("a full bucket of 2 kB should give 1500 bytes and then not 1000 more")
	}
	if !b.allow(500, ms, rate) {
		t.Fatal("the bucket's last 500 bytes refused")
	}
	if b.allow(100, 2*ms, rate) { // 10 bytes refilled in 1 ms
		t.Fatal("100 bytes given 1 ms after the bucket emptied")
	}
	if !b.allow(1000, 102*ms, rate) { // 1 kB refilled in 100 ms
		t.Fatal("1000 bytes refused 100 ms later")
	}
}

// A subscriber that NACKs everything it was sent gets retransmissions up
// to its budget's bucket, not all of them; a sink without an estimator has
// no budget.
func TestRetransmissionsWithinTheBudget(t *testing.T) {
	for _, withBWE := range []bool{true, false} {
		p := newPath(t, 1, webrtc.MimeTypeVP8)
		if withBWE {
			est, err := bwe.New(bwe.Config{Min: 64_000, Initial: 64_000})
			if err != nil {
				t.Fatal(err)
			}
			p.sinks[0].bwe = est // 0.3 of 64 kbit/s is under the floor: 64 kbit/s, 1,600 bytes in the bucket
		}
		d, w := p.downs[0], p.ws[0]
		p.now = ms
		for i := 0; i < 160; i++ {
			p.forward(vp8Frame(uint16(100+i), uint32(i)*3000, i == 0))
		}
		sent := len(w.pkts)
		size := 0
		for _, pk := range w.pkts {
			size += pk.MarshalSize()
		}
		for i := 0; i < sent; i += 17 {
			d.HandleNACK(w.pkts[i].SequenceNumber, 0xffff, make([]byte, 1500), p.now, 0)
		}
		p.sinks[0].Flush(nil)
		resent := len(w.pkts) - sent
		st := d.fwd.Stats()
		if withBWE {
			if resent == 0 || resent >= sent || st.ResendsOverBudget == 0 {
				t.Fatalf("with a 64 kbit/s estimate: %d of %d resent (%d bytes sent), %d over budget", resent, sent, size, st.ResendsOverBudget)
			}
		} else if resent != sent || st.ResendsOverBudget != 0 {
			t.Fatalf("without an estimator: %d of %d resent, %d over budget", resent, sent, st.ResendsOverBudget)
		}
	}
}
