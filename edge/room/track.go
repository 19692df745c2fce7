package room

import (
	"strings"

	"sync"
	"sync/atomic"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// Simulcast layers by quality index (livekit.VideoQuality LOW, MEDIUM, HIGH).
const maxLayers = 3

// audioLevelURI is RFC 6464's client-to-mixer audio level extension.
const audioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// PubTrack is one published track as the room sees it: its TrackInfo, who
// watches which layer (dynacast), and its media on their way to the
// subscribers (forward.Track).
type PubTrack struct {
	sid   string
	owner *Participant // nil for a track relayed from another edge
	// ownerSID and ownerIdentity name the publisher, here or on the edge
	// the track is relayed from; speaking is whether it speaks now (its
	// Participant's flag, or its remotePart's).
	ownerSID, ownerIdentity string
	speaking                *atomic.Bool
	kind                    webrtc.RTPCodecType
	simulcast               bool
	media                   *forward.Track
	demand                  *simulcast.Demand

	info  atomic.Pointer[livekit.TrackInfo] // immutable snapshot
	codec atomic.Pointer[webrtc.RTPCodecParameters]
	// levelExt is the publisher's RFC 6464 audio level extension id (0:
	// none), which relayed packets keep.
	levelExt uint8

	// pull is how a relayed track reaches this edge (nil: published here);
	// feeds are the other edges this edge relays it to (remote.go,
	// origin.go).
	pull  *pull
	feeds []*originFeed // guarded by mu

	// up is what the readers had counted at the last quality rating
	// (quality.go; the room's goroutine only).
	up upstream
	// view is the layers as last described for layer choice (simLayers).
	view atomic.Pointer[layerView]
	// recorded: a recording on this edge taps the track (record.go).
	recorded atomic.Bool
	// lossy counts the subscribers whose receiver reports show loss on
	// this track (DownTrack.noteLoss): a RED track is widened while any
	// does.
	lossy atomic.Int32

	mu     sync.Mutex // serialises changes of info (and of RED widening)
	closed chan struct{}
	once   sync.Once
}

func newPubTrack(owner *Participant, info *livekit.TrackInfo, remote *webrtc.TrackRemote) (*PubTrack, error) {
	return newPubTrackCodec(owner, info, remote.Kind(), remote.Codec())
}

func newPubTrackCodec(owner *Participant, info *livekit.TrackInfo, kindRTP webrtc.RTPCodecType, c webrtc.RTPCodecParameters) (*PubTrack, error) {
	layers := 1
	//lint:ignore SA1019 TrackInfo.simulcast, which the edge fills for livekit-client, says the track has layers
	if info.Simulcast {
		layers = maxLayers
	}
	t := &PubTrack{
		sid: info.Sid, owner: owner, ownerSID: owner.sid, ownerIdentity: owner.identity, speaking: &owner.speaking,
		//lint:ignore SA1019 TrackInfo.simulcast, which the edge fills for livekit-client, says the track has layers
		kind: kindRTP, simulcast: info.Simulcast,
		demand: simulcast.NewDemand(layers), closed: make(chan struct{}),
	}
	if err := t.init(owner.room.mgr, info, c, layers, publisherFeedback{owner}); err != nil {
		return nil, err
	}
	return t, nil
}

// init makes the track's media path, fed by its publisher's connection or
// by the relay (up).
func (t *PubTrack) init(m *Manager, info *livekit.TrackInfo, c webrtc.RTPCodecParameters, layers int, up forward.Upstream) error {
	var err error
	t.media, err = forward.NewTrack(forward.TrackConfig{
		Codec: codec.KindFromMime(c.MimeType), ClockRate: c.ClockRate, Layers: layers,
		Upstream: up, Batch: m.cfg.Batch, Metrics: m.metrics.media, Now: m.now,
	})
	if err != nil {
		return err
	}
	t.codec.Store(&c)
	t.info.Store(info)
	return nil
}

// publisherFeedback sends a track's keyframe requests and NACKs to its
// publisher (forward.Upstream).
type publisherFeedback struct{ p *Participant }

func (f publisherFeedback) RequestKeyframe(_ int, ssrc uint32) {
	f.p.writePublisherRTCP(&rtcp.PictureLossIndication{MediaSSRC: ssrc})
}

func (f publisherFeedback) RequestRetransmission(_ int, ssrc uint32, seqs []uint16) {
	f.p.writePublisherRTCP(&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
}

// Media is the track's media path (counters and caches, for tests and
// benchmarks).
func (t *PubTrack) Media() *forward.Track { return t.media }

// Pulled is the layers of a relayed track this edge pulls from the
// publisher's edge now (bit i: layer i); 0 for a track published here.
func (t *PubTrack) Pulled() uint8 {
	if t.pull == nil {
		return 0
	}
	return uint8(t.pull.mask.Load())
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

func (t *PubTrack) close() { t.once.Do(func() { close(t.closed) }) }

// clockRate is the track's RTP clock rate (0: not known yet).
func (t *PubTrack) clockRate() uint32 {
	if c := t.codec.Load(); c != nil {
		return c.ClockRate
	}
	return 0
}

// keyframe asks the publisher for a keyframe on layer q; forward.Source
// collapses the requests of all subscribers into one per interval.
func (t *PubTrack) keyframe(q int, now int64) { t.media.RequestKeyframe(q, now) }

// layerViewAge is how long a track's description of its layers serves
// its subscribers' layer choices (which run every selectEvery) before it
// is made again: once per track rather than once per subscriber.
const layerViewAge = int64(selectEvery / 2)

// layerView is a track's layers as simLayers described them at a time
// (media clock); immutable.
type layerView struct {
	at     int64
	layers []simulcast.Layer
}

// simLayers describes the layers for simulcast.Allocator into dst, lowest
// first, as made within layerViewAge by any subscriber or made now. A
// layer whose bitrate is not measured (nothing lately) costs what the
// publisher announced for it (livekit-client announces its encodings'
// maximum bitrates), not nothing.
func (t *PubTrack) simLayers(now int64, dst []simulcast.Layer) []simulcast.Layer {
	if v := t.view.Load(); v != nil && now >= v.at && now-v.at < layerViewAge {
		return append(dst[:0], v.layers...)
	}
	info := t.Info()
	l := t.media.SimLayers(now, func(q int) (w, h uint32) {
		//lint:ignore SA1019 TrackInfo.layers carry the sizes and bitrates livekit-client announces
		for _, vl := range info.Layers {
			if int(vl.Quality) == q {
				return vl.Width, vl.Height
			}
		}
		return 0, 0
	}, nil)
	for i := range l {
		if l[i].Bitrate != 0 && !l[i].Ramping {
			continue
		}
		//lint:ignore SA1019 TrackInfo.layers carry the sizes and bitrates livekit-client announces
		for _, vl := range info.Layers {
			if int(vl.Quality) == i {
				announce(&l[i], uint64(vl.Bitrate))
			}
		}
	}
	t.view.Store(&layerView{at: now, layers: l})
	return append(dst[:0], l...)
}

// announce makes layer l cost at least what its publisher announced (an
// unmeasured or ramping layer would otherwise look cheaper than it will
// be: a new subscriber placed on 720p by the first second's bitrate meets
// it a second later at twice that), its temporal layers in proportion.
func announce(l *simulcast.Layer, announced uint64) {
	if announced <= l.Bitrate {
		return
	}
	if l.Bitrate > 0 {
		for k := range l.Temporal {
			l.Temporal[k] = l.Temporal[k] * announced / l.Bitrate
		}
	} else {
		for k := range l.Temporals {
			// Unmeasured: each temporal layer up doubles the frame rate;
			// the base carries about half the bits (Chromium's VP8).
			l.Temporal[k] = announced >> (l.Temporals - 1 - k)
		}
	}
	l.Bitrate = announced
}

// setDemand records the highest layer a subscriber wants and tells the
// publisher which layers somebody watches (dynacast).
func (t *PubTrack) setDemand(subscriber string, maxLayer int) {
	if t.simulcast && t.demand.Set(subscriber, maxLayer) {
		t.sendDemand()
	}
}

// dropDemand forgets a subscriber that stopped watching.
func (t *PubTrack) dropDemand(subscriber string) {
	if t.demand.Remove(subscriber) {
		t.sendDemand()
	}
}

func (t *PubTrack) sendDemand() {
	if !t.simulcast || t.owner == nil {
		return // a relayed track's demand goes across as the layers it pulls
	}
	t.owner.sendAsync(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscribedQualityUpdate{
		SubscribedQualityUpdate: t.demandUpdate(),
	}})
}

// demandUpdate says which layers somebody watches.
func (t *PubTrack) demandUpdate() *livekit.SubscribedQualityUpdate {
	qs := make([]livekit.VideoQuality, t.media.Layers())
	for i := range qs {
		qs[i] = livekit.VideoQuality(i)
	}
	sq := t.demand.SubscribedQualities(qs)
	u := &livekit.SubscribedQualityUpdate{TrackSid: t.sid}
	// livekit-client 2.x reads subscribedCodecs (per codec, the codec
	// name as it publishes it: "vp8"); older clients and the Go SDK read
	// subscribedQualities.
	if c := t.codec.Load(); c != nil {
		if _, name, ok := strings.Cut(c.MimeType, "/"); ok {
			u.SubscribedCodecs = []*livekit.SubscribedCodec{{Codec: strings.ToLower(name), Qualities: sq}}
		}
	}
	//lint:ignore SA1019 older clients read the demand in this form
	u.SubscribedQualities = sq
	return u
}
