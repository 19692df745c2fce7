package room

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// rtpWriter records what pion's write path was given.
type rtpWriter struct{ pkts []rtp.Packet }

func (w *rtpWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.pkts = append(w.pkts, rtp.Packet{Header: *h, Payload: append([]byte(nil), p...)})
	return len(p), nil
}
func (w *rtpWriter) Write(b []byte) (int, error) { return len(b), nil }

// A subscriber's NACK is answered from the packet cache. With RTX
// negotiated the retransmission goes on the RTX stream (RFC 4588 §4: RTX
// SSRC and payload type, the RTX stream's own consecutive sequence numbers,
// the original sequence number in front of the original payload, same
// timestamp) and stays out of the media stream's sender-report counts;
// without RTX it goes again on the media stream. Both write paths.
func TestRetransmissionsGoOnRTX(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rtx    bool
		direct bool
	}{{"rtx, pion's path", true, false}, {"rtx, direct", true, true}, {"no rtx", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			mp := newMediaPath(t, 1)
			d, w := mp.downs[0], &rtpWriter{}
			b := &binding{w: w, ssrc: 1234, pt: 96, clockRate: 90000}
			if tc.rtx {
				b.rtxSSRC, b.rtxPT = 5678, 97
			}
			d.bound.Store(b)
			var fd *fakeDirect
			if tc.direct {
				fd = &fakeDirect{ready: true}
				mp.subs[0].direct = fd
			}
			for i := 0; i < 4; i++ {
				mp.forward(vp8Packet(uint16(100+i), uint32(i)*3000, i == 0))
			}
			sent := func() []rtp.Packet {
				if fd == nil {
					return w.pkts
				}
				var out []rtp.Packet
				for _, h := range fd.sent {
					out = append(out, rtp.Packet{Header: h})
				}
				return out
			}
			media := sent()
			if len(media) != 4 {
				t.Fatalf("%d packets forwarded", len(media))
			}
			srPackets := d.srPackets.Load()
			// The subscriber lost its 2nd and 3rd packets.
			lost := media[1].SequenceNumber
			nack := &rtcp.TransportLayerNack{MediaSSRC: 1234, Nacks: []rtcp.NackPair{{PacketID: lost, LostPackets: 1}}}
			raw, err := nack.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			d.handleRTCP(raw, nil, make([]byte, 1500))
			mp.subs[0].drain(nil)
			all := sent()
			re := all[4:]
			if len(re) != 2 {
				t.Fatalf("%d retransmissions, want 2", len(re))
			}
			for i, p := range re {
				orig := media[1+i]
				if p.Timestamp != orig.Timestamp {
					t.Errorf("retransmission %d: timestamp %d, want %d", i, p.Timestamp, orig.Timestamp)
				}
				if !tc.rtx {
					if p.SSRC != 1234 || p.PayloadType != 96 || p.SequenceNumber != orig.SequenceNumber {
						t.Errorf("retransmission %d without RTX: %+v", i, p.Header)
					}
					continue
				}
				if p.SSRC != 5678 || p.PayloadType != 97 {
					t.Errorf("retransmission %d: ssrc %d pt %d, want the RTX stream's", i, p.SSRC, p.PayloadType)
				}
				if i > 0 && p.SequenceNumber != re[0].SequenceNumber+uint16(i) {
					t.Errorf("RTX sequence numbers %d then %d", re[0].SequenceNumber, p.SequenceNumber)
				}
				if fd == nil {
					if osn := binary.BigEndian.Uint16(p.Payload); osn != orig.SequenceNumber {
						t.Errorf("retransmission %d: OSN %d, want %d", i, osn, orig.SequenceNumber)
					}
				}
			}
			if tc.rtx && d.srPackets.Load() != srPackets {
				t.Errorf("RTX packets counted in the media stream's sender report: %d → %d", srPackets, d.srPackets.Load())
			}
		})
	}
}

// A new down track starts only once the subscriber's connection is up
// (media written before DTLS is lost, the keyframe with it), and then at
// once from the newest keyframe in the cache: its own layer's, else a lower
// layer's, switching up at the next keyframe it asks for.
func TestNewSubscriberStartsFromCachedKeyframe(t *testing.T) {
	cacheKeyframe := func(tr *PubTrack, q int) {
		for i := 0; i < 4; i++ {
			pkt := vp8Packet(uint16(1000+i), uint32(9000+3000*i), i == 0)
			p, err := tr.src.Parse(pkt, q, 0)
			if err != nil {
				t.Fatal(err)
			}
			tr.caches[q].StoreParsed(pkt, p.Header.Seq, p.Header.Timestamp, p.Keyframe)
		}
	}
	for _, tc := range []struct {
		name      string
		cached    []int // layers with a keyframe in the cache
		current   int   // the layer it starts on
		sent      int
		requested uint64 // keyframe requests for layer 2
	}{
		{"own layer cached", []int{0, 2}, 2, 4, 0},
		{"a lower layer cached", []int{0}, 0, 4, 1},
		{"nothing cached", nil, -1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, d := layeredSubscriber(t)
			w := &discard{}
			d.bound.Store(&binding{w: w, ssrc: 1, pt: 96})
			sub.inline.Store(true)
			sub.tags.Store(&map[uint32]*DownTrack{d.tag: d})
			for _, q := range tc.cached {
				cacheKeyframe(d.track, q)
			}
			sub.subConnected = false
			sub.selectLayer(d, true)
			if d.fwd.Target() != -1 || d.track.src.LayerStats(2, 0).KeyframeRequests != 0 {
				t.Fatalf("started before the connection was up: target %d", d.fwd.Target())
			}
			sub.subConnected = true
			sub.selectLayer(d, true)
			if d.fwd.Current() != tc.current || d.fwd.Target() != 2 {
				t.Fatalf("current layer %d, target %d; want %d, 2", d.fwd.Current(), d.fwd.Target(), tc.current)
			}
			if w.n != tc.sent {
				t.Fatalf("%d packets sent at once, want %d", w.n, tc.sent)
			}
			if got := d.track.src.LayerStats(2, 0).KeyframeRequests; got != tc.requested {
				t.Fatalf("%d keyframe requests for layer 2, want %d", got, tc.requested)
			}
		})
	}
}

// The round-trip time to a subscriber comes from its receiver reports
// (arrival − LSR − DLSR); reports on other streams, before any sender
// report, or that would give a negative time are ignored.
func TestRoundTripFromReceiverReports(t *testing.T) {
	mp := newMediaPath(t, 1)
	d := mp.downs[0]
	d.bound.Store(&binding{w: &rtpWriter{}, ssrc: 1234, pt: 96})
	sent := time.Unix(1_800_000_000, 0)
	lsr := uint32(ntpTime(sent) >> 16)
	at := sent.Add(130 * time.Millisecond)
	rr := func(ssrc, lsr, dlsr uint32) *rtcp.ReceiverReport {
		return &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: ssrc, LastSenderReport: lsr, Delay: dlsr}}}
	}
	d.roundTrip(rr(999, lsr, 0), at)
	d.roundTrip(rr(1234, 0, 0), at)
	d.roundTrip(rr(1234, lsr, 65536), at) // DLSR of 1 s: negative
	if got := mp.subs[0].rtt.Load(); got != 0 {
		t.Fatalf("rtt %v from reports that carry none", time.Duration(got))
	}
	d.roundTrip(rr(1234, lsr, 65536*50/1000), at) // held 50 ms at the subscriber
	got := time.Duration(mp.subs[0].rtt.Load())
	if got < 79*time.Millisecond || got > 81*time.Millisecond {
		t.Fatalf("rtt %v, want 80 ms", got)
	}
}
