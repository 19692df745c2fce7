package rtc

import (
	"encoding/binary"
	"io"

	"github.com/pion/transport/v5/packetio"
)

// TransportFeedback receives every transport-cc feedback packet
// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1; the RTCP
// packet alone) that the client of a sending connection sends. It runs on
// pion's SRTCP reading goroutine of that connection, before anything else
// reads the packet: it must be quick and must not keep pkt.
type TransportFeedback func(pkt []byte)

// The stream buffers of SRTP and SRTCP (pion/srtp's own sizes).
const (
	rtpBufferSize  = 1000 * 1000
	rtcpBufferSize = 100 * 1000
)

// RTCP transport-layer feedback (RFC 4585 §6.2) and its transport-cc
// format.
const (
	rtcpHeaderSize = 4
	ptRTPFB        = 205
	fmtTCC         = 15
)

// feedbackBuffers is a SettingEngine BufferFactory that hands fb every
// transport-cc packet a connection receives. pion delivers RTCP to per-SSRC
// read streams, and a feedback packet goes to the stream of the SSRC it
// names: libwebrtc names the SSRC of the last packet it received, which is
// often the RTX stream, whose RTCP nobody in pion reads. Every stream's
// buffer is made here, so no feedback is missed whichever SSRC it names.
func feedbackBuffers(fb TransportFeedback) func(packetio.BufferPacketType, uint32) io.ReadWriteCloser {
	return func(t packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
		b := &streamBuffer{Buffer: packetio.NewBuffer()}
		if t == packetio.RTCPBufferPacket {
			b.SetLimitSize(rtcpBufferSize)
			b.fb = fb
		} else {
			b.SetLimitSize(rtpBufferSize)
		}
		return b
	}
}

// streamBuffer is a bounded packet buffer of one SRTP or SRTCP read stream
// (what pion/srtp makes when no factory is set) that shows RTCP to a
// TransportFeedback as it is written. A packet of transport-cc feedback
// alone (what libwebrtc sends, 20 times a second) ends there: nothing but
// the TransportFeedback reads it, and buffering it would wake the
// stream's reader to parse it again (pion's rtcp.Unmarshal allocates for
// it) only to ignore it. A full buffer drops what comes.
type streamBuffer struct {
	*packetio.Buffer
	fb TransportFeedback // RTCP streams only
}

func (b *streamBuffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b *streamBuffer) Write(p []byte) (int, error) { return b.WriteWithAttributes(p, nil) }

func (b *streamBuffer) ReadWithAttributes(p []byte, a packetio.Attributes) (int, packetio.Attributes, error) {
	return b.Buffer.Read(p, a)
}

func (b *streamBuffer) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	if b.fb != nil && eachTransportCC(p, b.fb) {
		return len(p), nil
	}
	return b.Buffer.Write(p, a)
}

// eachTransportCC calls fb with every transport-cc packet in the RTCP
// packet or compound b (RFC 3550 §6.1: packets back to back, each with its
// length in 32-bit words minus one). It stops at the first malformed
// header. It reports whether b held transport-cc feedback and nothing
// else.
func eachTransportCC(b []byte, fb TransportFeedback) (only bool) {
	only = len(b) > 0
	for len(b) >= rtcpHeaderSize {
		n := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if b[0]>>6 != 2 || n > len(b) {
			return false
		}
		if b[1] == ptRTPFB && b[0]&0x1f == fmtTCC {
			fb(b[:n])
		} else {
			only = false
		}
		b = b[n:]
	}
	return only && len(b) == 0
}
