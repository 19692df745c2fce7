package forward

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	dto "github.com/prometheus/client_model/go"

	"github.com/spacecast/spacecast/edge/bwe"
)

// The probes the estimator asks for go out with the media, as padding-only
// packets on the subscriber's RTX stream (RFC 4588; P bit, no payload, not
// even an original sequence number): the RTX stream's own consecutive
// sequence numbers, one transport-wide sequence number each, continuing
// the media's without a gap (a gap would read as loss). Without an RTX
// stream, or without transport-cc, nothing is probed. Both write paths.
func TestProbesGoAsRTXPadding(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rtx, direct bool
		tcc         uint8
		wantProbes  bool
	}{
		{"rtx, pion's path", true, false, 5, true},
		{"rtx, direct", true, true, 5, true},
		{"no rtx", false, false, 5, false},
		{"no transport-cc", true, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPath(t, 1, webrtc.MimeTypeVP8)
			s, d, w := p.sinks[0], p.downs[0], p.ws[0]
			est, err := bwe.New(bwe.Config{})
			if err != nil {
				t.Fatal(err)
			}
			s.bwe, s.pad = est, make([]byte, padPacketSize)
			s.metrics = discardMetrics()
			o := Output{Writer: w, SSRC: 1234, PayloadType: 96, ClockRate: 90000, TransportCCID: tc.tcc}
			if tc.rtx {
				o.RTXSSRC, o.RTXPayloadType = 5678, 97
			}
			d.Bind(o)
			var fd *fakeDirect
			if tc.direct {
				fd = &fakeDirect{ready: true}
				s.direct = fd
			}
			for i := 0; i < 10; i++ {
				p.now = int64(i) * 33_000_000
				p.forward(vp8Frame(uint16(100+i), uint32(i)*3000, i == 0))
			}
			sent := w.pkts
			if fd != nil {
				sent = fd.sent
			}
			var media, pads []rtp.Packet
			var tseq []uint16
			for _, pkt := range sent {
				if e := pkt.GetExtension(tc.tcc); tc.tcc != 0 {
					if len(e) != 2 {
						t.Fatalf("packet %+v without a transport-wide sequence number", pkt.Header)
					}
					tseq = append(tseq, binary.BigEndian.Uint16(e))
				}
				if pkt.SSRC == 5678 {
					pads = append(pads, pkt)
				} else {
					media = append(media, pkt)
				}
			}
			if len(media) != 10 {
				t.Fatalf("%d media packets, want 10", len(media))
			}
			if !tc.wantProbes {
				if len(pads) != 0 {
					t.Fatalf("%d probe packets, want none", len(pads))
				}
				return
			}
			if len(pads) == 0 {
				t.Fatal("no probe padding sent")
			}
			for i, pad := range pads {
				if !pad.Padding || pad.PayloadType != 97 {
					t.Fatalf("probe %d: %+v, want padding on the RTX payload type", i, pad.Header)
				}
				if len(pad.Payload) != 0 || pad.PaddingSize == 0 {
					t.Fatalf("probe %d: payload %d bytes, padding %d", i, len(pad.Payload), pad.PaddingSize)
				}
				if i > 0 && pad.SequenceNumber != pads[i-1].SequenceNumber+1 {
					t.Fatalf("RTX sequence numbers %d then %d", pads[i-1].SequenceNumber, pad.SequenceNumber)
				}
			}
			for i := range tseq {
				if tseq[i] != uint16(i) {
					t.Fatalf("transport-wide sequence numbers %v: not consecutive from 0", tseq)
				}
			}
			var m dto.Metric
			if err := s.metrics.Probes.Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetCounter().GetValue(); int(got) != len(pads) {
				t.Fatalf("probe counter %v, %d sent", got, len(pads))
			}
			if d.srPackets.Load() != 10 {
				t.Fatalf("sender reports count %d packets, want the 10 of the media stream", d.srPackets.Load())
			}
		})
	}
}
