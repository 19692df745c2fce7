package relay

import "encoding/binary"

// Kind is why an RTP packet crosses a link: the relay counts the bytes it
// sends per layer and kind (Metrics.LayerBytesSent, LinkStats), so that
// what a link carries beyond one copy of the layers its subscribers need
// can be told apart.
type Kind uint8

// Kinds.
const (
	// KindMedia is a publisher's packet as it arrived (Sender.WriteRTP).
	KindMedia Kind = iota
	// KindPadding is a padding-only packet, a bandwidth probe
	// (Sender.WriteRTP tells them from media).
	KindPadding
	// KindRepair answers the subscribing edge's NACK (Sender.Repair).
	KindRepair
	// KindReplay is a layer that starts crossing: the cached keyframe and
	// what followed it, sent again (Sender.Replay).
	KindReplay
	// NumKinds is the number of kinds.
	NumKinds
)

var kindNames = [NumKinds]string{"media", "padding", "repair", "replay"}

// String is the kind's metric label.
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// paddingOnly reports whether the RTP packet pkt (RFC 3550 §5.1) carries
// no payload: its header, extensions and padding fill it.
func paddingOnly(pkt []byte) bool {
	if len(pkt) < 12 {
		return false
	}
	off := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension (§5.3.1)
		if len(pkt) < off+4 {
			return false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	payload := len(pkt) - off
	if pkt[0]&0x20 != 0 { // padding: its count in the last octet
		payload -= int(pkt[len(pkt)-1])
	}
	return payload <= 0
}
