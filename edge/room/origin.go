package room

import (
	"errors"
	"fmt"

	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/relay"
)

// ErrNotServed: another edge asked for a track this edge does not publish.
var ErrNotServed = errors.New("room: no such track published on this edge")

// maxReplay bounds what a feed replays from the cache when a layer starts
// crossing (a keyframe and what followed it).
const maxReplay = 256

// Open implements relay.Origin: another edge pulls one of this edge's
// published tracks. The feed taps the track's packets as they arrive
// (forward.Tap), before any subscriber's rewrite, so the other edge gets
// the publisher's stream as this edge does; it counts as one subscriber of
// the track for the publisher's layer demand (dynacast).
func (m *Manager) Open(peer, room, track string, out *relay.Sender) (relay.Feed, error) {
	r := m.Room(room)
	if r == nil {
		return nil, fmt.Errorf("%w: room %q", ErrNotServed, room)
	}
	t := r.Track(track)
	if t == nil || t.owner == nil {
		// Not here, or itself relayed: pull from its publisher's edge.
		return nil, fmt.Errorf("%w: %q", ErrNotServed, track)
	}
	f := &originFeed{t: t, out: out, m: m, peer: peer}
	f.key = fmt.Sprintf("relay %s %p", peer, f)
	t.mu.Lock()
	t.feeds = append(t.feeds, f)
	t.mu.Unlock()
	t.media.AddTap(f)
	f.SetLayers(out.Layers())
	return f, nil
}

// originFeed serves one of this edge's tracks to one other edge.
type originFeed struct {
	t    *PubTrack
	out  *relay.Sender
	m    *Manager
	peer string
	key  string // its name in the track's demand

	// The relay's control goroutine's.
	mask    uint8
	scratch []byte
}

// RTP implements forward.Tap: the layers the other edge pulls cross.
func (f *originFeed) RTP(layer int, pkt []byte) { f.out.WriteRTP(layer, pkt) }

// SenderReport implements forward.Tap.
func (f *originFeed) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	f.out.SenderReport(layer, ntp, rtpTS)
}

// SetLayers implements relay.Feed: a layer that starts crossing starts
// from the newest keyframe in this edge's cache, so the other edge's
// subscriber switches without waiting for the publisher.
func (f *originFeed) SetLayers(mask uint8) {
	added := mask &^ f.mask
	f.mask = mask
	now := f.m.now()
	for q := range f.t.media.Layers() {
		if added&(1<<q) != 0 && !f.replay(q) {
			f.t.keyframe(q, now)
		}
	}
	top := -1
	for q := range f.t.media.Layers() {
		if mask&(1<<q) != 0 {
			top = q
		}
	}
	if top < 0 {
		f.t.dropDemand(f.key)
	} else {
		f.t.setDemand(f.key, top)
	}
}

// replay sends the cached packets of layer q from its newest keyframe on;
// false when there is none to send.
func (f *originFeed) replay(q int) bool {
	c := f.t.media.Cache(q)
	if c == nil || !f.t.media.Source().Codec().IsVideo() {
		return false
	}
	first, _, ok := c.Keyframe()
	newest, ok2 := c.Newest()
	if !ok || !ok2 || int(newest-first) >= maxReplay {
		return false
	}
	buf := f.buf()
	for seq := first; ; seq++ {
		if n, ok := c.Get(seq, buf); ok {
			f.out.Replay(q, buf[:n])
		}
		if seq == newest {
			return true
		}
	}
}

func (f *originFeed) buf() []byte {
	if f.scratch == nil {
		f.scratch = make([]byte, cache.DefaultMaxPacket)
	}
	return f.scratch
}

// RequestKeyframe implements relay.Feed: rate-limited like a local
// subscriber's.
func (f *originFeed) RequestKeyframe(layer int) { f.t.keyframe(layer, f.m.now()) }

// RequestRetransmission implements relay.Feed: answered from this edge's
// cache; what it no longer holds is asked of the publisher (and crosses
// when it arrives, through the tap).
func (f *originFeed) RequestRetransmission(layer int, seqs []uint16) {
	c := f.t.media.Cache(layer)
	if c == nil {
		return
	}
	buf := f.buf()
	var missing []uint16
	for _, s := range seqs {
		if n, ok := c.Get(s, buf); ok {
			f.out.Repair(layer, buf[:n])
		} else {
			missing = append(missing, s)
		}
	}
	f.t.media.RequestRetransmission(layer, missing)
}

// Close implements relay.Feed.
func (f *originFeed) Close() {
	f.t.media.RemoveTap(f)
	f.t.dropDemand(f.key)
	f.t.mu.Lock()
	for i, x := range f.t.feeds {
		if x == f {
			f.t.feeds = append(f.t.feeds[:i], f.t.feeds[i+1:]...)
			break
		}
	}
	f.t.mu.Unlock()
}

// sendLayerStates tells every edge that pulls one of this room's tracks
// what the publisher sends (the room's tick), so that their subscribers
// choose among layers they do not pull yet.
func (r *Room) sendLayerStates() {
	r.mu.Lock()
	var ts []*PubTrack
	for _, t := range r.tracks {
		if t.owner != nil {
			ts = append(ts, t)
		}
	}
	r.mu.Unlock()
	now := r.mgr.now()
	for _, t := range ts {
		t.mu.Lock()
		feeds := append([]*originFeed(nil), t.feeds...)
		t.mu.Unlock()
		if len(feeds) == 0 {
			continue
		}
		var st relay.LayerState
		for _, l := range t.simLayers(now, nil) {
			if q := int(l.Quality); q < relay.MaxLayers {
				st.Active[q], st.Bitrate[q] = l.Active, l.Bitrate
				st.Layers = max(st.Layers, q+1)
			}
		}
		for _, f := range feeds {
			f.out.LayerState(st)
		}
	}
}

// refuseFeeds tells the edges pulling t that it is gone (it was
// unpublished here).
func (t *PubTrack) refuseFeeds() {
	t.mu.Lock()
	feeds := append([]*originFeed(nil), t.feeds...)
	t.mu.Unlock()
	for _, f := range feeds {
		f.out.Refuse("unpublished")
	}
}

var _ relay.Origin = (*Manager)(nil)

// moderatorMute is MuteTrack's work (loop only): the publisher is told,
// everyone sees the track muted.
func (p *Participant) moderatorMute(sid string, muted bool) *livekit.TrackInfo {
	t := p.published[sid]
	if t == nil {
		return nil
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: sid, Muted: muted}}})
	p.muteTrack(t, muted)
	return t.Info()
}
