package rtc

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// rtc.nodeIPs (1:1 NAT): the edge's host candidates carry the node IP
// instead of the interface's address.
func TestNodeIPsReplaceHostCandidates(t *testing.T) {
	const nodeIP = "203.0.113.7"
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	api, err := NewAPI(APIOptions{UDP: udp, Loopback: true, Interfaces: []string{"lo"}, NodeIPs: []string{nodeIP}, Role: Single})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("gathering did not complete")
	}
	var cands []string
	for line := range strings.Lines(pc.LocalDescription().SDP) {
		if strings.HasPrefix(line, "a=candidate:") {
			cands = append(cands, strings.TrimSpace(line))
		}
	}
	if len(cands) == 0 {
		t.Fatal("no candidate gathered")
	}
	for _, c := range cands {
		if !strings.Contains(c, " "+nodeIP+" ") || strings.Contains(c, "127.0.0.1") {
			t.Errorf("candidate %q: want the node IP %s in place of the interface address", c, nodeIP)
		}
	}
}
