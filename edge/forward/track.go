package forward

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/mmsg"
	"github.com/spacecast/spacecast/edge/nack"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// Packet cache sizes per layer.
const (
	videoCache = 512
	audioCache = 64
)

// Upstream takes a Track's feedback to whoever sends it the media: the
// publisher's peer connection, or (for a track relayed from another edge)
// that edge. Implementations must not block; they may be called from any
// of the track's readers and from subscribers' goroutines.
type Upstream interface {
	// RequestKeyframe asks for a keyframe (PLI, RFC 4585 §6.3.1) on the
	// stream of layer with SSRC ssrc.
	RequestKeyframe(layer int, ssrc uint32)
	// RequestRetransmission asks for the packets seqs of that stream again
	// (Generic NACK, RFC 4585 §6.2.1).
	RequestRetransmission(layer int, ssrc uint32, seqs []uint16)
}

// Batcher holds the media socket's writes back between Hold and Release,
// and gives out batches a goroutine fills on its own (the edge's own SRTP
// writes; nil when the socket cannot batch). The edge/mmsg Conn is one.
type Batcher interface {
	Hold()
	Release()
	NewBatch() *mmsg.Batch
}

type noBatch struct{}

func (noBatch) Hold()                 {}
func (noBatch) Release()              {}
func (noBatch) NewBatch() *mmsg.Batch { return nil }

// RTPReader is a received stream of one layer: a *webrtc.TrackRemote (which
// hands RTX repairs over unwrapped, as if they had come late) or a relayed
// stream. SetReadDeadline bounds the wait for the rest of a frame.
type RTPReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
	SetReadDeadline(t time.Time) error
}

// TrackConfig describes a published track. Zero values mean defaults.
type TrackConfig struct {
	Codec     codec.Kind
	ClockRate uint32 // Hz; default 90000 for video, 48000 for audio
	Layers    int    // simulcast layers, 1..MaxLayers; default 1
	// Upstream receives keyframe requests and NACKs (required).
	Upstream Upstream
	// Batch brackets each fan-out so the media socket sends it together
	// (nil: no batching).
	Batch Batcher
	// Metrics counts what the track's readers see (nil: not counted).
	Metrics *Metrics
	// Now is the media clock, nanoseconds on a monotonic clock shared by
	// every track and sink of the edge (required).
	Now func() int64
	// KeyframeInterval: see SourceConfig.
	KeyframeInterval time.Duration
}

// Track is one published track on its way to its subscribers: up to
// MaxLayers received layers, each read by its own goroutine (Layer.Run),
// parsed once (Source), cached (edge/cache), repaired (edge/nack) and fanned
// out a frame at a time to the Downs of its subscribers. All methods are
// safe for concurrent use.
type Track struct {
	src      *Source
	caches   [MaxLayers]*cache.Cache
	upstream Upstream
	batch    Batcher
	metrics  *Metrics
	now      func() int64

	mu     sync.Mutex // serialises changes of downs, taps and layers
	downs  atomic.Pointer[[]*Down]
	taps   atomic.Pointer[[]Tap]
	layers [MaxLayers]atomic.Pointer[Layer]
	remote atomic.Pointer[RemoteLayers] // a relayed track's origin's view

	// loudest is the loudest audio level (dBov, 0 loudest, 127 silence)
	// since the last Loudest.
	loudest atomic.Uint32

	// widenRED: a RED track's packets carry two earlier frames, not the
	// publisher's one (SetREDWidening).
	widenRED atomic.Bool
}

// redMaxAge is how far back a widened RED packet reaches: three 20 ms
// Opus frames (a frame older than that is past most jitter buffers'
// playout by the time it is needed).
const redMaxAge = 3 * 960

// SetREDWidening turns RED widening on or off for a RED audio track (see
// codec.REDWidener): every packet then carries the two frames before its
// primary, so that a subscriber's path losing two packets in a row
// conceals nothing. It costs a frame's bytes a packet; the room turns it on
// while a subscriber of the track reports loss. No effect on other codecs.
func (t *Track) SetREDWidening(on bool) { t.widenRED.Store(on) }

// REDWidening reports whether SetREDWidening turned it on.
func (t *Track) REDWidening() bool { return t.widenRED.Load() }

// NewTrack makes a Track; it starts nothing.
func NewTrack(cfg TrackConfig) (*Track, error) {
	if cfg.Upstream == nil || cfg.Now == nil {
		return nil, fmt.Errorf("%w: Upstream and Now are required", ErrConfig)
	}
	src, err := NewSource(SourceConfig{Codec: cfg.Codec, ClockRate: cfg.ClockRate, Layers: cfg.Layers, KeyframeInterval: cfg.KeyframeInterval})
	if err != nil {
		return nil, err
	}
	t := &Track{src: src, upstream: cfg.Upstream, batch: cfg.Batch, metrics: cfg.Metrics, now: cfg.Now}
	if t.batch == nil {
		t.batch = noBatch{}
	}
	if t.metrics == nil {
		t.metrics = discardMetrics()
	}
	size := audioCache
	if cfg.Codec.IsVideo() {
		size = videoCache
	}
	for i := 0; i < src.Layers(); i++ {
		if t.caches[i], err = cache.New(cache.Config{Capacity: size, Codec: cfg.Codec}); err != nil {
			return nil, err
		}
	}
	t.downs.Store(&[]*Down{})
	t.taps.Store(&[]Tap{})
	t.loudest.Store(127)
	return t, nil
}

// Source is the track's shared publisher-side state.
func (t *Track) Source() *Source { return t.src }

// Layers is the number of simulcast layers.
func (t *Track) Layers() int { return t.src.Layers() }

// Layer is one received stream of a Track. Run reads it.
type Layer struct {
	track   *Track
	quality int
	ssrc    uint32
	r       RTPReader
	// levelExt is the RFC 6464 audio level extension's id (0: none).
	levelExt uint8

	// Reception statistics, written by the reader only.
	packets  atomic.Uint64
	expected atomic.Uint64
	lastAt   atomic.Int64 // arrival of the newest packet (media clock)
	firstAt  atomic.Int64 // arrival of the first packet (media clock)
	started  bool
	highest  uint32 // extended highest sequence number

	// Owned by the reader.
	red    *codec.REDWidener // RED audio only
	nack   *nack.Requester   // video only
	due    []uint16
	cached []byte // see scratch
	pad    []byte // a padding packet cut for the taps
}

// AddLayer records a received layer of quality q (its SSRC, its reader,
// and for audio the id of the RFC 6464 level extension, 0 if none). It
// returns nil when the layer is out of range or already there; the caller
// runs the returned layer's Run in a goroutine it owns.
func (t *Track) AddLayer(q int, ssrc uint32, r RTPReader, levelExt uint8) (*Layer, error) {
	l := &Layer{track: t, quality: q, ssrc: ssrc, r: r, levelExt: levelExt}
	if t.src.Codec() == codec.RED {
		l.red = &codec.REDWidener{}
	}
	if t.src.Codec().IsVideo() {
		var err error
		if l.nack, err = nack.New(nack.Config{}); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if q < 0 || q >= t.src.Layers() || t.layers[q].Load() != nil {
		return nil, fmt.Errorf("%w: layer %d of %d, or already received", ErrLayer, q, t.src.Layers())
	}
	t.layers[q].Store(l)
	return l, nil
}

// Quality is the layer's index (livekit.VideoQuality for simulcast).
func (l *Layer) Quality() int { return l.quality }

// Run reads the layer until its reader fails (the publisher removed the
// track, or the connection closed), forwarding every packet. Per packet it
// parses once and caches; then it hands the packet to every subscriber's
// forwarder (which copies it into that subscriber's bounded queue): no
// allocation, no lock besides the forwarders' uncontended ones.
//
// Video is fanned out a frame at a time: the packets of a frame (up to the
// one with the marker bit) are collected first and then forwarded to each
// subscriber back to back, inside one Batch hold, so that the media socket
// sends each subscriber's share of the frame as one segmented (GSO) write.
// A frame is not decodable before its last packet anyway, so this delays
// no frame; a frame whose last packet is lost waits at most frameWait.
func (l *Layer) Run() {
	t := l.track
	m := t.metrics
	f := frameBuf{group: t.src.Codec().IsVideo()}
	batch := t.batch.NewBatch() // this reader's, for the edge's own SRTP writes
	out := func(pkts []Packet) { l.fanout(pkts, batch) }
	var h rtp.Header
	c := t.caches[l.quality]
	waiting := false // a read deadline is set for the rest of a frame
	for {
		buf := f.next()
		n, _, err := l.r.Read(buf)
		if err != nil {
			f.flush(out) // the frame's last packet is late, lost, or never coming
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				_ = l.r.SetReadDeadline(time.Time{})
				waiting = false
				continue
			}
			return
		}
		now := t.now()
		if l.red != nil {
			if h, err := codec.ParseRTP(buf[:n]); err == nil {
				n = l.red.Widen(buf, n, h, t.widenRED.Load(), redMaxAge)
			}
		}
		pkt, err := t.src.Parse(buf[:n], l.quality, now)
		if err != nil {
			m.Malformed.Inc()
			continue
		}
		l.count(pkt.Header.Seq, now)
		if l.nack != nil {
			l.requestLost(pkt.Header.Seq, now)
		}
		if l.levelExt != 0 {
			if _, err := h.Unmarshal(buf[:n]); err == nil {
				if e := h.GetExtension(l.levelExt); len(e) > 0 {
					t.NoteLevel(uint32(e[0] & 0x7f))
				}
			}
		}
		switch {
		case pkt.Header.PayloadLen() == 0:
			// Padding only, a bandwidth probe: the forwarders take its
			// number out of their subscribers' sequence spaces (it must
			// reach them, in order, or it would leave a hole).
			m.Padding.Inc()
		case !c.StoreParsed(buf[:n], pkt.Header.Seq, pkt.Header.Timestamp, pkt.Keyframe):
			// Already forwarded (a retransmission that crossed its late
			// original, a probe repeating a recent packet), or older than
			// anything a subscriber could still use.
			m.Duplicate.Inc()
			continue
		default:
			m.Received.Inc()
		}
		l.tap(&pkt)
		switch pending := f.add(pkt, out); {
		case pending && !waiting:
			_ = l.r.SetReadDeadline(time.Now().Add(frameWait))
			waiting = true
		case !pending && waiting:
			_ = l.r.SetReadDeadline(time.Time{})
			waiting = false
		}
	}
}

// frameWait is how long a frame's packets wait for the rest of the frame.
const frameWait = 20 * time.Millisecond

// maxFramePackets bounds the packets fanned out together.
const maxFramePackets = 16

// frameBuf is the packets of one video frame collected by a layer's reader
// (one packet at a time for audio).
type frameBuf struct {
	group bool // collect up to the marker bit (video)
	n     int
	bufs  [maxFramePackets][]byte // read buffers, allocated on first use
	pkts  [maxFramePackets]Packet
}

// next returns the buffer the next packet is read into.
func (f *frameBuf) next() []byte {
	if f.bufs[f.n] == nil {
		f.bufs[f.n] = make([]byte, 1500)
	}
	return f.bufs[f.n]
}

// add takes pkt, just read into next(). A packet of a new frame first
// sends the frame collected so far (its marker was lost or late); a packet
// that completes its frame (marker bit, a full buffer, or any audio packet)
// sends the frame with it. It reports whether packets remain collected.
func (f *frameBuf) add(pkt Packet, out func([]Packet)) (pending bool) {
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
func (f *frameBuf) flush(out func([]Packet)) {
	if f.n > 0 {
		out(f.pkts[:f.n])
		f.n = 0
	}
}

// fanout forwards pkts (one frame) to every subscriber, each subscriber's
// packets back to back, inside one Batch hold; what the edge encrypts
// itself goes into batch (nil: straight to the socket), sent at the end.
func (l *Layer) fanout(pkts []Packet, batch *mmsg.Batch) {
	t := l.track
	now := t.now()
	t.batch.Hold()
	for _, d := range *t.downs.Load() {
		sent := false
		for i := range pkts {
			res := d.fwd.Forward(&pkts[i])
			switch res.Verdict {
			case Sent:
				sent = true
			case Dropped:
				t.metrics.Dropped.Inc()
			}
			if res.KeyframeLayer >= 0 {
				t.RequestKeyframe(int(res.KeyframeLayer), now)
			}
			if res.Switched {
				// A new segment: send what came before its first packet
				// although it follows it (the rest of this frame too,
				// which the forwarder then takes as duplicates).
				d.fwd.CatchUp(t.caches[l.quality], l.quality, pkts[i].Header.Seq, l.scratch(), now)
			}
		}
		if sent {
			d.sink.Flush(batch) // the subscriber's share of the frame, back to back
		}
	}
	if batch != nil {
		batch.Send()
	}
	t.batch.Release()
}

// requestLost records seq with the layer's NACK requester and asks the
// publisher for what is due, or for a keyframe when the gap is too large to
// repair (the layer's reader only).
func (l *Layer) requestLost(seq uint16, now int64) {
	t := l.track
	if l.nack.Received(seq, now) {
		t.RequestKeyframe(l.quality, now)
	}
	due := l.nack.Due(now, l.due[:0])
	if len(due) == 0 {
		return
	}
	l.due = due
	t.upstream.RequestRetransmission(l.quality, l.ssrc, due)
	t.metrics.NACKSent.Add(float64(len(due)))
}

// scratch is the reader's buffer for packets read back from the cache.
func (l *Layer) scratch() []byte {
	if l.cached == nil {
		l.cached = make([]byte, cache.DefaultMaxPacket)
	}
	return l.cached
}

func (l *Layer) count(seq uint16, now int64) {
	l.packets.Add(1)
	l.lastAt.Store(now)
	if !l.started {
		l.started = true
		l.firstAt.Store(now)
		l.highest = uint32(seq)
		l.expected.Store(1)
		return
	}
	if diff := int32(int16(seq - uint16(l.highest))); diff > 0 {
		l.expected.Add(uint64(diff))
		l.highest += uint32(diff)
	}
}

// RequestKeyframe asks the publisher for a keyframe on layer q, at most
// once per KeyframeInterval for the whole track (Source.RequestKeyframe).
func (t *Track) RequestKeyframe(q int, now int64) {
	if q < 0 || q >= t.src.Layers() || !t.src.RequestKeyframe(q, now) {
		return
	}
	l := t.layers[q].Load()
	if l == nil {
		return
	}
	t.upstream.RequestKeyframe(q, l.ssrc)
	t.metrics.PLISent.Inc()
}

// layerIdle is how long a layer may go without packets and still count as
// sent by the publisher.
const layerIdle = 2 * time.Second

// SimLayers describes the layers for simulcast.Allocator, lowest first,
// with their sizes from sizes (by quality), whether they arrive now, and
// their temporal layers' bitrates.
func (t *Track) SimLayers(now int64, sizes func(q int) (w, h uint32), dst []simulcast.Layer) []simulcast.Layer {
	dst = dst[:0]
	for q := 0; q < t.src.Layers(); q++ {
		l := simulcast.Layer{Quality: livekit.VideoQuality(q), Bitrate: t.src.Bitrate(q, now)}
		l.Temporals = t.src.TemporalBitrates(q, now, &l.Temporal)
		if sizes != nil {
			l.Width, l.Height = sizes(q)
		}
		if t.remoteLayer(q, now, &l) {
			// A relayed track: the origin says what the publisher sends.
		} else if x := t.layers[q].Load(); x != nil && now-x.lastAt.Load() < int64(layerIdle) {
			l.Active = true
			l.Ramping = now-x.firstAt.Load() < int64(simulcast.RampWindow)
		}
		dst = append(dst, l)
	}
	return dst
}

// Reception is what the track's layers received so far: the packets
// their sequence numbers say were sent (expected) and those that arrived,
// repairs included.
func (t *Track) Reception() (expected, received uint64) {
	for q := 0; q < t.src.Layers(); q++ {
		if l := t.layers[q].Load(); l != nil {
			expected += l.expected.Load()
			received += l.packets.Load()
		}
	}
	return expected, received
}

// NoteLevel records an audio level (RFC 6464: dBov, 0 loudest, 127
// silence) heard on the track; the layer reader notes every packet's.
func (t *Track) NoteLevel(level uint32) {
	for {
		cur := t.loudest.Load()
		if level >= cur || t.loudest.CompareAndSwap(cur, level) {
			return
		}
	}
}

// Loudest returns the loudest audio level (dBov: 0 loudest, 127 silence)
// since the last call, and starts over.
func (t *Track) Loudest() uint32 { return t.loudest.Swap(127) }

// Cache is the packet cache of layer q (nil if out of range).
func (t *Track) Cache(q int) *cache.Cache {
	if q < 0 || q >= MaxLayers {
		return nil
	}
	return t.caches[q]
}

func (t *Track) addDown(d *Down) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	n := make([]*Down, 0, len(old)+1)
	n = append(n, old...)
	n = append(n, d)
	t.downs.Store(&n)
}

func (t *Track) removeDown(d *Down) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.downs.Load()
	n := make([]*Down, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	t.downs.Store(&n)
}

// Downs is the number of subscribers' copies.
func (t *Track) Downs() int { return len(*t.downs.Load()) }
