package room

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/rtc"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// DownTrack is one subscriber's subscription to a PubTrack as pion sees it:
// the TrackLocal added to the subscriber's connection, whose Bind gives the
// media path (forward.Down) the negotiated SSRCs and payload types, and
// whose RTCP reader takes the subscriber's feedback for the track. The
// subscriber's loop owns its layer choice.
type DownTrack struct {
	track    *PubTrack
	sub      *Participant
	streamID string
	down     *forward.Down

	// Layer choice, owned by the subscriber's loop (layers.go): the
	// request, whether it changed since the last choice, the highest
	// active layer it wants, what the last choice was (paused: for want of
	// bandwidth), what the subscriber was last told of it
	// (StreamStateUpdate), the layer it asks the publisher for (dynacast),
	// the track's layers as last described.
	req       simulcast.Request
	fresh     bool
	wanted    int
	pick      simulcast.Pick
	paused    bool
	toldPause bool
	requested int
	scratch   []simulcast.Layer

	// What the subscriber reports of the track (receiver reports, read by
	// the loop for connection quality): the fraction lost (1/256) and the
	// jitter in microseconds; and the layer choice's distance from what the
	// request wants (quality.go), in hundredths of a layer.
	fractionLost atomic.Uint32
	jitterMicros atomic.Uint32
	distance     atomic.Uint32
	// lossy: the subscriber's reports show loss (noteLoss), counted in
	// the track's lossy.
	lossy atomic.Bool

	sender *webrtc.RTPSender
}

func newDownTrack(t *PubTrack, sub *Participant) (*DownTrack, error) {
	down, err := sub.sink.Subscribe(t.media)
	if err != nil {
		return nil, err
	}
	d := &DownTrack{track: t, sub: sub, streamID: t.ownerSID + "|" + t.sid, down: down, requested: -2, wanted: -1,
		pick: simulcast.Pick{Spatial: -1, Temporal: -1}}
	d.req = simulcast.Request{Quality: livekit.VideoQuality_HIGH}
	return d, nil
}

// close withdraws the subscription from the media path.
func (d *DownTrack) close() {
	d.down.Close()
	d.track.dropDemand(d.sub.sid)
	d.noteLoss(0, false)
}

// Loss that widens a RED track (forward.Track.SetREDWidening), in the
// receiver report's 1/256 units: on at 3 (1.2 %; two losses in a row then
// happen about once a minute of 50 packets a second), off once a report
// shows none. One subscriber is enough: what widening costs (a frame's
// bytes a packet) is small beside a subscriber hearing gaps.
const (
	redLossOn  = 3
	redLossOff = 0
)

// noteLoss takes the fraction lost of the subscriber's latest receiver
// report for the track (1/256) and turns RED widening on while any
// subscriber of the track loses packets that its path did not drop for
// want of room: congested (its estimator sees a queue, loss above 10 %, or
// has cut for loss), a subscriber's losses are its bottleneck's, and
// bigger audio packets would only add to them.
func (d *DownTrack) noteLoss(fraction uint8, congested bool) {
	var change int32
	switch {
	case fraction >= redLossOn && !congested && !d.lossy.Swap(true):
		change = 1
	case (fraction <= redLossOff || congested) && d.lossy.Swap(false):
		change = -1
	default:
		return
	}
	// Under the track's lock, so that two subscribers' changes cannot
	// leave the switch at the older count.
	d.track.mu.Lock()
	d.track.media.SetREDWidening(d.track.lossy.Add(change) > 0)
	d.track.mu.Unlock()
}

// ID is the track sid: the SDK reads it from a=msid.
func (d *DownTrack) ID() string { return d.track.sid }

// RID is empty: subscribers get one plain stream.
func (d *DownTrack) RID() string { return "" }

// StreamID packs participant and track sids the way LiveKit clients expect.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind is audio or video.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// Bind picks the negotiated codec that matches the publisher's and hands
// the media path its output: the SSRC, payload type and RTX stream the
// subscriber negotiated (forwarding starts when the subscriber's loop
// selects a layer).
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.track.codec.Load()
	bind := func(c webrtc.RTPCodecParameters, redToOpus bool) (webrtc.RTPCodecParameters, error) {
		o := forward.Output{Writer: ctx.WriteStream(), SSRC: uint32(ctx.SSRC()), PayloadType: uint8(c.PayloadType),
			ClockRate: c.ClockRate, REDToOpus: redToOpus}
		for _, e := range ctx.HeaderExtensions() {
			switch e.URI {
			case sdp.ABSSendTimeURI:
				// Receivers' delay-based estimators (REMB) need the
				// send time of each packet; the edge writes it as the
				// packet leaves (forward/ext.go).
				o.AbsSendTimeID = uint8(e.ID)
			case sdp.TransportCCURI:
				// The connection's transport-wide sequence number,
				// for the edge's own estimator (estimate.go).
				o.TransportCCID = uint8(e.ID)
				d.sub.tcc.Store(true)
			}
		}
		if rtx := uint32(ctx.SSRCRetransmission()); rtx != 0 {
			apt := fmt.Sprintf("apt=%d", c.PayloadType)
			for _, r := range ctx.CodecParameters() {
				if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && r.SDPFmtpLine == apt {
					o.RTXSSRC, o.RTXPayloadType = rtx, uint8(r.PayloadType)
				}
			}
		}
		d.down.Bind(o)
		d.sub.post(d.sub.allocate)
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
	d.down.Unbind()
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

// readRTCP handles the subscriber's feedback for this track until the
// sender stops: NACKs are answered from the track's packet cache, PLI and
// FIR become rate-limited keyframe requests to the publisher, receiver
// reports give the round-trip time, and REMB is the bandwidth estimate of
// a client without transport-cc (whose feedback reaches the edge's own
// estimator before this, see estimate.go).
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
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.down.RequestKeyframe(m.now())
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			// The subscriber's receive-side estimate for the whole
			// connection, from clients that did not negotiate
			// transport-cc.
			d.sub.estimate.Store(uint64(p.Bitrate))
		case *rtcp.TransportLayerNack:
			now, rtt := m.now(), time.Duration(d.sub.rtt.Load())
			for _, pair := range p.Nacks {
				d.down.HandleNACK(pair.PacketID, uint16(pair.LostPackets), scratch, now, rtt)
			}
			d.sub.sink.Flush(nil)
		case *rtcp.ReceiverReport:
			if rtt, ok := d.down.RoundTrip(p, time.Now()); ok {
				d.sub.rtt.Store(int64(rtt))
			}
			if r, ok := d.down.Reception(p); ok {
				d.fractionLost.Store(uint32(r.FractionLost))
				if d.track.kind == webrtc.RTPCodecTypeAudio {
					e := d.sub.bwe.Estimate()
					d.noteLoss(r.FractionLost, e.Congested || e.LossBased > 0)
				}
				d.jitterMicros.Store(uint32(min(uint64(r.Jitter)*1e6/uint64(max(d.track.clockRate(), 1)), 1<<31)))
			}
		}
	}
}
