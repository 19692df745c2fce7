package forward

import (
	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/codec"
)

// findSegment resolves an outgoing sequence number to its extended value and
// segment. Called with f.mu held.
func (f *Forwarder) findSegment(outSeq uint16) (uint64, *segment, bool) {
	if !f.started {
		return 0, nil, false
	}
	ext := f.lastOut + uint64(int64(int16(outSeq-uint16(f.lastOut))))
	if ext > f.lastOut {
		return 0, nil, false
	}
	for i := 0; i < min(f.nsegs, segHistory); i++ {
		s := &f.segs[(f.nsegs-1-i)%segHistory]
		if ext >= s.outStart {
			return ext, s, true
		}
	}
	return 0, nil, false
}

// MapNACK maps a sequence number the subscriber reported lost (in the
// rewritten space) to the layer and source sequence number to fetch from
// that layer's edge/cache. It reports false for numbers never sent or from
// segments too old to remember.
func (f *Forwarder) MapNACK(outSeq uint16) (layer int, srcSeq uint16, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ext, s, ok := f.findSegment(outSeq)
	if !ok {
		return 0, 0, false
	}
	return int(s.layer), s.srcStart + uint16(ext-s.outStart), true
}

// Retransmit queues pkt, a packet fetched from the cache for the source
// sequence number MapNACK returned for outSeq, rewritten exactly as it was
// when first forwarded. It reports false if pkt is not that packet or the
// queue is full.
func (f *Forwarder) Retransmit(pkt []byte, outSeq uint16) bool {
	h, err := codec.ParseRTP(pkt)
	if err != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ext, s, ok := f.findSegment(outSeq)
	if !ok || h.Seq != s.srcStart+uint16(ext-s.outStart) {
		return false
	}
	rw := rewrite{
		pkt:      pkt,
		h:        h,
		seq:      outSeq,
		ts:       h.Timestamp + s.tsOffset,
		ssrc:     f.ssrc,
		pt:       f.pt,
		stripExt: !f.keepExt,
		resend:   true,
	}
	if f.src.kind == codec.VP8 {
		if d, err := codec.ParseVP8(pkt[h.PayloadOffset:h.PayloadEnd]); err == nil {
			f.mungeVP8(&rw, &d, s)
		}
	}
	if f.q.push(f.tag, &rw) == 0 {
		f.stats.QueueDrops++
		return false
	}
	f.stats.Resent++
	return true
}

// HandleNACK answers one NACK item of a Generic NACK (RFC 4585 §6.2.1): pid
// is the first lost packet, blp the bitmask of the 16 following ones. Each
// sequence number is mapped, fetched from caches[layer] (one cache per
// layer, nil entries allowed) into scratch (at least the cache's MaxPacket
// long) and queued again. It returns how many were resent and missed.
func (f *Forwarder) HandleNACK(pid, blp uint16, caches []*cache.Cache, scratch []byte) (resent, missed int) {
	for i := -1; i < 16; i++ {
		seq := pid
		if i >= 0 {
			if blp&(1<<i) == 0 {
				continue
			}
			seq = pid + uint16(i) + 1
		}
		if f.resendOne(seq, caches, scratch) {
			resent++
		} else {
			missed++
		}
	}
	f.mu.Lock()
	f.stats.NACKs += uint64(resent + missed)
	f.stats.NACKMisses += uint64(missed)
	f.mu.Unlock()
	return resent, missed
}

func (f *Forwarder) resendOne(seq uint16, caches []*cache.Cache, scratch []byte) bool {
	layer, src, ok := f.MapNACK(seq)
	if !ok || layer >= len(caches) || caches[layer] == nil {
		return false
	}
	n, ok := caches[layer].Get(src, scratch)
	if !ok {
		return false
	}
	return f.Retransmit(scratch[:n], seq)
}
