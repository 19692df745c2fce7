package simulcast

import (
	"sync"

	"github.com/livekit/protocol/livekit"
)

// Demand counts, for one published track, the highest layer each subscriber
// wants (Wanted, before bandwidth limits: a subscriber held down by its
// bandwidth still needs the layers below, and the one it wants once the
// bandwidth is back). A layer is enabled while some subscriber wants it or a
// higher one; the rest can be paused at the publisher. Safe for concurrent use.
type Demand struct {
	mu     sync.Mutex
	subs   map[string]int
	counts []int // counts[i]: subscribers whose highest wanted layer is i
}

// NewDemand tracks a track with the given number of layers.
func NewDemand(layers int) *Demand {
	return &Demand{subs: make(map[string]int), counts: make([]int, max(layers, 1))}
}

// mask returns the enabled layers as a bit set. Called with d.mu held.
func (d *Demand) mask() uint32 {
	var m uint32
	above := 0
	for i := len(d.counts) - 1; i >= 0; i-- {
		above += d.counts[i]
		if above > 0 {
			m |= 1 << i
		}
	}
	return m
}

// Set records that subscriber wants layers up to maxLayer (-1: none). It
// reports whether the set of enabled layers changed.
func (d *Demand) Set(subscriber string, maxLayer int) (changed bool) {
	maxLayer = min(maxLayer, len(d.counts)-1)
	d.mu.Lock()
	defer d.mu.Unlock()
	before := d.mask()
	if old, ok := d.subs[subscriber]; ok {
		if old >= 0 {
			d.counts[old]--
		}
		delete(d.subs, subscriber)
	}
	if maxLayer >= 0 {
		d.counts[maxLayer]++
	}
	d.subs[subscriber] = maxLayer
	return d.mask() != before
}

// Remove forgets a subscriber. It reports whether the enabled layers changed.
func (d *Demand) Remove(subscriber string) (changed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	before := d.mask()
	if old, ok := d.subs[subscriber]; ok {
		if old >= 0 {
			d.counts[old]--
		}
		delete(d.subs, subscriber)
	}
	return d.mask() != before
}

// Enabled reports whether layer has any subscriber.
func (d *Demand) Enabled(layer int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return layer >= 0 && layer < len(d.counts) && d.mask()&(1<<layer) != 0
}

// Subscribers is the number of subscribers recorded (including those who
// want nothing).
func (d *Demand) Subscribers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}

// SubscribedQualities returns the SubscribedQualityUpdate entries for the
// track: one per layer, whose Quality is qualities[i] (the publisher's
// announced quality of layer i), enabled when some subscriber wants it.
func (d *Demand) SubscribedQualities(qualities []livekit.VideoQuality) []*livekit.SubscribedQuality {
	d.mu.Lock()
	m := d.mask()
	d.mu.Unlock()
	out := make([]*livekit.SubscribedQuality, 0, len(qualities))
	for i, q := range qualities {
		out = append(out, &livekit.SubscribedQuality{Quality: q, Enabled: i < 32 && m&(1<<i) != 0})
	}
	return out
}
