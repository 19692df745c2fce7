package room

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/mmsg"
	"github.com/spacecast/spacecast/edge/nack"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// Simulcast layers by quality index (livekit.VideoQuality LOW, MEDIUM, HIGH).
const maxLayers = 3

// Packet cache sizes per layer.
const (
	videoCache = 512
	audioCache = 64
)

// audioLevelURI is RFC 6464's client-to-mixer audio level extension.
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// PubTrack is one published track: up to three received layers, the shared
// forward.Source, one packet cache per layer, and the down tracks that
// forward it to subscribers.
type PubTrack struct {
	sid       string
	owner     *Participant
	kind      webrtc.RTPCodecType
	simulcast bool
	src       *forward.Source
	caches    [maxLayers]*cache.Cache
	demand    *simulcast.Demand

	info atomic.Pointer[livekit.TrackInfo] // immutable snapshot

	mu     sync.Mutex // serialises changes of downs and layers
	downs  atomic.Pointer[[]*DownTrack]
	layers [maxLayers]atomic.Pointer[layer]
	codec  atomic.Pointer[webrtc.RTPCodecParameters]

	// Audio level: loudest level (dBov, 0 loudest, 127 silence) since the
	// room's last speaker tick.
	loudest atomic.Uint32

	closed chan struct{}
	once   sync.Once
}

type layer struct {
	track   *PubTrack
	quality int
	remote  rtpReader
	ssrc    uint32
	// nack asks the publisher for what this layer lost (video only; nil
	// for audio); owned by the layer's reader, like due.
	nack   *nack.Requester
	due    []uint16
	cached []byte // see scratch

	// Reception statistics, written by the layer's reader only.
	packets  atomic.Uint64
	expected atomic.Uint64
	lastAt   atomic.Int64 // arrival of the newest packet (manager clock)
	started  bool
	highest  uint32 // extended highest sequence number
}

// rtpReader is a received layer's stream (a *webrtc.TrackRemote), which
// hands over RTX-repaired packets unwrapped, as if they had come late.
type rtpReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
	SetReadDeadline(t time.Time) error
}

func newPubTrack(owner *Participant, info *livekit.TrackInfo, remote *webrtc.TrackRemote) (*PubTrack, error) {
	return newPubTrackCodec(owner, info, remote.Kind(), remote.Codec())
}

func newPubTrackCodec(owner *Participant, info *livekit.TrackInfo, kindRTP webrtc.RTPCodecType, c webrtc.RTPCodecParameters) (*PubTrack, error) {
	kind := codec.KindFromMime(c.MimeType)
	layers := 1
	if info.Simulcast {
		layers = maxLayers
	}
	src, err := forward.NewSource(forward.SourceConfig{Codec: kind, ClockRate: c.ClockRate, Layers: layers})
	if err != nil {
		return nil, err
	}
	t := &PubTrack{
		sid: info.Sid, owner: owner, kind: kindRTP, simulcast: info.Simulcast, src: src,
		demand: simulcast.NewDemand(layers), closed: make(chan struct{}),
	}
	size := audioCache
	if kind.IsVideo() {
		size = videoCache
	}
	for i := 0; i < layers; i++ {
		if t.caches[i], err = cache.New(cache.Config{Capacity: size, Codec: kind}); err != nil {
			return nil, err
		}
	}
	t.codec.Store(&c)
	t.info.Store(info)
	t.downs.Store(&[]*DownTrack{})
	t.loudest.Store(127)
	return t, nil
}

// Info is the track's current TrackInfo snapshot (do not modify).
func (t *PubTrack) Info() *livekit.TrackInfo { return t.info.Load() }

// SID is the track's id.
func (t *PubTrack) SID() string { return t.sid }

func (t *PubTrack) updateInfo(f func(*livekit.TrackInfo)) *livekit.TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := proto.Clone(t.info.Load()).(*livekit.TrackInfo)
	f(n)
	t.info.Store(n)
	return n
}

// addLayer records a received layer and reports whether it is new.
func (t *PubTrack) addLayer(l *layer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.quality >= t.src.Layers() || t.layers[l.quality].Load() != nil {
		return false
	}
	t.layers[l.quality].Store(l)
	return true
}

func (t *PubTrack) addDown(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	n := make([]*DownTrack, 0, len(old)+1)
	n = append(n, old...)
	n = append(n, d)
	t.downs.Store(&n)
}

func (t *PubTrack) removeDown(d *DownTrack) {
	t.mu.Lock()
	old := *t.downs.Load()
	n := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	t.downs.Store(&n)
	t.mu.Unlock()
	if t.demand.Remove(d.sub.sid) {
		t.sendDemand()
	}
}

func (t *PubTrack) close() { t.once.Do(func() { close(t.closed) }) }

// keyframe asks the publisher for a keyframe on layer q; forward.Source
// collapses the requests of all subscribers into one per interval.
func (t *PubTrack) keyframe(q int, now int64) {
	if q < 0 || q >= maxLayers || !t.src.RequestKeyframe(q, now) {
		return
	}
	l := t.layers[q].Load()
	if l == nil {
		return
	}
	t.owner.writePublisherRTCP(&rtcp.PictureLossIndication{MediaSSRC: l.ssrc})
	t.owner.room.mgr.metrics.pliSent.Inc()
}

// simLayers describes the layers for simulcast.Selector, lowest first.
func (t *PubTrack) simLayers(now int64, dst []simulcast.Layer) []simulcast.Layer {
	dst = dst[:0]
	info := t.Info()
	for q := 0; q < t.src.Layers(); q++ {
		l := simulcast.Layer{Quality: livekit.VideoQuality(q), Bitrate: t.src.Bitrate(q, now)}
		for _, vl := range info.Layers {
			if int(vl.Quality) == q {
				l.Width, l.Height = vl.Width, vl.Height
			}
		}
		if x := t.layers[q].Load(); x != nil && now-x.lastAt.Load() < int64(layerIdle) {
			l.Active = true
		}
		dst = append(dst, l)
	}
	return dst
}

// setDemand records the highest layer a subscriber wants and tells the
// publisher which layers somebody watches (dynacast).
func (t *PubTrack) setDemand(subscriber string, maxLayer int) {
	if t.simulcast && t.demand.Set(subscriber, maxLayer) {
		t.sendDemand()
	}
}

func (t *PubTrack) sendDemand() {
	if !t.simulcast {
		return
	}
	t.owner.sendAsync(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscribedQualityUpdate{
		SubscribedQualityUpdate: t.demandUpdate(),
	}})
}

// demandUpdate says which layers somebody watches.
func (t *PubTrack) demandUpdate() *livekit.SubscribedQualityUpdate {
	qs := make([]livekit.VideoQuality, t.src.Layers())
	for i := range qs {
		qs[i] = livekit.VideoQuality(i)
	}
	return &livekit.SubscribedQualityUpdate{TrackSid: t.sid, SubscribedQualities: t.demand.SubscribedQualities(qs)}
}

// loss returns the fraction of packets lost on the best layer since start.
func (t *PubTrack) loss() float64 {
	for q := maxLayers - 1; q >= 0; q-- {
		if l := t.layers[q].Load(); l != nil {
			exp, got := l.expected.Load(), l.packets.Load()
			if exp == 0 || got >= exp {
				return 0
			}
			return float64(exp-got) / float64(exp)
		}
	}
	return 0
}

// read forwards a received layer until it ends. It runs in its own
// goroutine owned by the publishing participant. Per packet it parses once
// and caches; then it hands the packet to every subscriber's forwarder
// (which copies it into that subscriber's bounded queue): no allocation, no
// lock besides the forwarders' uncontended ones.
//
// Video is fanned out a frame at a time: the packets of a frame (up to the
// one with the marker bit) are collected first and then forwarded to each
// subscriber back to back, inside one Batch hold, so that the media socket
// sends each subscriber's share of the frame as one segmented (GSO) write.
// A frame is not decodable before its last packet anyway, so this delays
// no frame; a frame whose last packet is lost waits at most frameWait.
func (l *layer) read(levelExt uint8) {
	t := l.track
	m := t.owner.room.mgr
	f := frame{group: t.kind == webrtc.RTPCodecTypeVideo}
	batch := m.cfg.Batch.NewBatch() // this reader's, for the edge's own SRTP writes
	out := func(pkts []forward.Packet) { l.fanout(pkts, batch) }
	var h rtp.Header
	c := t.caches[l.quality]
	waiting := false // a read deadline is set for the rest of a frame
	for {
		buf := f.next()
		n, _, err := l.remote.Read(buf)
		if err != nil {
			f.flush(out) // the frame's last packet is late, lost, or never coming
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				_ = l.remote.SetReadDeadline(time.Time{})
				waiting = false
				continue
			}
			return
		}
		now := m.now()
		pkt, err := t.src.Parse(buf[:n], l.quality, now)
		if err != nil {
			m.metrics.packetsMalformed.Inc()
			continue
		}
		l.count(pkt.Header.Seq, now)
		if l.nack != nil {
			l.requestLost(pkt.Header.Seq, now)
		}
		if levelExt != 0 {
			if _, err := h.Unmarshal(buf[:n]); err == nil {
				if e := h.GetExtension(levelExt); len(e) > 0 {
					if lvl := uint32(e[0] & 0x7f); lvl < t.loudest.Load() {
						t.loudest.Store(lvl)
					}
				}
			}
		}
		switch {
		case pkt.Header.PayloadLen() == 0:
			// Padding only, a bandwidth probe: the forwarders take its
			// number out of their subscribers' sequence spaces (it must
			// reach them, in order, or it would leave a hole).
			m.metrics.paddingIn.Inc()
		case !c.StoreParsed(buf[:n], pkt.Header.Seq, pkt.Header.Timestamp, pkt.Keyframe):
			// Already forwarded (a retransmission that crossed its late
			// original, a probe repeating a recent packet), or older than
			// anything a subscriber could still use.
			m.metrics.packetsDuplicate.Inc()
			continue
		default:
			m.metrics.packetsIn.Inc()
		}
		switch pending := f.add(pkt, out); {
		case pending && !waiting:
			_ = l.remote.SetReadDeadline(time.Now().Add(frameWait))
			waiting = true
		case !pending && waiting:
			_ = l.remote.SetReadDeadline(time.Time{})
			waiting = false
		}
	}
}

// frameWait is how long a frame's packets wait for the rest of the frame.
const frameWait = 20 * time.Millisecond

// maxFramePackets bounds the packets fanned out together.
const maxFramePackets = 16

// frame is the packets of one video frame collected by a layer's reader
// (one packet at a time for audio).
type frame struct {
	group bool // collect up to the marker bit (video)
	n     int
	bufs  [maxFramePackets][]byte // read buffers, allocated on first use
	pkts  [maxFramePackets]forward.Packet
}

// next returns the buffer the next packet is read into.
func (f *frame) next() []byte {
	if f.bufs[f.n] == nil {
		f.bufs[f.n] = make([]byte, 1500)
	}
	return f.bufs[f.n]
}

// add takes pkt, just read into next(). A packet of a new frame first
// sends the frame collected so far (its marker was lost or late); a packet
// that completes its frame (marker bit, a full buffer, or any audio packet)
// sends the frame with it. It reports whether packets remain collected.
func (f *frame) add(pkt forward.Packet, out func([]forward.Packet)) (pending bool) {
	if f.n > 0 && pkt.Header.Timestamp != f.pkts[0].Header.Timestamp {
		out(f.pkts[:f.n])
		// pkt's buffer (slot n) becomes slot 0.
		f.bufs[0], f.bufs[f.n] = f.bufs[f.n], f.bufs[0]
		f.n = 0
	}
	f.pkts[f.n] = pkt
	f.n++
	// A probe between frames goes at once; one inside a frame keeps its
	// place in it.
	probe := f.n == 1 && pkt.Header.PayloadLen() == 0
	if !f.group || pkt.Header.Marker || f.n == maxFramePackets || probe {
		out(f.pkts[:f.n])
		f.n = 0
	}
	return f.n > 0
}

// flush sends what is collected.
func (f *frame) flush(out func([]forward.Packet)) {
	if f.n > 0 {
		out(f.pkts[:f.n])
		f.n = 0
	}
}

// fanout forwards pkts (one frame) to every subscriber, each subscriber's
// packets back to back, inside one Batch hold; what the edge encrypts
// itself goes into batch (nil: straight to the socket), sent at the end.
func (l *layer) fanout(pkts []forward.Packet, batch *mmsg.Batch) {
	t := l.track
	m := t.owner.room.mgr
	now := m.now()
	m.cfg.Batch.Hold()
	for _, d := range *t.downs.Load() {
		sent := false
		for i := range pkts {
			res := d.fwd.Forward(&pkts[i])
			switch res.Verdict {
			case forward.Sent:
				sent = true
			case forward.Dropped:
				m.metrics.packetsDropped.Inc()
			}
			if res.KeyframeLayer >= 0 {
				t.keyframe(int(res.KeyframeLayer), now)
			}
			if res.Switched {
				// A new segment: send what came before its first packet
				// although it follows it (the rest of this frame too,
				// which the forwarder then takes as duplicates).
				d.fwd.CatchUp(t.caches[l.quality], l.quality, pkts[i].Header.Seq, l.scratch(), now)
			}
		}
		if sent {
			d.sub.flush(batch) // the subscriber's share of the frame, back to back
		}
	}
	if batch != nil {
		batch.Send()
	}
	m.cfg.Batch.Release()
}

// requestLost records seq with the layer's NACK requester and sends the
// publisher a Generic NACK (RFC 4585 §6.2.1) for what is due, or a keyframe
// request when the gap is too large to repair (the layer's reader only).
func (l *layer) requestLost(seq uint16, now int64) {
	t := l.track
	if l.nack.Received(seq, now) {
		t.keyframe(l.quality, now)
	}
	due := l.nack.Due(now, l.due[:0])
	if len(due) == 0 {
		return
	}
	l.due = due
	t.owner.writePublisherRTCP(&rtcp.TransportLayerNack{MediaSSRC: l.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(due)})
	t.owner.room.mgr.metrics.nackSent.Add(float64(len(due)))
}

// scratch is the reader's buffer for packets read back from the cache.
func (l *layer) scratch() []byte {
	if l.cached == nil {
		l.cached = make([]byte, cache.DefaultMaxPacket)
	}
	return l.cached
}

func (l *layer) count(seq uint16, now int64) {
	l.packets.Add(1)
	l.lastAt.Store(now)
	if !l.started {
		l.started = true
		l.highest = uint32(seq)
		l.expected.Store(1)
		return
	}
	if diff := int32(int16(seq - uint16(l.highest))); diff > 0 {
		l.expected.Add(uint64(diff))
		l.highest += uint32(diff)
	}
}
