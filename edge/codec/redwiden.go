package codec

import "encoding/binary"

// RED widening. Chromium sends Opus in RED (RFC 2198) with one redundant
// block: each packet carries the previous frame again, so a single lost
// packet costs nothing, but two in a row (at 5 % random loss, one frame in
// 400) are concealed. A REDWidener, fed every packet of one RED stream in
// order, remembers the last frames it saw (primaries and the publisher's
// own redundant blocks) and, when asked, rewrites each packet to carry the
// two frames before its primary: three losses in a row are then needed to
// lose a frame. It adds one frame's bytes (about 80 at 32 kbit/s) to each
// packet, so the edge asks for it only while a subscriber's path loses
// packets.

const (
	// redBlockMax is the largest block a RED header can describe (a
	// 10-bit length); larger frames are never remembered.
	redBlockMax = 1<<10 - 1
	// redOffsetMax is the largest timestamp offset a RED header carries
	// (14 bits).
	redOffsetMax = 1<<14 - 1
	// redKeep is how many earlier frames a widened packet carries.
	redKeep = 2
	// redMaxPacket bounds a widened packet (an RTP packet the edge sends
	// must stay well within the path's MTU after SRTP).
	redMaxPacket = 1200
)

// redFrame is one remembered frame.
type redFrame struct {
	ts   uint32
	pt   uint8
	n    int
	used bool
	data [redBlockMax]byte
}

// REDWidener rewrites one RED stream's packets (see the package's RED
// widening). Its zero value is ready; it allocates nothing per packet. Not
// safe for concurrent use: the stream's reader owns it.
type REDWidener struct {
	frames  [redKeep + 1]redFrame // the newest frames seen, any order
	last    uint32                // the newest primary's timestamp
	started bool
	out     [redMaxPacket]byte
}

// redBlock is one block of a parsed RED payload.
type redBlock struct {
	pt       uint8
	ts       uint32
	off, end int // within the payload
}

// Widen takes the next packet of the stream, buf[:n] with its parsed
// header h, remembers its frames, and when widen is true rewrites it in
// place (buf must have room) to carry, before its primary, the two
// remembered frames just before it, within maxAge timestamp ticks of it.
// It returns the packet's new length (n when nothing changed: not widened,
// malformed, a packet out of order, or one that would grow too large).
func (w *REDWidener) Widen(buf []byte, n int, h Header, widen bool, maxAge uint32) int {
	if h.PayloadEnd != n || h.PayloadOffset >= n {
		return n // padded or empty: left alone
	}
	payload := buf[h.PayloadOffset:n]
	var blocks [4]redBlock
	nb, ok := parseRED(payload, h.Timestamp, blocks[:])
	if !ok {
		return n
	}
	primary := blocks[nb-1]
	if w.started && int32(h.Timestamp-w.last) <= 0 {
		return n // a repeat or a late packet: the history moved on
	}
	for _, b := range blocks[:nb-1] {
		w.remember(b.ts, b.pt, payload[b.off:b.end])
	}
	// The frames to carry, oldest first, before remembering the primary.
	var pick [redKeep]*redFrame
	np := 0
	if widen {
		np = w.earlier(h.Timestamp, maxAge, &pick)
	}
	w.remember(primary.ts, primary.pt, payload[primary.off:primary.end])
	w.last, w.started = h.Timestamp, true
	if np == 0 {
		return n
	}
	size := h.PayloadOffset + 4*np + 1 + (primary.end - primary.off)
	for _, f := range pick[:np] {
		size += f.n
	}
	if size > len(buf) || size > redMaxPacket {
		return n
	}
	out := w.out[:0]
	for _, f := range pick[:np] {
		off := h.Timestamp - f.ts
		out = append(out, 0x80|f.pt, 0, 0, 0)
		binary.BigEndian.PutUint32(out[len(out)-4:], uint32(0x80|f.pt)<<24|off<<10|uint32(f.n))
	}
	out = append(out, primary.pt&0x7f)
	for _, f := range pick[:np] {
		out = append(out, f.data[:f.n]...)
	}
	out = append(out, payload[primary.off:primary.end]...)
	copy(buf[h.PayloadOffset:], out)
	return h.PayloadOffset + len(out)
}

// remember keeps a frame unless it is known, too large, or older than
// every frame kept.
func (w *REDWidener) remember(ts uint32, pt uint8, data []byte) {
	if len(data) > redBlockMax {
		return
	}
	slot := -1
	for i := range w.frames {
		f := &w.frames[i]
		if f.used && f.ts == ts {
			return
		}
		if !f.used {
			slot = i
			break
		}
		if slot < 0 || int32(f.ts-w.frames[slot].ts) < 0 {
			slot = i // the oldest so far
		}
	}
	if f := &w.frames[slot]; f.used && int32(ts-f.ts) < 0 {
		return // older than everything kept
	}
	f := &w.frames[slot]
	f.ts, f.pt, f.n, f.used = ts, pt, copy(f.data[:], data), true
}

// earlier fills pick with the (at most redKeep = 2) newest remembered
// frames before ts, within maxAge and a RED header's reach, oldest first,
// and returns how many.
func (w *REDWidener) earlier(ts, maxAge uint32, pick *[redKeep]*redFrame) int {
	var newest, next *redFrame
	for i := range w.frames {
		f := &w.frames[i]
		age := ts - f.ts
		if !f.used || int32(age) <= 0 || age > min(maxAge, redOffsetMax) {
			continue
		}
		switch {
		case newest == nil || int32(f.ts-newest.ts) > 0:
			newest, next = f, newest
		case next == nil || int32(f.ts-next.ts) > 0:
			next = f
		}
	}
	switch {
	case next != nil:
		pick[0], pick[1] = next, newest
		return 2
	case newest != nil:
		pick[0] = newest
		return 1
	}
	return 0
}

// parseRED splits a RED payload (RFC 2198 §3) whose packet has timestamp
// ts into its blocks, the primary last; false when malformed or with more
// blocks than fit in out.
func parseRED(p []byte, ts uint32, out []redBlock) (int, bool) {
	i, n := 0, 0
	for {
		if i >= len(p) || n == len(out) {
			return 0, false
		}
		if p[i]&0x80 == 0 {
			out[n] = redBlock{pt: p[i] & 0x7f, ts: ts}
			n++
			i++
			break
		}
		if i+4 > len(p) {
			return 0, false
		}
		v := binary.BigEndian.Uint32(p[i:])
		out[n] = redBlock{pt: p[i] & 0x7f, ts: ts - (v>>10)&redOffsetMax, end: int(v & 0x3ff)}
		n++
		i += 4
	}
	for k := range out[:n] {
		l := out[k].end
		if k == n-1 {
			l = len(p) - i
		}
		if i+l > len(p) {
			return 0, false
		}
		out[k].off, out[k].end = i, i+l
		i += l
	}
	return n, true
}
