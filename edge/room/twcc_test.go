package room

import (
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spacecast/spacecast/edge/bwe"
)

// TestBandwidthSource: the estimate layers are chosen with is the client's
// REMB until the subscriber negotiates transport-cc, then the edge's own
// estimator (its start value before any feedback), and once feedback
// arrived REMB no longer counts.
func TestBandwidthSource(t *testing.T) {
	sub, _ := layeredSubscriber(t)
	remb, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 150_000, SSRCs: []uint32{1}}})
	d := sub.downs["TR_1"]
	d.handleRTCP(remb, nil, make([]byte, 1500))
	if got := sub.bandwidth(); got != 150_000 {
		t.Fatalf("REMB only: bandwidth %d, want REMB's 150000", got)
	}
	sub.tcc.Store(true)
	if got := sub.bandwidth(); got != bwe.DefaultInitial {
		t.Fatalf("transport-cc negotiated, no feedback: bandwidth %d, want the start value %d", got, bwe.DefaultInitial)
	}
	rec := twcc.NewRecorder(1)
	rec.Record(1, 0, 1000)
	sub.transportFeedback(feedback(t, rec))
	if !sub.twcc.Load() {
		t.Fatal("feedback not taken")
	}
	remb, _ = rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 10e6, SSRCs: []uint32{1}}})
	d.handleRTCP(remb, nil, make([]byte, 1500))
	if got, want := sub.bandwidth(), sub.bwe.Estimate().Target; got != want || got == 10e6 {
		t.Fatalf("after feedback: bandwidth %d, want the estimator's %d", got, want)
	}
	sub.transportFeedback([]byte{0x8f, 205, 0, 1, 0, 0, 0, 0})
	if v := counter(t, sub.room.mgr.metrics.feedbackMalformed); v != 1 {
		t.Fatalf("malformed feedback counted %v times", v)
	}
}

// TestTransportFeedbackDrivesLayer: what the subscriber's feedback reports
// moves its layer. A path that loses half of what the edge sends brings
// the estimate down and the subscriber to the lowest layer, and the drop
// wakes the layer choice at once rather than at the next tick.
func TestTransportFeedbackDrivesLayer(t *testing.T) {
	sub, d := layeredSubscriber(t)
	sub.tcc.Store(true)
	sub.allocate()
	if got := d.down.Target(); got != 1 {
		t.Fatalf("layer %d at the start value (1 Mbit/s), want 1", got)
	}
	start := sub.room.mgr.now()
	now := start
	sub.room.mgr.clock = func() int64 { return now }
	rec := twcc.NewRecorder(1)
	seq := uint16(0)
	woken := false
	for step := 0; step < 200 && sub.bwe.Estimate().Target > 300_000; step++ {
		// 50 ms of 1 Mbit/s in 1200-byte packets; every other one lost.
		var arrived []uint16
		for i := 0; i < 5; i++ {
			sub.bwe.Sent(seq, 1200, now, 0)
			if seq%2 == 0 {
				arrived = append(arrived, seq)
			}
			seq++
			now += int64(10 * time.Millisecond)
		}
		for _, s := range arrived {
			rec.Record(1, s, now/1000)
		}
		sub.transportFeedback(feedback(t, rec))
		if len(sub.wake) > 0 {
			woken = true
			sub.mu.Lock()
			sub.mbox = nil
			sub.mu.Unlock()
			<-sub.wake
			sub.reallocating.Store(false)
		}
	}
	if est := sub.bwe.Estimate(); est.Target > 300_000 {
		t.Fatalf("estimate %d bit/s after 10 s at 50 %% loss (%+v)", est.Target, est)
	}
	if !woken {
		t.Fatal("the drop did not wake the layer choice")
	}
	now = start // the publisher's layers were recorded as active then
	sub.allocate()
	if got := d.down.Target(); got != 0 {
		t.Fatalf("layer %d at %d bit/s, want 0", got, sub.bandwidth())
	}
}

// feedback is the transport-cc packet rec builds now, marshalled.
func feedback(t *testing.T, rec *twcc.Recorder) []byte {
	t.Helper()
	pkts := rec.BuildFeedbackPacket()
	if len(pkts) == 0 {
		t.Fatal("nothing recorded")
	}
	b, err := pkts[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
