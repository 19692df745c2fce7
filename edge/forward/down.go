package forward

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Writer is pion's way out for one subscribed track
// (webrtc.TrackLocalWriter, from TrackLocalContext.WriteStream in Bind):
// it runs the subscriber connection's interceptors and SRTP.
type Writer interface {
	WriteRTP(header *rtp.Header, payload []byte) (int, error)
}

// Output is where a Down's packets go once the subscriber's connection
// negotiated the track (pion's Bind).
type Output struct {
	Writer      Writer
	SSRC        uint32
	PayloadType uint8
	ClockRate   uint32
	// RTXSSRC and RTXPayloadType are the subscriber's RTX stream (RFC
	// 4588); 0 when it negotiated none, and retransmissions then go on
	// the media stream.
	RTXSSRC        uint32
	RTXPayloadType uint8
	// REDToOpus: the publisher sends RED (RFC 2198) but the subscriber
	// negotiated plain Opus; only the primary encoding is sent.
	REDToOpus bool
	// AbsSendTimeID and TransportCCID are the ids the subscriber
	// negotiated for the abs-send-time and transport-cc header extensions
	// (0: not negotiated); the edge writes them into every packet (ext.go).
	AbsSendTimeID, TransportCCID uint8
}

// Down is one subscriber's copy of a Track: the Forwarder that picks the
// layer and rewrites each packet into the subscriber's Sink, and what the
// sender reports need. Its methods are safe for concurrent use.
type Down struct {
	track *Track
	sink  *Sink
	tag   uint32
	fwd   *Forwarder

	out atomic.Pointer[Output]

	// Sender-report state, written by whoever drains the sink and read by
	// SenderReport: the RTP timestamp of the newest packet sent (high 32
	// bits) with the media clock in microseconds when it went out (low 32
	// bits, wrapping), in one word so that the two never tear; and RFC
	// 3550's packet and octet counts.
	srLast    atomic.Uint64
	srPackets atomic.Uint32
	srOctets  atomic.Uint32
}

// Track is the track this Down forwards.
func (d *Down) Track() *Track { return d.track }

// Bind starts sending to o; the down starts forwarding at its target
// layer's next keyframe (SetTarget).
func (d *Down) Bind(o Output) {
	d.fwd.SetOutput(o)
	d.out.Store(&o)
}

// Unbind stops sending.
func (d *Down) Unbind() { d.out.Store(nil) }

// Bound reports whether the down has an Output.
func (d *Down) Bound() bool { return d.out.Load() != nil }

// Close withdraws the down from its track and its sink.
func (d *Down) Close() {
	d.track.removeDown(d)
	d.sink.remove(d)
}

// SetTarget selects the layer to forward (-1 pauses) and asks the
// publisher for a keyframe when the switch needs one; now is the media
// clock.
func (d *Down) SetTarget(layer int, now int64) {
	if d.fwd.SetTarget(layer) {
		d.track.RequestKeyframe(layer, now)
	}
}

// Target is the selected layer (-1: paused); Current the layer being
// forwarded (-1: none yet).
func (d *Down) Target() int  { return d.fwd.Target() }
func (d *Down) Current() int { return d.fwd.Current() }

// Stats are the forwarder's counters.
func (d *Down) Stats() Stats { return d.fwd.Stats() }

// Start starts a down that has sent nothing yet at layer (its target) from
// the newest keyframe in the packet cache of that layer or, failing that,
// of a lower one (it then switches up at the next keyframe of its own,
// which it asks for): the subscriber sees a picture at once instead of
// after the publisher's answer to a keyframe request. scratch must hold a
// cached packet. It returns how many packets it queued; the caller flushes
// the sink.
func (d *Down) Start(layer int, scratch []byte, now int64) (queued int) {
	if layer >= 0 && d.fwd.Current() < 0 && d.track.src.Codec().IsVideo() {
		for l := layer; l >= 0; l-- {
			d.fwd.SetTarget(l)
			if queued = d.fwd.Prime(d.track.caches[:], scratch, now); queued > 0 {
				break
			}
		}
	}
	d.SetTarget(layer, now)
	return queued
}

// HandleNACK answers one NACK item of the subscriber (pid and its bitmask,
// RFC 4585 §6.2.1) from the track's packet caches; see Forwarder.HandleNACK.
// A packet gone for good leaves the subscriber unable to decode until the
// next keyframe: it asks the publisher for one (rate-limited per track,
// see Track.RequestKeyframe).
func (d *Down) HandleNACK(pid, blp uint16, scratch []byte, now int64, rtt time.Duration) (resent, missed int) {
	var gate resendGate
	if d.sink != nil {
		gate = d.sink
	}
	resent, missed, gone := d.fwd.handleNACK(pid, blp, d.track.caches[:], scratch, now, rtt, gate)
	if gone > 0 {
		d.RequestKeyframe(now)
	}
	return resent, missed
}

// SetTemporal selects the highest VP8 temporal layer to forward
// (simulcast.AllTemporal: every one); see Forwarder.SetTemporal.
func (d *Down) SetTemporal(t int) { d.fwd.SetTemporal(t) }

// Temporal is the highest temporal layer selected.
func (d *Down) Temporal() int { return d.fwd.Temporal() }

// RequestKeyframe passes on the subscriber's keyframe request (PLI/FIR)
// for the layer it receives.
func (d *Down) RequestKeyframe(now int64) { d.track.RequestKeyframe(d.fwd.Current(), now) }

// sent records packets of the media stream for the sender reports: n of
// them, octets of payload in all, the newest with RTP timestamp ts, sent at
// media clock time now.
func (d *Down) sent(n, octets, ts uint32, now int64) {
	d.srPackets.Add(n)
	d.srOctets.Add(octets)
	d.srLast.Store(uint64(ts)<<32 | uint64(uint32(now/1000)))
}

// srStale is how long after its last packet a down stops sending sender
// reports (a paused or muted track).
const srStale = 5 * time.Second

// SenderReport is the RTCP sender report for what d has sent, at media
// clock time now (wall clock wall), or nil when d is unbound or has sent
// nothing lately. The RTP time is the newest packet's timestamp advanced by
// the time since it went out (RFC 3550 §6.4.1), the mapping a subscriber
// needs to synchronise audio and video.
func (d *Down) SenderReport(now int64, wall time.Time) *rtcp.SenderReport {
	o := d.out.Load()
	last := d.srLast.Load()
	if o == nil || last == 0 || o.ClockRate == 0 {
		return nil
	}
	elapsed := time.Duration(uint32(now/1000)-uint32(last)) * time.Microsecond
	if elapsed > srStale {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        o.SSRC,
		NTPTime:     NTPTime(wall),
		RTPTime:     uint32(last>>32) + uint32(elapsed.Microseconds()*int64(o.ClockRate)/1e6),
		PacketCount: d.srPackets.Load(),
		OctetCount:  d.srOctets.Load(),
	}
}

// NTPTime is t as a 64-bit NTP timestamp (seconds since 1900 in the high
// 32 bits, the fraction in the low 32).
func NTPTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	secs := uint64(t.Unix()) + unixToNTP
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// RoundTrip is the round-trip time a receiver report on the down's stream
// gives (RFC 3550 §6.4.1: arrival − LSR − DLSR, in 1/65536 s), or false when
// it carries none for this stream or would be negative or over 10 s (a
// stale report or a clock step).
func (d *Down) RoundTrip(rr *rtcp.ReceiverReport, arrival time.Time) (time.Duration, bool) {
	o := d.out.Load()
	if o == nil {
		return 0, false
	}
	for _, r := range rr.Reports {
		if r.SSRC != o.SSRC || r.LastSenderReport == 0 {
			continue
		}
		a := uint32(NTPTime(arrival) >> 16)
		units := int32(a - r.LastSenderReport - r.Delay)
		if units < 0 || units > 10*65536 {
			continue
		}
		return time.Duration(int64(units) * int64(time.Second) / 65536), true
	}
	return 0, false
}

// Reception is the report block of a receiver report about the down's
// stream (RFC 3550 §6.4.2: fraction lost, jitter), or false when it
// carries none.
func (d *Down) Reception(rr *rtcp.ReceiverReport) (rtcp.ReceptionReport, bool) {
	o := d.out.Load()
	if o == nil {
		return rtcp.ReceptionReport{}, false
	}
	for _, r := range rr.Reports {
		if r.SSRC == o.SSRC {
			return r, true
		}
	}
	return rtcp.ReceptionReport{}, false
}
