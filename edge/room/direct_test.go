package room

import (
	"log/slog"
	"testing"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/mmsg"
)

// fakeDirect stands in for an srtpout.Sender: ready on UDP pairs once
// connected, recording what it is asked to send.
type fakeDirect struct {
	ready, used bool
	sent        []rtp.Header
}

func (f *fakeDirect) Connected() error { return nil }
func (f *fakeDirect) SetPair(p *webrtc.ICECandidatePair) error {
	f.ready = p != nil && p.Local.Protocol == webrtc.ICEProtocolUDP
	return nil
}
func (f *fakeDirect) Ready() bool { return f.ready }
func (f *fakeDirect) Used() bool  { return f.used }
func (f *fakeDirect) WriteRTP(pkt []byte, hdr *rtp.Header, _ *mmsg.Batch) error {
	// As srtpout.Sender: hdr receives pkt's header.
	if _, err := hdr.Unmarshal(pkt); err != nil {
		return err
	}
	f.used = true
	f.sent = append(f.sent, *hdr)
	return nil
}

func icePair(proto webrtc.ICEProtocol) *webrtc.ICECandidatePair {
	return &webrtc.ICECandidatePair{
		Local:  &webrtc.ICECandidate{Protocol: proto, Address: "127.0.0.1", Port: 7882},
		Remote: &webrtc.ICECandidate{Protocol: proto, Address: "127.0.0.2", Port: 5000},
	}
}

// A subscriber whose RTP the edge sent itself and whose connection moves
// to ICE-TCP (pion's path, whose SRTP state missed those packets) is asked
// to reconnect in full; one that never used the direct path, or moves
// between UDP pairs, is left alone.
func TestRouteDirectReconnectsWhenLeavingUDP(t *testing.T) {
	newSub := func(f *fakeDirect) *Participant {
		return &Participant{direct: f, stop: make(chan struct{}), log: slog.New(slog.DiscardHandler)}
	}
	closed := func(p *Participant) bool {
		select {
		case <-p.stop:
			return true
		default:
			return false
		}
	}

	unused := newSub(&fakeDirect{})
	unused.routeDirect(icePair(webrtc.ICEProtocolUDP))
	unused.routeDirect(icePair(webrtc.ICEProtocolTCP))
	if closed(unused) {
		t.Fatal("closed a subscriber the edge never sent to itself")
	}

	f := &fakeDirect{}
	used := newSub(f)
	used.routeDirect(icePair(webrtc.ICEProtocolUDP))
	f.used = true
	used.routeDirect(icePair(webrtc.ICEProtocolUDP)) // an ICE restart onto UDP
	if closed(used) {
		t.Fatal("closed on a move between UDP pairs")
	}
	used.routeDirect(icePair(webrtc.ICEProtocolTCP))
	if !closed(used) {
		t.Fatal("not closed after moving to ICE-TCP")
	}
	if a := livekit.LeaveRequest_Action(used.action.Load()); a != livekit.LeaveRequest_RECONNECT {
		t.Fatalf("leave action %v, want RECONNECT", a)
	}
	if r := livekit.DisconnectReason(used.reason.Load()); r != livekit.DisconnectReason_STATE_MISMATCH {
		t.Fatalf("reason %v", r)
	}
}

// DownTrack.send takes the direct path when it is ready, with the
// subscriber's SSRC and payload type written into the packet; otherwise,
// and always for RED turned into plain Opus, pion's writer.
func TestDownTrackSendsDirect(t *testing.T) {
	mp := newMediaPath(t, 1)
	f := &fakeDirect{}
	mp.subs[0].direct = f
	mp.forward(vp8Packet(1, 3000, true))
	if f.sent != nil || mp.ws[0].n != 1 {
		t.Fatalf("direct not ready: %d direct, %d through pion, want pion", len(f.sent), mp.ws[0].n)
	}
	_ = f.SetPair(icePair(webrtc.ICEProtocolUDP))
	mp.forward(vp8Packet(2, 6000, false))
	if len(f.sent) != 1 || mp.ws[0].n != 1 {
		t.Fatalf("direct ready: %d direct, %d through pion, want direct", len(f.sent), mp.ws[0].n)
	}
	if h := f.sent[0]; h.SSRC != 1234 || h.PayloadType != 100 || h.SequenceNumber != mp.ws[0].last.SequenceNumber+1 {
		t.Fatalf("direct header %+v: want the subscriber's SSRC 1234, PT 100 and the next sequence number", h)
	}
	// The sender reports count it: two packets, the newest's RTP time.
	d := mp.downs[0]
	if n, ts := d.srPackets.Load(), uint32(d.srLast.Load()>>32); n != 2 || ts != f.sent[0].Timestamp {
		t.Fatalf("sender report state: %d packets, RTP time %d; want 2 and %d", n, ts, f.sent[0].Timestamp)
	}
	if o, want := d.srOctets.Load(), uint32(len(vp8Packet(1, 3000, true))-12+len(vp8Packet(2, 6000, false))-12); o != want {
		t.Fatalf("sender report octets %d, want %d", o, want)
	}
	b := *d.bound.Load()
	b.redToOpus = true
	d.bound.Store(&b)
	mp.forward(vp8Packet(3, 9000, false))
	if len(f.sent) != 1 || mp.ws[0].n != 2 {
		t.Fatalf("RED to Opus: %d direct, %d through pion, want pion", len(f.sent), mp.ws[0].n)
	}
}
