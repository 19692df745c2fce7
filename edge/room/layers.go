package room

import (
	"time"

	"context"
	"log/slog"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/bwe"
	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// What the layer choice sets aside for an audio track, bits/s: what the
// publisher sends of it (Opus in RED carries each frame twice: about 100
// kbit/s from Chromium), or audioBudget until that is measured, plus what
// its packets carry below RTP (the estimate is in the link's terms:
// bwe.Config.Overhead), about 50 packets a second.
const (
	audioBudget   = 64_000
	audioFloor    = 24_000
	audioPackets  = 50
	audioOverhead = audioPackets * bwe.DefaultOverhead * 8
)

// audioCost is what audio track d takes from the estimate (loop only).
func (d *DownTrack) audioCost(now int64) uint64 {
	d.scratch = d.track.simLayers(now, d.scratch)
	rate := uint64(audioBudget)
	if len(d.scratch) > 0 && d.scratch[0].Bitrate > 0 {
		rate = max(d.scratch[0].Bitrate, audioFloor)
	}
	return rate + audioOverhead
}

// layerChoice is a subscriber's layer choice: its allocator and scratch
// space (loop only).
type layerChoice struct {
	alloc  *simulcast.Allocator
	tracks []simulcast.Track
	allocs []simulcast.Allocation
	downs  []*DownTrack
	states []*livekit.StreamStateInfo
	prime  []byte // a packet read back from a cache
	filled bool   // the pending move up was checked (verifyUp)
	// filledAt and fillFor: when that check's fill began and how long it
	// pads; waitSince: when the pending move began to wait for a fill the
	// estimator could not start (a probe under way).
	filledAt, fillFor, waitSince int64
	logged                       int64 // when the estimate was last logged (debug)
}

// estimateLogEvery is how often a subscriber's estimate is logged at debug
// level: the trace to read a layer choice by.
const estimateLogEvery = int64(time.Second)

// allocate chooses the layer every down track of the subscriber forwards
// (loop only), tells the subscriber which of its video tracks are paused
// for want of bandwidth (StreamStateUpdate), and tells the estimator what
// the subscriber would take if the path allowed (it probes for it). The
// subscriber's bandwidth estimate (estimate.go), less what its audio
// takes, is shared among its video tracks by its simulcast.Allocator:
// screen shares first, then the active speaker's camera, then the others;
// each within what its request (UpdateTrackSettings: quality, or the size
// of the video element) wants; a lower frame rate (VP8 temporal layers)
// before a lower resolution, a pause when not even the lowest layer fits;
// down when the estimate falls below what is allocated (at once, or after
// a grace of 2.5 s when it is still within 80 % of it), up only
// once the headroom has lasted. A down track that has sent nothing yet
// starts from the newest cached keyframe if it can (see
// forward.Down.Start). Nothing starts before the connection is up: media
// written before DTLS is lost, and the first keyframe with it.
func (p *Participant) allocate() {
	if !p.subConnected {
		return
	}
	now := p.room.mgr.now()
	c := &p.layers
	if c.alloc == nil {
		var err error
		if c.alloc, err = simulcast.NewAllocator(simulcast.AllocatorConfig{}); err != nil {
			p.log.Error("layer choice", "error", err)
			return
		}
	}
	est := p.bandwidth()
	p.allocated.Store(est)
	audio := uint64(0)
	c.tracks, c.downs = c.tracks[:0], c.downs[:0]
	for _, d := range p.downs {
		if !d.down.Bound() {
			continue
		}
		if d.track.kind != webrtc.RTPCodecTypeVideo {
			if !d.req.Disabled {
				audio += d.audioCost(now)
			}
			p.startAudio(d, now)
			continue
		}
		d.scratch = d.track.simLayers(now, d.scratch)
		if w := simulcast.Wanted(d.scratch, d.req); w != d.wanted {
			// A layer the request wants came back (the publisher
			// resumed it, dynacast): take it at once, from the keyframe
			// the publisher resumes it with, if it fits.
			d.fresh = d.fresh || w > d.wanted
			d.wanted = w
		}
		c.tracks = append(c.tracks, simulcast.Track{Layers: d.scratch, Request: d.req, Priority: p.priority(d),
			Current: d.pick, Paused: d.paused, Fresh: d.fresh})
		c.downs = append(c.downs, d)
	}
	if est > 0 {
		// Audio first; 1, not 0, when nothing is left: 0 means unknown.
		est = max(est-min(est, audio), 1)
	}
	c.alloc.HoldUp(p.twcc.Load() && p.upUnchecked(now))
	c.allocs = c.alloc.Allocate(est, c.tracks, now, c.allocs)
	c.states = c.states[:0]
	for i, d := range c.downs {
		p.apply(d, c.allocs[i], now)
	}
	if len(c.states) > 0 {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_StreamStateUpdate{
			StreamStateUpdate: &livekit.StreamStateUpdate{StreamStates: c.states},
		}})
	}
	if p.twcc.Load() {
		// Probe for the next step up, not the whole wish: a probe far
		// above a capped link fills its queue and costs what it finds.
		want := uint64(0)
		if next := c.alloc.Next(); next > 0 {
			want = next + audio
		}
		p.bwe.WantProbe(want, now)
		p.verifyUp(audio, now)
		if now-c.logged >= estimateLogEvery && p.log.Enabled(context.Background(), slog.LevelDebug) {
			c.logged = now
			e := p.bwe.Estimate()
			p.log.Debug("bandwidth estimate", "target_bps", e.Target, "delay_bps", e.DelayBased, "loss_bps", e.LossBased,
				"acked_bps", e.Acked, "usage", e.Usage, "loss", e.Loss, "rtt", e.RTT, "probing", e.Probing, "audio_bps", audio, "want_bps", want)
		}
	}
}

// fillBefore is how long before a pending move up the edge pads the
// subscriber's connection up to the better allocation's rate.
const fillBefore = time.Second

// maxCheckWait bounds how long a move up waits for its fill when the
// estimator cannot start one (probing off; a probe under way ends within
// its 1.5 s timeout, and the fill starts at the next tick).
const maxCheckWait = int64(10 * time.Second)

// upUnchecked reports whether the pending move up has not yet been checked
// by a fill that ran its course (loop only): the allocator holds it
// meanwhile (simulcast.Allocator.HoldUp). Without the hold a move whose
// fill the estimator refused (a probe was under way) was taken unchecked,
// and a 720p keyframe met a full 500 kbit/s link.
func (p *Participant) upUnchecked(now int64) bool {
	c := &p.layers
	if _, _, ok := c.alloc.Pending(now); !ok {
		return false
	}
	if c.filled {
		return now-c.filledAt < c.fillFor
	}
	if c.waitSince == 0 {
		c.waitSince = now
	}
	return now-c.waitSince < maxCheckWait
}

// verifyUp checks a pending move up before it is taken (loop only): in
// the last fillBefore of the up hold, the connection is padded up to
// what the better allocation costs (bwe.Estimator.Fill). A path that
// carries it confirms the estimate; one that queues takes the probe lift
// it rests on back, the estimate falls below the better allocation and
// the move waits (the allocator backs off), instead of a keyframe of the
// higher layer meeting a full queue. Once per pending move.
func (p *Participant) verifyUp(audio uint64, now int64) {
	c := &p.layers
	cost, left, ok := c.alloc.Pending(now)
	if !ok {
		c.filled, c.waitSince = false, 0
		return
	}
	if c.filled || left > fillBefore {
		return
	}
	var current uint64
	for _, al := range c.allocs {
		current += al.Bitrate
	}
	// The fill goes up to what the allocator asks of the estimate for the
	// move (its margin and reserve), not the layers' bare cost: a link
	// that carries only their mean is full once the layer swings above it
	// and retransmissions go beside it.
	d := max(left, fillBefore/2)
	if p.bwe.Fill(c.alloc.Headroom(cost)+audio, current+audio, d, now) {
		c.filled, c.filledAt, c.fillFor, c.waitSince = true, now, int64(d), 0
	}
}

// priority ranks a track for the allocator: screen shares are unreadable
// when starved, and the active speaker is who everyone looks at.
func (p *Participant) priority(d *DownTrack) int {
	switch {
	case d.track.Info().GetSource() == livekit.TrackSource_SCREEN_SHARE:
		return simulcast.PriorityScreen
	case d.track.speaking.Load():
		return simulcast.PrioritySpeaker
	}
	return simulcast.PriorityNormal
}

// startAudio forwards an audio track (it has one layer, always sent).
func (p *Participant) startAudio(d *DownTrack, now int64) {
	layer := 0
	if d.req.Disabled {
		layer = -1
	}
	if layer != d.down.Target() {
		d.down.SetTarget(layer, now)
	}
}

// apply gives video down track d the allocator's choice al, tells the
// publisher what the subscriber requests (dynacast: the layer it asks for
// among all the announced ones, sent now or not, so that a layer nobody
// watched comes back when asked for), and records a change of the
// track's paused state for the subscriber.
func (p *Participant) apply(d *DownTrack, al simulcast.Allocation, now int64) {
	if r := simulcast.Requested(d.scratch, d.req); r != d.requested {
		d.requested = r
		d.track.setDemand(p.sid, r)
	}
	if al.Pick != d.pick && p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.Debug("layer choice", "track", d.track.sid, "from", d.pick, "to", al.Pick, "fresh", d.fresh,
			"estimate_bps", p.allocated.Load(), "cost_bps", al.Bitrate, "hold", p.layers.alloc.UpHold())
	}
	d.fresh = false
	d.pick, d.paused = al.Pick, al.Paused
	d.distance.Store(uint32(layerDistance(al) * 100))
	if d.paused != d.toldPause {
		d.toldPause = d.paused
		state := livekit.StreamState_ACTIVE
		if d.paused {
			state = livekit.StreamState_PAUSED
		}
		p.layers.states = append(p.layers.states, &livekit.StreamStateInfo{
			ParticipantSid: d.track.ownerSID, TrackSid: d.track.sid, State: state,
		})
	}
	layer := al.Pick.Spatial
	if layer >= 0 {
		d.down.SetTemporal(al.Pick.Temporal)
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
		d.down.SetTarget(max(layer, -1), now)
	}
}
