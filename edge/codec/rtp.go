package codec

import (
	"encoding/binary"
	"errors"
)

// Errors returned by the parsers.
var (
	ErrShort   = errors.New("codec: packet too short")
	ErrVersion = errors.New("codec: not RTP version 2")
	ErrPadding = errors.New("codec: bad padding length")
)

// RTP header field offsets (RFC 3550 §5.1).
const (
	SeqOffset       = 2
	TimestampOffset = 4
	SSRCOffset      = 8
	fixedHeaderLen  = 12
)

// Header is the part of an RTP packet the forwarder reads. Payload is
// buf[PayloadOffset:PayloadEnd] (padding excluded).
type Header struct {
	Marker        bool
	PayloadType   uint8
	Seq           uint16
	Timestamp     uint32
	SSRC          uint32
	PayloadOffset int
	PayloadEnd    int
}

// PayloadLen is the length of the payload without padding.
func (h *Header) PayloadLen() int { return h.PayloadEnd - h.PayloadOffset }

// ParseRTP reads the RTP fixed header, the CSRC list and the header extension
// (RFC 3550 §5.1 and §5.3.1), and strips padding (the P bit: the last octet
// counts the padding octets, itself included).
func ParseRTP(buf []byte) (Header, error) {
	var h Header
	if len(buf) < fixedHeaderLen {
		return h, ErrShort
	}
	if buf[0]>>6 != 2 {
		return h, ErrVersion
	}
	padding := buf[0]&0x20 != 0
	ext := buf[0]&0x10 != 0
	cc := int(buf[0] & 0x0f)
	h.Marker = buf[1]&0x80 != 0
	h.PayloadType = buf[1] & 0x7f
	h.Seq = binary.BigEndian.Uint16(buf[SeqOffset:])
	h.Timestamp = binary.BigEndian.Uint32(buf[TimestampOffset:])
	h.SSRC = binary.BigEndian.Uint32(buf[SSRCOffset:])
	off := fixedHeaderLen + 4*cc
	if ext {
		// §5.3.1: 16-bit profile-defined field, 16-bit length in 32-bit words.
		if len(buf) < off+4 {
			return h, ErrShort
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(buf[off+2:]))
	}
	if len(buf) < off {
		return h, ErrShort
	}
	end := len(buf)
	if padding {
		if end == off {
			return h, ErrPadding
		}
		p := int(buf[end-1])
		if p == 0 || end-p < off {
			return h, ErrPadding
		}
		end -= p
	}
	h.PayloadOffset = off
	h.PayloadEnd = end
	return h, nil
}
