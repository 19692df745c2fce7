package bwe

import (
	"encoding/binary"
	"fmt"

	"github.com/pion/rtcp"
)

// The transport-cc feedback format, draft-holmer-rmcat-transport-wide-cc-
// extensions-01 section 3.1:
//
//	RTCP header (FMT=15, PT=205), SSRC of packet sender, SSRC of media source
//	base sequence number (16) | packet status count (16)
//	reference time (24, ×64 ms) | feedback packet count (8)
//	packet status chunks (16 bits each), then receive deltas, then padding
//
// A run-length chunk (§3.1.3) is T=0, S (2 bits), run length (13 bits). A
// status vector chunk (§3.1.4) is T=1, S=0 and 14 one-bit symbols
// (0: not received, 1: received, small delta) or S=1 and 7 two-bit symbols.
// Symbols (§3.1.1): 00 not received, 01 received with a small delta (1
// byte, 0..63.75 ms), 10 received with a large or negative delta (2 bytes,
// signed), 11 reserved. Deltas are in 250 µs units (§3.1.5); the first is
// relative to the reference time, each next to the previous packet.
//
// Both decoders below walk a packet twice: the first pass checks that the
// statuses and deltas are all there, the second reports each status to a
// visitor. Nothing is reported for a malformed packet, and nothing is
// allocated: the work is bounded by the status count (at most 65,535).

const (
	symNotReceived = 0
	symSmallDelta  = 1
	symLargeDelta  = 2
	symReserved    = 3

	deltaUnit = 250_000        // ns, §3.1.5
	refUnit   = 64_000_000     // ns, §3.1 "reference time"
	tccHeader = 20             // RTCP header, two SSRCs, base, count, ref, fb count
	ptRTPFB   = 205            // RFC 4585 transport-layer feedback
	fmtTCC    = 15             // transport-cc
	maxRun    = 1<<13 - 1      // run length field
	vecBits   = 14             // status vector payload bits
	refMask   = 1<<24 - 1      // reference time field
	refSign   = 1 << 23        // sign bit of a 24-bit difference
	refWrap   = int64(1 << 24) // reference time period in units
)

// visitor receives a decoded feedback packet: begin once with the header
// fields, returning the reference time in ns on the receiver's (unwrapped)
// clock, then status once per packet in sequence order, with the arrival
// time (ns, receiver clock) of those received.
type visitor interface {
	begin(base uint16, ref uint32, fbCount uint8) int64
	status(seq uint16, received bool, arrival int64)
}

// decodeBytes decodes the wire form of one transport-cc feedback packet
// (the RTCP packet alone, not a compound).
func decodeBytes(b []byte, v visitor) error {
	if len(b) < tccHeader {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0]>>6 != 2 || b[0]&0x1f != fmtTCC || b[1] != ptRTPFB {
		return fmt.Errorf("%w: not transport-cc (%#x %d)", ErrMalformed, b[0], b[1])
	}
	end := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
	if end > len(b) || end < tccHeader {
		return fmt.Errorf("%w: length %d of %d bytes", ErrMalformed, end, len(b))
	}
	if b[0]&0x20 != 0 { // padding (RFC 3550 §6.4.1): the last byte counts it
		pad := int(b[end-1])
		if pad == 0 || end-pad < tccHeader {
			return fmt.Errorf("%w: padding %d", ErrMalformed, pad)
		}
		end -= pad
	}
	base := binary.BigEndian.Uint16(b[12:])
	count := int(binary.BigEndian.Uint16(b[14:]))
	ref := uint32(b[16])<<16 | uint32(b[17])<<8 | uint32(b[18])

	// Pass 1: find the end of the chunks and check the deltas fit.
	pos, n, need := tccHeader, 0, 0
	for n < count {
		if pos+2 > end {
			return fmt.Errorf("%w: %d of %d statuses", ErrMalformed, n, count)
		}
		c := binary.BigEndian.Uint16(b[pos:])
		pos += 2
		k, d, err := chunkNeeds(c, count-n)
		if err != nil {
			return err
		}
		n += k
		need += d
	}
	if pos+need > end {
		return fmt.Errorf("%w: %d delta bytes, %d left", ErrMalformed, need, end-pos)
	}

	// Pass 2: report.
	t := v.begin(base, ref, b[19])
	dpos := pos
	seq := base
	left := count
	for cpos := tccHeader; left > 0; cpos += 2 {
		c := binary.BigEndian.Uint16(b[cpos:])
		k := chunkLen(c, left)
		for i := range k {
			switch chunkSymbol(c, i) {
			case symSmallDelta:
				t += int64(b[dpos]) * deltaUnit
				dpos++
				v.status(seq, true, t)
			case symLargeDelta:
				t += int64(int16(binary.BigEndian.Uint16(b[dpos:]))) * deltaUnit
				dpos += 2
				v.status(seq, true, t)
			default:
				v.status(seq, false, 0)
			}
			seq++
		}
		left -= k
	}
	return nil
}

// chunkLen is how many statuses chunk c carries, at most left.
func chunkLen(c uint16, left int) int {
	switch {
	case c>>15 == 0:
		return min(int(c&maxRun), left)
	case c>>14&1 == 0:
		return min(vecBits, left)
	default:
		return min(vecBits/2, left)
	}
}

// chunkSymbol is the i-th symbol of chunk c.
func chunkSymbol(c uint16, i int) int {
	switch {
	case c>>15 == 0:
		return int(c >> 13 & 3)
	case c>>14&1 == 0:
		return int(c >> (vecBits - 1 - i) & 1)
	default:
		return int(c >> (vecBits - 2 - 2*i) & 3)
	}
}

// chunkNeeds checks chunk c's first min(its length, left) statuses and
// returns how many there are and how many delta bytes they need.
func chunkNeeds(c uint16, left int) (k, deltaBytes int, err error) {
	k = chunkLen(c, left)
	if c>>15 == 0 { // run length: one symbol repeated
		s := chunkSymbol(c, 0)
		if s == symReserved && k > 0 {
			return 0, 0, fmt.Errorf("%w: reserved symbol in a run", ErrMalformed)
		}
		return k, k * s, nil // 0, 1 or 2 bytes a status
	}
	for i := range k {
		s := chunkSymbol(c, i)
		if s == symReserved {
			return 0, 0, fmt.Errorf("%w: reserved symbol in a vector", ErrMalformed)
		}
		deltaBytes += s
	}
	return k, deltaBytes, nil
}

// decodePion decodes feedback that pion's rtcp package unmarshalled (or a
// caller built): the chunks give the statuses, RecvDeltas (µs, in order)
// the deltas of the received ones.
func decodePion(fb *rtcp.TransportLayerCC, v visitor) error {
	if fb == nil {
		return fmt.Errorf("%w: nil packet", ErrMalformed)
	}
	count := int(fb.PacketStatusCount)
	// Pass 1.
	n, need := 0, 0
	for _, ch := range fb.PacketChunks {
		if n >= count {
			break
		}
		k, d, err := pionChunk(ch, count-n, nil)
		if err != nil {
			return err
		}
		n += k
		need += d
	}
	if n < count {
		return fmt.Errorf("%w: %d of %d statuses", ErrMalformed, n, count)
	}
	if need > len(fb.RecvDeltas) {
		return fmt.Errorf("%w: %d deltas for %d received", ErrMalformed, len(fb.RecvDeltas), need)
	}
	for _, d := range fb.RecvDeltas[:need] {
		if d == nil {
			return fmt.Errorf("%w: nil delta", ErrMalformed)
		}
	}
	// Pass 2.
	w := pionWalk{v: v, t: v.begin(fb.BaseSequenceNumber, fb.ReferenceTime&refMask, fb.FbPktCount),
		seq: fb.BaseSequenceNumber, deltas: fb.RecvDeltas}
	left := count
	for _, ch := range fb.PacketChunks {
		if left == 0 {
			break
		}
		k, _, _ := pionChunk(ch, left, &w)
		left -= k
	}
	return nil
}

// pionWalk is pass 2's cursor over a pion packet.
type pionWalk struct {
	v      visitor
	t      int64
	seq    uint16
	deltas []*rtcp.RecvDelta
	di     int
}

func (w *pionWalk) emit(sym uint16) {
	if sym == symSmallDelta || sym == symLargeDelta {
		w.t += w.deltas[w.di].Delta * 1000 // µs → ns
		w.di++
		w.v.status(w.seq, true, w.t)
	} else {
		w.v.status(w.seq, false, 0)
	}
	w.seq++
}

// pionChunk checks (w == nil) or walks (w != nil) one pion chunk, at most
// left statuses of it; it returns how many statuses and deltas it holds.
func pionChunk(ch rtcp.PacketStatusChunk, left int, w *pionWalk) (k, deltas int, err error) {
	var (
		run     bool
		sym     uint16
		length  int
		symSize uint16
		list    []uint16
	)
	switch c := ch.(type) {
	case *rtcp.RunLengthChunk:
		run, sym, length = true, c.PacketStatusSymbol, int(c.RunLength)
	case *rtcp.StatusVectorChunk:
		symSize, list = c.SymbolSize, c.SymbolList
	default:
		return 0, 0, fmt.Errorf("%w: chunk of type %T", ErrMalformed, ch)
	}
	if run {
		if length > maxRun {
			return 0, 0, fmt.Errorf("%w: run of %d", ErrMalformed, length)
		}
		k = min(length, left)
		if sym > symLargeDelta && k > 0 {
			return 0, 0, fmt.Errorf("%w: symbol %d in a run", ErrMalformed, sym)
		}
		if w != nil {
			for range k {
				w.emit(sym)
			}
		}
		if sym != symNotReceived {
			deltas = k
		}
		return k, deltas, nil
	}
	capacity, top := vecBits, uint16(symSmallDelta)
	switch symSize {
	case rtcp.TypeTCCSymbolSizeOneBit:
	case rtcp.TypeTCCSymbolSizeTwoBit:
		capacity, top = vecBits/2, symLargeDelta
	default:
		return 0, 0, fmt.Errorf("%w: symbol size %d", ErrMalformed, symSize)
	}
	if len(list) > capacity {
		return 0, 0, fmt.Errorf("%w: %d symbols in a vector", ErrMalformed, len(list))
	}
	// A vector holds capacity statuses on the wire; symbols a hand-built
	// chunk leaves out are zero bits there: not received.
	k = min(capacity, left)
	for i := range k {
		var s uint16
		if i < len(list) {
			s = list[i]
		}
		if s > top {
			return 0, 0, fmt.Errorf("%w: symbol %d in a vector", ErrMalformed, s)
		}
		if s != symNotReceived {
			deltas++
		}
		if w != nil {
			w.emit(s)
		}
	}
	return k, deltas, nil
}
