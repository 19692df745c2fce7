package room

import (
	"encoding/json"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

func jsonCandidate(c webrtc.ICECandidateInit) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// route delivers pkt from `from` (nil: the server) to dest identities, or to
// everyone else when dest is empty. Hidden participants receive data too.
// The packet goes to the room's other edges too, which deliver it to
// their own participants.
func (r *Room) route(from *Participant, pkt *livekit.DataPacket, kind livekit.DataPacket_Kind, dest []string) {
	//lint:ignore SA1019 livekit-client still sends and reads DataPacket.kind
	pkt.Kind = kind
	b, err := proto.Marshal(pkt)
	if err != nil {
		return
	}
	r.deliver(from, b, kind, dest)
	r.spanSend(spanData, b)
}

// deliver sends an encoded data packet to this edge's participants: dest
// identities, or everyone but from when dest is empty.
func (r *Room) deliver(from *Participant, b []byte, kind livekit.DataPacket_Kind, dest []string) {
	r.mu.Lock()
	ps := r.participantsLocked()
	r.mu.Unlock()
	var want map[string]bool
	if len(dest) > 0 {
		want = make(map[string]bool, len(dest))
		for _, d := range dest {
			want[d] = true
		}
	}
	for _, p := range ps {
		if p == from || (want != nil && !want[p.identity]) {
			continue
		}
		p.sendData(kind, b)
	}
}

// SendData sends a server data packet (RoomService.SendData).
func (r *Room) SendData(pkt *livekit.DataPacket, kind livekit.DataPacket_Kind, dest []string) {
	r.route(nil, pkt, kind, dest)
}
