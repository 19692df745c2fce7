package forward

import "encoding/binary"

// Padding writes into dst a padding-only packet with size bytes of padding
// (1 to 255; RFC 3550 §5.1) on the subscriber's RTX stream (RFC 4588): the
// RTX stream's next sequence number, the timestamp of the newest packet
// forwarded, the edge's header-extension block and no payload, not even an
// original sequence number. Receivers count it for bandwidth estimation and
// drop it as a repair of nothing, as they do libwebrtc's own probes. It
// returns the packet's length, or 0 when the subscriber has no RTX stream
// or dst is too short.
func (f *Forwarder) Padding(dst []byte, size int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rtxSSRC == 0 || size < 1 || size > 255 {
		return 0
	}
	ext := f.ext.size()
	n := rtpHeaderSize + ext + size
	if n > len(dst) {
		return 0
	}
	dst[0] = 0x80 | 0x20 // V=2, P
	if ext > 0 {
		dst[0] |= 0x10
		f.ext.write(dst[rtpHeaderSize:])
	}
	dst[1] = f.rtxPT & 0x7f
	binary.BigEndian.PutUint16(dst[2:], f.rtxSeq)
	binary.BigEndian.PutUint32(dst[4:], f.lastOutTS)
	binary.BigEndian.PutUint32(dst[8:], f.rtxSSRC)
	f.rtxSeq++
	clear(dst[rtpHeaderSize+ext : n])
	dst[n-1] = byte(size)
	return n
}
