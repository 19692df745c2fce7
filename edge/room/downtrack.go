package room

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// DownTrack forwards one PubTrack to one subscriber. It is the pion
// TrackLocal added to the subscriber's peer connection: SSRC and payload type
// are rewritten to the subscriber's, header extensions are stripped (the
// subscriber's interceptors add their own), and for simulcast one chosen
// layer is forwarded with sequence numbers and timestamps made continuous
// across switches.
type DownTrack struct {
	track    *PubTrack
	sub      *Participant
	streamID string

	bound atomic.Pointer[binding]

	// target is the wanted layer (-1 paused); current is the forwarded one.
	target  atomic.Int32
	current atomic.Int32

	mu sync.Mutex // held per packet only for simulcast tracks (uncontended)

	// Written by the forwarding goroutine only.
	hdr      rtp.Header
	ext      [4]rtp.Extension
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16
	lastTS   uint32
	lastAt   int64
	wroteAny bool

	packets atomic.Uint64
	dropped atomic.Uint64

	sender *webrtc.RTPSender
}

type binding struct {
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
}

func newDownTrack(t *PubTrack, sub *Participant, target int) *DownTrack {
	d := &DownTrack{track: t, sub: sub, streamID: t.owner.sid + "|" + t.sid}
	d.target.Store(int32(target))
	d.current.Store(-1)
	if !t.simulcast {
		d.current.Store(int32(t.bestLayer(target)))
	}
	return d
}

// ID is the track sid: the SDK reads it from a=msid.
func (d *DownTrack) ID() string { return d.track.sid }

// RID is empty: subscribers get one plain stream.
func (d *DownTrack) RID() string { return "" }

// StreamID packs participant and track sids the way LiveKit clients expect.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind is audio or video.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// Bind picks the negotiated codec that matches the publisher's.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.track.codec.Load()
	for _, c := range ctx.CodecParameters() {
		if want == nil || strings.EqualFold(c.MimeType, want.MimeType) && fmtpMatch(c, *want) {
			d.bound.Store(&binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType)})
			d.track.requestKeyframe(int(d.current.Load()))
			return c, nil
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

// setTarget chooses the layer to forward (-1 pauses).
func (d *DownTrack) setTarget(q int) {
	if old := d.target.Swap(int32(q)); int(old) != q && q >= 0 {
		d.track.requestKeyframe(d.track.bestLayer(q))
	}
	if !d.track.simulcast {
		if q < 0 {
			d.current.Store(-1)
		} else {
			d.current.Store(int32(d.track.bestLayer(q)))
		}
	}
}

// write forwards one packet received on layer q.
func (d *DownTrack) write(q int, src *rtp.Header, payload []byte) {
	if !d.track.simulcast {
		if int32(q) != d.current.Load() {
			return
		}
		d.forward(src, payload)
		return
	}
	cur, tgt := d.current.Load(), d.target.Load()
	if int32(q) != cur && int32(q) != int32(d.track.bestLayer(int(tgt))) {
		return
	}
	if tgt < 0 {
		return
	}
	d.mu.Lock()
	if int32(q) != d.current.Load() {
		// Switch: continue the sequence and timestamp where the last
		// layer stopped.
		if d.wroteAny {
			d.seqOff = d.lastSeq + 1 - src.SequenceNumber
			elapsed := uint32(time.Duration(time.Now().UnixNano()-d.lastAt) * 90 / time.Millisecond)
			d.tsOff = d.lastTS + max(elapsed, 1) - src.Timestamp
		}
		d.current.Store(int32(q))
	}
	d.forward(src, payload)
	d.mu.Unlock()
}

func (d *DownTrack) forward(src *rtp.Header, payload []byte) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	h := &d.hdr
	*h = *src
	h.SSRC = b.ssrc
	h.PayloadType = b.pt
	h.Extension = false
	h.Extensions = d.ext[:0]
	h.SequenceNumber += d.seqOff
	h.Timestamp += d.tsOff
	if _, err := b.w.WriteRTP(h, payload); err != nil {
		d.dropped.Add(1)
		d.sub.room.mgr.metrics.packetsDropped.Inc()
		return
	}
	d.lastSeq, d.lastTS, d.wroteAny = h.SequenceNumber, h.Timestamp, true
	if d.track.simulcast {
		d.lastAt = time.Now().UnixNano()
	}
	d.packets.Add(1)
	d.sub.room.mgr.metrics.packetsOut.Inc()
}

// readRTCP handles the subscriber's feedback for this track until the
// sender stops: PLI and FIR become rate-limited keyframe requests to the
// publisher (NACKs are answered by the NACK responder interceptor).
func (d *DownTrack) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, _, err := d.sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.track.requestKeyframe(int(d.current.Load()))
			}
		}
	}
}
