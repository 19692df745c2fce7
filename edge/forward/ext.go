package forward

import "encoding/binary"

// The header extensions (RFC 8285, one-byte form) the edge writes itself
// into every packet to a subscriber that negotiated them: abs-send-time
// (the send time, 6.18 fixed-point seconds on the edge's clock; receivers'
// delay-based estimators read it) and transport-cc (the connection's
// transport-wide sequence number, draft-holmer-rmcat-transport-wide-cc-
// extensions-01 §2). The rewrite reserves the block with zero values; the
// sink fills them in as the packet leaves, so they tell the real send time
// and order. The publisher's own extensions are not forwarded.

// extIDs are a subscriber's negotiated extension ids (0: not negotiated).
type extIDs struct{ abs, tcc uint8 }

func (e extIDs) any() bool { return e.abs != 0 || e.tcc != 0 }

// size is the length of the extension block: the 4-byte profile header
// and the elements, padded to 32 bits.
func (e extIDs) size() int {
	n := 0
	if e.abs != 0 {
		n += 4 // id/len byte, 3 bytes of time
	}
	if e.tcc != 0 {
		n += 3 // id/len byte, 2 bytes of sequence number
	}
	if n == 0 {
		return 0
	}
	return 4 + (n+3)&^3
}

// write writes the block with zero values at b (at least size() long).
func (e extIDs) write(b []byte) {
	n := e.size()
	clear(b[:n])
	b[0], b[1] = 0xbe, 0xde // RFC 8285 §4.2
	binary.BigEndian.PutUint16(b[2:], uint16((n-4)/4))
	o := 4
	if e.abs != 0 {
		b[o] = e.abs<<4 | 2 // length - 1
		o += 4
	}
	if e.tcc != 0 {
		b[o] = e.tcc<<4 | 1
	}
}

// stamp fills in the block that write left in pkt: the send time now
// (nanoseconds on the media clock) and the transport-wide sequence number.
// A packet without the block is left alone, and stamp reports false: it
// does not use seq.
func (e extIDs) stamp(pkt []byte, now int64, seq uint16) bool {
	hl := rtpHeaderSize + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 == 0 || len(pkt) < hl+e.size() || pkt[hl] != 0xbe || pkt[hl+1] != 0xde {
		return false
	}
	o := hl + 4
	if e.abs != 0 {
		t := uint32(uint64(now) << 18 / 1e9) // 6.18 fixed point, low 24 bits
		pkt[o+1], pkt[o+2], pkt[o+3] = byte(t>>16), byte(t>>8), byte(t)
		o += 4
	}
	if e.tcc != 0 {
		binary.BigEndian.PutUint16(pkt[o+1:], seq)
	}
	return true
}
