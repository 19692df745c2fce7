package room

import (
	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// audioBudget is what the layer choice sets aside per audio track, bits/s.
const audioBudget = 64_000

// layerChoice is a subscriber's scratch space for allocate (loop only).
type layerChoice struct {
	alloc   simulcast.Allocator
	tracks  []simulcast.Track
	downs   []*DownTrack
	budgets []uint64
	prime   []byte // a packet read back from a cache
}

// allocate chooses the layer every down track of the subscriber forwards
// (loop only), and tells the estimator what the subscriber would take if
// the path allowed (it probes for it). The subscriber's bandwidth estimate
// (estimate.go), less what its audio
// takes, is split across its video tracks by simulcast.Allocator (screen
// shares first; then a layer at a time, in turn), and each track's Selector
// picks within its share, with hysteresis. A down track that has sent
// nothing yet starts from the newest cached keyframe if it can (see
// forward.Down.Start). Nothing starts before the connection is up: media
// written before DTLS is lost, and the first keyframe with it.
func (p *Participant) allocate() {
	if !p.subConnected {
		return
	}
	now := p.room.mgr.now()
	c := &p.layers
	est := p.bandwidth()
	p.allocated.Store(est)
	audio := 0
	c.tracks, c.downs = c.tracks[:0], c.downs[:0]
	for _, d := range p.downs {
		if !d.down.Bound() {
			continue
		}
		if d.track.kind != webrtc.RTPCodecTypeVideo {
			audio++
			if est > audioBudget {
				est -= audioBudget
			}
			p.apply(d, 0, now)
			continue
		}
		d.scratch = d.track.simLayers(now, d.scratch)
		c.tracks = append(c.tracks, simulcast.Track{Layers: d.scratch, Request: d.req, Priority: priority(d)})
		c.downs = append(c.downs, d)
	}
	c.budgets = c.alloc.Allocate(est, c.tracks, c.budgets)
	for i, d := range c.downs {
		p.apply(d, c.budgets[i], now)
	}
	if p.twcc.Load() {
		p.bwe.WantProbe(wish(c.tracks, audio), now)
	}
}

// priority ranks a track for the allocator: screen shares are unreadable
// when starved.
func priority(d *DownTrack) int {
	if d.track.Info().GetSource() == livekit.TrackSource_SCREEN_SHARE {
		return simulcast.PriorityScreen
	}
	return simulcast.PriorityNormal
}

// apply gives d its layer within budget (bits/s; 0: no limit) and tells
// the publisher what the subscriber watches (dynacast).
func (p *Participant) apply(d *DownTrack, budget uint64, now int64) {
	layer, wanted := 0, 0
	if d.req.Disabled {
		layer, wanted = -1, -1
	}
	if d.sel != nil {
		wanted = simulcast.Wanted(d.scratch, d.req)
		layer = d.sel.Select(d.scratch, d.req, budget, now)
	}
	if wanted != d.wanted {
		d.wanted = wanted
		d.track.setDemand(p.sid, wanted)
	}
	switch {
	case layer >= 0 && d.down.Current() < 0:
		if p.layers.prime == nil {
			p.layers.prime = make([]byte, cache.DefaultMaxPacket)
		}
		if d.down.Start(layer, p.layers.prime, now) > 0 {
			p.sink.Flush(nil)
		}
	case layer != d.down.Target():
		d.down.SetTarget(layer, now)
	}
}
