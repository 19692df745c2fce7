package room

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/mmsg"
	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// layerIdle is how long a layer may go without packets and still count as
// sent by the publisher.
const layerIdle = 2 * time.Second

// DownTrack forwards one PubTrack to one subscriber. It is the pion
// TrackLocal added to the subscriber's peer connection. A forward.Forwarder
// picks the layer and rewrites sequence numbers, timestamps and VP8 picture
// ids into the subscriber's bounded queue; the subscriber's writer goroutine
// sends from there with the negotiated SSRC and payload type.
type DownTrack struct {
	track    *PubTrack
	sub      *Participant
	tag      uint32
	streamID string
	fwd      *forward.Forwarder

	bound atomic.Pointer[binding]

	// Layer choice, owned by the subscriber's loop.
	sel     *simulcast.Selector
	req     simulcast.Request
	wanted  int
	scratch []simulcast.Layer

	hdr    rtp.Header // used by whoever drains the subscriber's queue only
	rtxSeq uint16     // the RTX stream's next sequence number (likewise)

	// Sender-report state, written per packet by whoever sends (see send)
	// and read by the subscriber's loop: the RTP timestamp of the newest
	// packet sent (high 32 bits) with the manager clock in microseconds
	// when it went out (low 32 bits, wrapping), in one word so that the
	// two never tear; and RFC 3550's packet and octet counts.
	srLast    atomic.Uint64
	srPackets atomic.Uint32
	srOctets  atomic.Uint32

	sender *webrtc.RTPSender
}

type binding struct {
	w         webrtc.TrackLocalWriter
	ssrc      uint32
	pt        uint8
	clockRate uint32
	// rtxSSRC and rtxPT are the subscriber's RTX stream (RFC 4588), 0
	// when it did not negotiate one: retransmissions then go on the media
	// stream.
	rtxSSRC uint32
	rtxPT   uint8
	// redToOpus: the publisher sends RED (RFC 2198) but this subscriber
	// negotiated plain Opus; only the primary encoding is sent.
	redToOpus bool
}

func newDownTrack(t *PubTrack, sub *Participant, tag uint32) (*DownTrack, error) {
	fwd, err := forward.New(forward.Config{Source: t.src, Queue: sub.queue, Tag: tag, Layer: -1})
	if err != nil {
		return nil, err
	}
	d := &DownTrack{track: t, sub: sub, tag: tag, streamID: t.owner.sid + "|" + t.sid, fwd: fwd, wanted: -2,
		rtxSeq: uint16(rand.Uint32())} // RFC 3550 §5.1: a random first sequence number
	d.req = simulcast.Request{Quality: livekit.VideoQuality_HIGH}
	if t.simulcast {
		if d.sel, err = simulcast.NewSelector(simulcast.SelectorConfig{}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// ID is the track sid: the SDK reads it from a=msid.
func (d *DownTrack) ID() string { return d.track.sid }

// RID is empty: subscribers get one plain stream.
func (d *DownTrack) RID() string { return "" }

// StreamID packs participant and track sids the way LiveKit clients expect.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind is audio or video.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// Bind picks the negotiated codec that matches the publisher's and starts
// forwarding (at the next keyframe).
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.track.codec.Load()
	bind := func(c webrtc.RTPCodecParameters, redToOpus bool) (webrtc.RTPCodecParameters, error) {
		b := &binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), clockRate: c.ClockRate, redToOpus: redToOpus}
		if rtx := uint32(ctx.SSRCRetransmission()); rtx != 0 {
			apt := fmt.Sprintf("apt=%d", c.PayloadType)
			for _, r := range ctx.CodecParameters() {
				if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && r.SDPFmtpLine == apt {
					b.rtxSSRC, b.rtxPT = rtx, uint8(r.PayloadType)
				}
			}
		}
		d.bound.Store(b)
		d.sub.post(func() { d.sub.selectLayer(d, true) })
		return c, nil
	}
	for _, c := range ctx.CodecParameters() {
		if want == nil || strings.EqualFold(c.MimeType, want.MimeType) && fmtpMatch(c, *want) {
			return bind(c, false)
		}
	}
	if want != nil && strings.EqualFold(want.MimeType, rtc.MimeRED) {
		for _, c := range ctx.CodecParameters() {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) {
				return bind(c, true)
			}
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind stops writing.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

func fmtpMatch(a, b webrtc.RTPCodecParameters) bool {
	if !strings.EqualFold(a.MimeType, webrtc.MimeTypeH264) {
		return true
	}
	get := func(f, k string) string {
		for _, kv := range strings.Split(f, ";") {
			if key, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && key == k {
				return v
			}
		}
		return ""
	}
	return get(a.SDPFmtpLine, "packetization-mode") == get(b.SDPFmtpLine, "packetization-mode") &&
		strings.EqualFold(get(a.SDPFmtpLine, "profile-level-id"), get(b.SDPFmtpLine, "profile-level-id"))
}

// send writes one rewritten packet from the subscriber's queue (whoever
// drains it: see Participant.drain); now is the manager clock when the
// drain began, the send time the sender reports map RTP time from. On the
// edge's own SRTP path the packet goes into out when it is not nil. A
// retransmission goes on the subscriber's RTX stream when it has one
// (toRTX). It reports whether the packet was sent and on which path; the
// caller counts them (a drain's worth at a time, not a shared counter per
// packet).
func (d *DownTrack) send(it forward.Item, now int64, out *mmsg.Batch) (sent, direct bool) {
	b := d.bound.Load()
	pkt := it.Pkt
	if b == nil || len(pkt) < rtpHeaderSize {
		return false, false
	}
	m := d.sub.room.mgr
	ssrc, pt := b.ssrc, b.pt
	rtx := it.Resend && b.rtxSSRC != 0
	if rtx {
		if pkt, rtx = d.toRTX(pkt, b); rtx {
			ssrc, pt = b.rtxSSRC, b.rtxPT
		}
	}
	var octets int // payload octets, for the sender reports
	if ds := d.sub.direct; ds != nil && !b.redToOpus && ds.Ready() {
		// The edge's own SRTP path: the queue slot is the drain's, so the
		// subscriber's payload type and SSRC are written into it in place;
		// the encryption parses the header (into d.hdr) once.
		pkt[1] = pkt[1]&0x80 | pt
		binary.BigEndian.PutUint32(pkt[8:12], ssrc)
		if err := ds.WriteRTP(pkt, &d.hdr, out); err != nil {
			m.metrics.packetsDropped.Inc()
			return false, false
		}
		octets = len(pkt) - d.hdr.MarshalSize()
		direct = true
	} else {
		n, err := d.hdr.Unmarshal(pkt)
		if err != nil {
			return false, false
		}
		d.hdr.SSRC = ssrc
		d.hdr.PayloadType = pt
		payload := pkt[n:]
		if b.redToOpus {
			if payload, err = primaryFromRED(payload); err != nil {
				return false, false
			}
		}
		if _, err := b.w.WriteRTP(&d.hdr, payload); err != nil {
			m.metrics.packetsDropped.Inc()
			return false, false
		}
		octets = len(payload)
	}
	if it.Resend {
		m.metrics.retransmitted.Inc()
	}
	if rtx {
		return true, direct // not part of the media stream's sender reports
	}
	d.srPackets.Add(1)
	d.srOctets.Add(uint32(octets))
	d.srLast.Store(uint64(d.hdr.Timestamp)<<32 | uint64(uint32(now/1000)))
	return true, direct
}

// toRTX turns a retransmission, in place in its queue slot, into an RTX
// packet (RFC 4588 §4): the original sequence number (OSN) moves to the
// front of the payload and the packet takes the RTX stream's next sequence
// number; timestamp and marker stay. It reports false, leaving pkt as it
// was, when the slot has no room for the OSN (the packet then goes again
// on the media stream). Only the drain holder calls it, so rtxSeq needs no
// lock.
func (d *DownTrack) toRTX(pkt []byte, b *binding) ([]byte, bool) {
	hl := rtpHeaderSize + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension (RFC 3550 §5.3.1)
		if len(pkt) < hl+4 {
			return pkt, false
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(pkt[hl+2:]))
	}
	n := len(pkt)
	if hl > n || n+2 > cap(pkt) {
		return pkt, false
	}
	pkt = pkt[:n+2]
	copy(pkt[hl+2:], pkt[hl:n])
	copy(pkt[hl:hl+2], pkt[2:4]) // OSN
	binary.BigEndian.PutUint16(pkt[2:4], d.rtxSeq)
	d.rtxSeq++
	return pkt, true
}

// rtpHeaderSize is the fixed part of an RTP header (RFC 3550 §5.1).
const rtpHeaderSize = 12

// srStale is how long after its last packet a down track stops sending
// sender reports (a paused or muted track).
const srStale = 5 * time.Second

// senderReport is the RTCP sender report for what d has sent, at
// manager-clock time now (wall clock wall), or nil when d is unbound or has
// sent nothing lately. The RTP time is the newest packet's timestamp
// advanced by the time since it went out (RFC 3550 §6.4.1), the mapping a
// subscriber needs to synchronise audio and video.
func (d *DownTrack) senderReport(now int64, wall time.Time) *rtcp.SenderReport {
	b := d.bound.Load()
	last := d.srLast.Load()
	if b == nil || last == 0 || b.clockRate == 0 {
		return nil
	}
	elapsed := time.Duration(uint32(now/1000)-uint32(last)) * time.Microsecond
	if elapsed > srStale {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(wall),
		RTPTime:     uint32(last>>32) + uint32(elapsed.Microseconds()*int64(b.clockRate)/1e6),
		PacketCount: d.srPackets.Load(),
		OctetCount:  d.srOctets.Load(),
	}
}

// ntpTime is t as a 64-bit NTP timestamp (seconds since 1900 in the high
// 32 bits, the fraction in the low 32).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	secs := uint64(t.Unix()) + unixToNTP
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

var errRED = errors.New("room: malformed RED payload")

// primaryFromRED returns the primary (last) encoding of a RED payload
// (RFC 2198 §3): 4-byte headers for the redundant blocks, each with its
// length, then a 1-byte header for the primary; the data follow in order.
func primaryFromRED(p []byte) ([]byte, error) {
	i, skip := 0, 0
	for {
		if i >= len(p) {
			return nil, errRED
		}
		if p[i]&0x80 == 0 {
			i++
			break
		}
		if i+4 > len(p) {
			return nil, errRED
		}
		skip += int(binary.BigEndian.Uint16(p[i+2:]) & 0x3ff)
		i += 4
	}
	if i+skip > len(p) {
		return nil, errRED
	}
	return p[i+skip:], nil
}

// readRTCP handles the subscriber's feedback for this track until the
// sender stops: NACKs are answered from the track's packet cache, PLI and
// FIR become rate-limited keyframe requests to the publisher, and the
// connection's bandwidth estimate that drives layer choice comes from the
// edge's TWCC estimator (the read's attributes) or, for clients without
// transport-cc, from REMB.
func (d *DownTrack) readRTCP() {
	buf := make([]byte, 1500)
	scratch := make([]byte, 1500)
	for {
		n, attrs, err := d.sender.Read(buf)
		if err != nil {
			return
		}
		d.handleRTCP(buf[:n], attrs, scratch)
	}
}

// handleRTCP acts on one read of the subscriber's RTCP for this track and
// the attributes the interceptors gave it (readRTCP's goroutine only).
func (d *DownTrack) handleRTCP(b []byte, attrs interceptor.Attributes, scratch []byte) {
	m := d.sub.room.mgr
	if est, ok := rtc.EstimateOf(attrs); ok {
		// The edge's own estimate from the subscriber's transport-cc
		// feedback; it supersedes REMB from then on.
		d.sub.twcc.Store(true)
		d.sub.estimate.Store(est)
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.track.keyframe(d.fwd.Current(), m.now())
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			// The subscriber's receive-side estimate for the whole
			// connection, from clients that did not negotiate
			// transport-cc.
			if !d.sub.twcc.Load() {
				d.sub.estimate.Store(uint64(p.Bitrate))
			}
		case *rtcp.TransportLayerNack:
			now, rtt := m.now(), time.Duration(d.sub.rtt.Load())
			for _, pair := range p.Nacks {
				d.fwd.HandleNACK(pair.PacketID, uint16(pair.LostPackets), d.track.caches[:], scratch, now, rtt)
			}
			d.sub.flush(nil)
		case *rtcp.ReceiverReport:
			d.roundTrip(p, time.Now())
		}
	}
}

// roundTrip takes the round-trip time to the subscriber from its receiver
// report on this track's stream (RFC 3550 §6.4.1: the arrival time less the
// LSR and DLSR fields, in 1/65536 s), when the report follows one of the
// edge's sender reports.
func (d *DownTrack) roundTrip(rr *rtcp.ReceiverReport, arrival time.Time) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	for _, r := range rr.Reports {
		if r.SSRC != b.ssrc || r.LastSenderReport == 0 {
			continue
		}
		a := uint32(ntpTime(arrival) >> 16)
		units := int32(a - r.LastSenderReport - r.Delay)
		if units < 0 || units > 10*65536 { // a clock step or a stale report
			continue
		}
		d.sub.rtt.Store(int64(units) * int64(time.Second) / 65536)
	}
}
