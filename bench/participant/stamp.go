package participant

import (
	"bytes"
	"encoding/binary"
	"time"
)

// magic marks a stamped payload.
var magic = []byte("SCB1")

// stampLen is the magic plus the send time (unix nanoseconds).
const stampLen = 4 + 8

// vp8Frame fills b (at least 10+stampLen bytes) with a synthetic VP8
// frame: a keyframe header every keyEvery frames (RFC 6386 §9.1: bit 0 of
// the first byte clear, start code 9d 01 2a, then width and height), an
// interframe tag otherwise, followed by the stamp.
func vp8Frame(b []byte, i, keyEvery int, w, h uint16, now time.Time) {
	clear(b)
	if i%keyEvery == 0 {
		size := uint32(len(b)-10) << 5
		b[0] = byte(size) | 0x10 // keyframe, show_frame
		b[1] = byte(size >> 8)
		b[2] = byte(size >> 16)
		b[3], b[4], b[5] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(b[6:], w)
		binary.LittleEndian.PutUint16(b[8:], h)
	} else {
		b[0] = 0x11 // interframe, show_frame
	}
	stamp(b[10:], now)
}

// opusFrame fills b with an Opus packet (TOC byte: CELT fullband 20 ms
// mono) followed by the stamp.
func opusFrame(b []byte, now time.Time) {
	clear(b)
	b[0] = 0xf8
	stamp(b[1:], now)
}

func stamp(b []byte, now time.Time) {
	copy(b, magic)
	binary.BigEndian.PutUint64(b[4:], uint64(now.UnixNano()))
}

// readStamp finds the send time in an RTP payload.
func readStamp(payload []byte) (time.Time, bool) {
	i := bytes.Index(payload, magic)
	if i < 0 || len(payload) < i+stampLen {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload[i+4:]))), true
}
