package room

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/relay"
)

// pull is how a relayed track reaches this edge: one relay subscription to
// the edge it comes from (its source: the publisher's edge, or an edge of
// this region that pulls it from there, see source.go), one relay.Stream
// per layer that the track's layer readers read as they read a publisher's
// connection, so relayed packets enter the same cache, repair and fan-out
// as a local publisher's. It is the track's forward.Upstream (keyframe
// requests and NACKs go back over the relay); each subscription's
// relay.Handler is a pullSub.
type pull struct {
	origin    string // the publisher's edge
	room, sid string
	mgr       *Manager
	pt        *PubTrack
	track     *forward.Track
	streams   [forward.MaxLayers]*relay.Stream
	mask      atomic.Uint32 // the layers pulled now
	// record is the layer a recording on this edge pulls, as a mask (0:
	// none), whoever watches here.
	record atomic.Uint32
	// state is the last layer state the source sent, passed on to the
	// edges this one serves the track to.
	state atomic.Pointer[relay.LayerState]

	cur atomic.Pointer[pullSub] // the subscription in use

	mu      sync.Mutex // serialises changes of source
	prev    *pullSub   // the previous source's, until the new one delivers
	prevAt  int64      // media clock: when prev was replaced
	heldOff int64      // media clock: no regional source is asked before
	closed  bool
}

// pullSub is one subscription of a pull, to one source: its
// relay.Handler.
type pullSub struct {
	p       *pull
	src     string
	sub     *relay.Subscription // set right after Subscribe
	got     atomic.Bool         // a packet arrived
	refused atomic.Bool         // the source said it does not serve the track
}

// sourceHoldOff is how long a regional source that refused a track, or
// whose link went down, is not asked for it again: the origin serves it
// meanwhile.
const sourceHoldOff = 5 * time.Second

// prevLinger bounds how long the previous source keeps sending after a
// switch when the new one delivers nothing (nothing is pulled).
const prevLinger = int64(2 * time.Second)

// start makes the first subscription, to src, pulling nothing yet.
func (p *pull) start(src string) error {
	ps, err := p.subscribe(src)
	if err != nil {
		return err
	}
	p.cur.Store(ps)
	return nil
}

func (p *pull) subscribe(src string) (*pullSub, error) {
	ps := &pullSub{p: p, src: src}
	sub, err := p.mgr.relay.Subscribe(src, p.room, p.sid, uint8(p.mask.Load()), ps)
	if err != nil {
		return nil, err
	}
	ps.sub = sub
	return ps, nil
}

// source is the edge the track is pulled from now.
func (p *pull) source() string { return p.cur.Load().src }

// direct reports whether the track comes straight from its publisher's
// edge: only then does this edge serve it to another (no chain longer
// than one regional hop, so no loop).
func (p *pull) direct() bool {
	ps := p.cur.Load()
	return ps.src == p.origin && !ps.refused.Load()
}

// switchTo pulls from src from now on. The previous source keeps sending
// until the new one delivers its first packet (the relayed packets are
// the publisher's own, so the two streams merge: the cache drops the
// duplicates), so the subscribers here see no gap.
func (p *pull) switchTo(src string) {
	p.mu.Lock()
	old, ok := p.switchLocked(src)
	p.mu.Unlock()
	if ok && old.src == p.origin && src != p.origin {
		// This edge no longer pulls the track from its publisher: the
		// edges it served it to go elsewhere.
		p.pt.refuseFeeds()
	}
}

// switchLocked is switchTo's work. Called with mu held.
func (p *pull) switchLocked(src string) (old *pullSub, ok bool) {
	old = p.cur.Load()
	if p.closed || (old.src == src && !old.refused.Load()) {
		return old, false
	}
	ps, err := p.subscribe(src)
	if err != nil {
		p.mgr.log.Warn("relayed track: cannot pull from its new source", "room", p.room, "track", p.sid, "source", src, "err", err)
		return old, false
	}
	p.cur.Store(ps)
	ps.sub.SetLayers(uint8(p.mask.Load())) // a layer wanted while it was made
	if p.prev != nil {
		p.prev.sub.Close()
		p.prev = nil
	}
	if old.src != src && old.got.Load() && !old.refused.Load() {
		p.prev, p.prevAt = old, p.mgr.now()
	} else {
		old.sub.Close()
	}
	p.mgr.log.Debug("relayed track source changed", "room", p.room, "track", p.sid, "from", old.src, "to", src)
	return old, true
}

// fallBack pulls from the origin again after the regional source ps
// refused the track or went away, and leaves the regional sources alone
// for sourceHoldOff.
func (p *pull) fallBack(ps *pullSub) {
	p.mu.Lock()
	if p.cur.Load() != ps || ps.src == p.origin {
		p.mu.Unlock()
		return
	}
	p.heldOff = p.mgr.now() + int64(sourceHoldOff)
	p.switchLocked(p.origin)
	p.mu.Unlock()
}

// follow pulls from want unless the regional sources are held off, and
// ends a previous source's subscription that lingered (the room's
// directory check).
func (p *pull) follow(want string) {
	now := p.mgr.now()
	p.mu.Lock()
	if want != p.origin && now < p.heldOff {
		want = p.origin
	}
	if p.prev != nil && now-p.prevAt >= prevLinger {
		p.prev.sub.Close()
		p.prev = nil
	}
	p.mu.Unlock()
	if ps := p.cur.Load(); ps.refused.Load() && ps.src != p.origin {
		p.fallBack(ps) // refused before it was in use
		return
	}
	p.switchTo(want)
}

// dropPrev ends the previous source's subscription once the new one
// delivers.
func (p *pull) dropPrev() {
	p.mu.Lock()
	prev := p.prev
	p.prev = nil
	p.mu.Unlock()
	if prev != nil {
		prev.sub.Close()
	}
}

// RTP implements relay.Handler: a packet into its layer's stream.
func (ps *pullSub) RTP(layer int, pkt []byte) {
	p := ps.p
	if s := p.streams[layer]; s != nil {
		s.Push(pkt)
	}
	if !ps.got.Load() && ps.got.CompareAndSwap(false, true) && p.cur.Load() == ps {
		p.dropPrev()
	}
}

// SenderReport implements relay.Handler.
func (ps *pullSub) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	ps.p.track.SenderReport(layer, ntp, rtpTS)
}

// LayerState implements relay.Handler.
func (ps *pullSub) LayerState(s relay.LayerState) {
	p := ps.p
	if p.cur.Load() != ps {
		return
	}
	p.state.Store(&s)
	p.track.SetRemoteLayers(forward.RemoteLayers{Active: s.Active, Bitrate: s.Bitrate, At: p.mgr.now()})
}

// Refused implements relay.Handler. From the origin: it no longer has the
// track; its edge's state (which withdraws it) follows. From a regional
// source: it does not (or no longer) pull it from the origin, so this
// edge does, at once.
func (ps *pullSub) Refused(string) {
	ps.refused.Store(true)
	if ps.src != ps.p.origin {
		ps.p.fallBack(ps)
	}
}

// RequestKeyframe implements forward.Upstream: a subscriber here needs a
// keyframe of layer (already rate-limited by the track's source, like a
// local publisher's): the layer is pulled at once if it was not (the
// source then starts it from its newest cached keyframe), and the request
// goes to the source, which rate-limits again towards the publisher.
func (p *pull) RequestKeyframe(layer int, _ uint32) {
	p.want(uint8(1) << layer)
	p.cur.Load().sub.RequestKeyframe(layer)
}

// RequestRetransmission implements forward.Upstream: the source answers
// from its cache, or asks upstream.
func (p *pull) RequestRetransmission(layer int, _ uint32, seqs []uint16) {
	p.cur.Load().sub.RequestRetransmission(layer, seqs)
}

// want adds layers to what is pulled.
func (p *pull) want(bits uint8) {
	for {
		cur := p.mask.Load()
		n := cur | uint32(bits)
		if n == cur {
			return
		}
		if p.mask.CompareAndSwap(cur, n) {
			p.cur.Load().sub.SetLayers(uint8(n))
			return
		}
	}
}

// update pulls exactly the layers needed here (the room's tick): those
// the subscribers here watch, the recording's, and those of the edges
// this one serves the track to. A layer nobody needs stops crossing.
func (p *pull) update() {
	w := uint32(p.track.Wanted()) | p.record.Load() | uint32(p.pt.feedLayers())
	p.mask.Store(w)
	p.cur.Load().sub.SetLayers(uint8(w)) // nothing when unchanged
}

func (p *pull) close() {
	p.mu.Lock()
	p.closed = true
	prev := p.prev
	p.prev = nil
	p.mu.Unlock()
	if ps := p.cur.Load(); ps != nil {
		ps.sub.Close()
	}
	if prev != nil {
		prev.sub.Close()
	}
	for _, s := range p.streams {
		if s != nil {
			s.Close()
		}
	}
}
