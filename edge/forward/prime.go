package forward

import "github.com/spacecast/spacecast/edge/cache"

// Prime starts a Forwarder that has not sent anything yet from the newest
// keyframe in caches[target layer] (one cache per layer, as for HandleNACK;
// nil entries allowed) instead of waiting for the
// publisher to answer a keyframe request: it replays that keyframe and the
// packets after it, up to the newest, through Forward. This takes a round
// trip and an encoder keyframe off a new subscriber's time to first frame.
// Live packets may be forwarded concurrently; ones that overtake the replay
// reach the subscriber out of order, which its jitter buffer absorbs.
//
// It does nothing (and returns 0) if the forwarder has started, is paused,
// the cache has no keyframe, or the replay would fill more than half the
// queue. Call it right after SetTarget.
// scratch must hold the cache's largest packet. now is on the Parse clock.
func (f *Forwarder) Prime(caches []*cache.Cache, scratch []byte, now int64) (queued int) {
	layer := f.Target()
	f.mu.Lock()
	started := f.started
	f.mu.Unlock()
	if started || layer < 0 || layer >= len(caches) || caches[layer] == nil {
		return 0
	}
	c := caches[layer]
	first, _, ok := c.Keyframe()
	newest, ok2 := c.Newest()
	if !ok || !ok2 || int(newest-first)+1 > f.q.Cap()/2 {
		return 0
	}
	return f.replay(c, layer, first, newest, scratch, now)
}

// CatchUp forwards what the cache of layer already holds after after, the
// packet that just started a segment (Result.Switched): packets that came
// before it although they follow it (reordered, or repaired copies handed
// over first) were filtered while this forwarder waited for the keyframe,
// and their copies arriving later are dropped as duplicates, so without
// this they would be holes. Usually the keyframe is the newest packet and
// there is nothing to do. Packets it forwards that the caller hands over
// again later are filtered as duplicates. A catch-up longer than half the
// queue is not tried (the subscriber NACKs what it misses). It returns how
// many packets it queued.
func (f *Forwarder) CatchUp(c *cache.Cache, layer int, after uint16, scratch []byte, now int64) (queued int) {
	newest, ok := c.Newest()
	if !ok || int16(newest-after) <= 0 || int(newest-after) > f.q.Cap()/2 {
		return 0
	}
	return f.replay(c, layer, after+1, newest, scratch, now)
}

// replay forwards the cached packets first..last of layer that are there.
func (f *Forwarder) replay(c *cache.Cache, layer int, first, last uint16, scratch []byte, now int64) (queued int) {
	for seq := first; ; seq++ {
		if n, ok := c.Get(seq, scratch); ok {
			if p, err := f.src.parse(scratch[:n], layer, now, false); err == nil {
				if f.Forward(&p).Verdict == Sent {
					queued++
				}
			}
		}
		if seq == last {
			return queued
		}
	}
}
