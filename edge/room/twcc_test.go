package room

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"

	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// TestTWCCEstimateDrivesLayer: the edge's TWCC estimate reaches the down
// track with the feedback read and drives its layer; a REMB from the client
// that says otherwise no longer counts.
func TestTWCCEstimateDrivesLayer(t *testing.T) {
	tests := []struct {
		name      string
		est       uint64
		wantLayer func(int) bool
	}{
		{"low estimate: lowest layer", 200_000, func(l int) bool { return l == 0 }},
		{"high estimate: above the lowest", 5_000_000, func(l int) bool { return l > 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, d := layeredSubscriber(t)
			attrs := interceptor.Attributes{}
			rtc.SetEstimate(attrs, tt.est)
			feedback, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerCC{MediaSSRC: 1}})
			remb, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 10e6, SSRCs: []uint32{1}}})
			d.handleRTCP(feedback, attrs, make([]byte, 1500))
			d.handleRTCP(remb, nil, make([]byte, 1500))
			if got := sub.estimate.Load(); got != tt.est || !sub.twcc.Load() {
				t.Fatalf("subscriber estimate %d (twcc %v), want the TWCC estimate %d", got, sub.twcc.Load(), tt.est)
			}
			d.sel, _ = simulcast.NewSelector(simulcast.SelectorConfig{})
			sub.allocate()
			if got := d.down.Target(); !tt.wantLayer(got) {
				t.Fatalf("estimate %d bit/s: layer %d", tt.est, got)
			}
		})
	}
}

// TestREMBWithoutTWCC: a client that negotiated only REMB still drives the
// layer with it.
func TestREMBWithoutTWCC(t *testing.T) {
	sub, d := layeredSubscriber(t)
	remb, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 150_000, SSRCs: []uint32{1}}})
	d.handleRTCP(remb, nil, make([]byte, 1500))
	if got := sub.estimate.Load(); got != 150_000 || sub.twcc.Load() {
		t.Fatalf("estimate %d (twcc %v), want REMB's 150000", got, sub.twcc.Load())
	}
	d.sel, _ = simulcast.NewSelector(simulcast.SelectorConfig{})
	sub.allocate()
	if got := d.down.Target(); got != 0 {
		t.Fatalf("layer %d at 150 kbit/s, want 0", got)
	}
}
