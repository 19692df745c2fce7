package forward

import (
	"time"

	"github.com/spacecast/spacecast/edge/simulcast"
)

// Tap takes a copy of every packet a Track receives, as it arrived, before
// any subscriber's rewrite: the relay to another edge (edge/room's origin
// feed) is one. Its methods are called from the track's layer readers and
// must not block; pkt is valid only during the call.
type Tap interface {
	// RTP is a packet of layer: media as the publisher sent it (once, a
	// duplicate is not passed on), or a padding-only probe cut to its
	// header and one padding byte (it keeps its sequence number, so the
	// other side's sequence space has no hole).
	RTP(layer int, pkt []byte)
	// SenderReport is the publisher's sender report of layer (RFC 3550
	// §6.4.1).
	SenderReport(layer int, ntp uint64, rtpTS uint32)
}

// AddTap makes tap receive the track's packets from now on.
func (t *Track) AddTap(tap Tap) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.taps.Load()
	n := make([]Tap, 0, len(old)+1)
	n = append(n, old...)
	n = append(n, tap)
	t.taps.Store(&n)
}

// RemoveTap stops tap.
func (t *Track) RemoveTap(tap Tap) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.taps.Load()
	n := make([]Tap, 0, len(old))
	for _, x := range old {
		if x != tap {
			n = append(n, x)
		}
	}
	t.taps.Store(&n)
}

// Taps is the number of taps.
func (t *Track) Taps() int { return len(*t.taps.Load()) }

// tap hands a received packet to the taps (the layer's reader only). A
// padding-only packet goes as its header and one padding byte.
func (l *Layer) tap(pkt *Packet) {
	taps := *l.track.taps.Load()
	if len(taps) == 0 {
		return
	}
	b := pkt.Buf
	if pkt.Header.PayloadLen() == 0 {
		if l.pad == nil {
			l.pad = make([]byte, 0, 1500)
		}
		off := min(pkt.Header.PayloadOffset, 1499)
		b = append(append(l.pad[:0], pkt.Buf[:off]...), 1)
	}
	for _, tp := range taps {
		tp.RTP(l.quality, b)
	}
}

// SenderReport records the publisher's sender report of layer (for the
// forwarders' timestamp mapping across layer switches) and passes it to
// the taps.
func (t *Track) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	t.src.SenderReport(layer, ntp, rtpTS)
	for _, tp := range *t.taps.Load() {
		tp.SenderReport(layer, ntp, rtpTS)
	}
}

// Wanted is the layers the track's subscribers need now, as a mask (bit i:
// layer i): each one's target and, while it waits for the target's
// keyframe, the layer it still forwards. A relayed track pulls exactly
// these across the link.
func (t *Track) Wanted() uint8 {
	var m uint8
	for _, d := range *t.downs.Load() {
		if !d.Bound() {
			continue
		}
		if x := d.fwd.Target(); x >= 0 {
			m |= 1 << x
		}
		if x := d.fwd.Current(); x >= 0 {
			m |= 1 << x
		}
	}
	return m
}

// RemoteLayers is what the edge that receives a relayed track from its
// publisher says of its layers (edge/relay's LayerState): for a relayed
// track the layers not pulled have no packets here, so their activity and
// rate come from there.
type RemoteLayers struct {
	Active  [MaxLayers]bool
	Bitrate [MaxLayers]uint64
	At      int64 // media clock when it was heard
}

// remoteStale is how long a RemoteLayers describes the layers.
const remoteStale = 5 * time.Second

// SetRemoteLayers records the origin's view of a relayed track's layers;
// SimLayers uses it, while it is fresh, in place of what arrives here.
func (t *Track) SetRemoteLayers(r RemoteLayers) { t.remote.Store(&r) }

// RequestRetransmission asks whoever sends the track (the Upstream) for
// packets of layer again, with that layer's SSRC.
func (t *Track) RequestRetransmission(layer int, seqs []uint16) {
	if layer < 0 || layer >= t.src.Layers() || len(seqs) == 0 {
		return
	}
	l := t.layers[layer].Load()
	if l == nil {
		return
	}
	t.upstream.RequestRetransmission(layer, l.ssrc, seqs)
	t.metrics.NACKSent.Add(float64(len(seqs)))
}

// remoteLayer fills l from a fresh RemoteLayers; false when there is none.
func (t *Track) remoteLayer(q int, now int64, l *simulcast.Layer) bool {
	r := t.remote.Load()
	if r == nil || now-r.At > int64(remoteStale) {
		return false
	}
	l.Active = r.Active[q]
	l.Bitrate = r.Bitrate[q]
	return true
}
