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
