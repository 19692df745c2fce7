package forward

import (
	"time"

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
		pkt:       pkt,
		h:         h,
		seq:       outSeq,
		ts:        h.Timestamp + s.tsOffset,
		ssrc:      f.ssrc,
		pt:        f.pt,
		stripExt:  !f.keepExt,
		resend:    true,
		redToOpus: f.redToOpus,
		ext:       f.ext,
	}
	if f.src.kind == codec.VP8 {
		if f.droppedLayer(pkt[h.PayloadOffset:h.PayloadEnd]) && !f.wasSent(ext) && !f.pictureSent(h.Timestamp) {
			// A hole where a packet of a dropped temporal layer was lost:
			// filled with an empty packet (see fillHole).
			rw = f.emptyAt(pkt, h, outSeq, s)
			rw.resend = true
		} else if d, err := codec.ParseVP8(pkt[h.PayloadOffset:h.PayloadEnd]); err == nil {
			f.mungeVP8(&rw, &d, s)
		}
	}
	if f.rtxSSRC != 0 {
		// RFC 4588 §4: on the RTX stream, with its own numbers, the
		// media stream's number in front of the payload.
		rw.rtx, rw.osn = true, outSeq
		rw.seq, rw.ssrc, rw.pt = f.rtxSeq, f.rtxSSRC, f.rtxPT
	}
	if f.q.push(f.tag, &rw) == 0 {
		f.stats.QueueDrops++
		return false
	}
	if rw.rtx {
		f.rtxSeq++
	}
	f.stats.Resent++
	return true
}

// Retransmission limits (what livekit-server's sequencer does too): one
// packet is sent again at most maxResends times, and not again within
// twice the round-trip time (between minResendGap and maxResendGap) — a
// subscriber behind a full bottleneck NACKs the same packets every round
// trip while the first retransmission still waits in the queue, and
// answering each would only deepen the congestion.
const (
	maxResends   = 3
	minResendGap = int64(10 * time.Millisecond)
	maxResendGap = int64(100 * time.Millisecond)
	resendSlots  = 128
)

// resend records when an outgoing sequence number was last sent again.
type resend struct {
	at    int64
	seq   uint16
	count uint8
}

// HandleNACK answers one NACK item of a Generic NACK (RFC 4585 §6.2.1): pid
// is the first lost packet, blp the bitmask of the 16 following ones. Each
// sequence number is mapped, fetched from caches[layer] (one cache per
// layer, nil entries allowed) into scratch (at least the cache's MaxPacket
// long) and queued again, unless it was sent again too often or too
// recently for the round-trip time rtt (0: unknown). now is on the Parse
// clock. It returns how many were resent and missed (not cached, not
// mappable, or held back by the limits), and of those missed how many are
// gone for good: sent from segments the forwarder no longer remembers, or
// evicted from the cache. A subscriber missing those cannot recover but
// from a keyframe.
func (f *Forwarder) HandleNACK(pid, blp uint16, caches []*cache.Cache, scratch []byte, now int64, rtt time.Duration) (resent, missed, gone int) {
	return f.handleNACK(pid, blp, caches, scratch, now, rtt, nil)
}

// resendGate is the check a retransmission passes before it is queued
// (Sink.allowResend); nil: none.
type resendGate interface {
	allowResend(size int, now int64) bool
}

func (f *Forwarder) handleNACK(pid, blp uint16, caches []*cache.Cache, scratch []byte, now int64, rtt time.Duration, gate resendGate) (resent, missed, gone int) {
	gap := min(max(2*int64(rtt), minResendGap), maxResendGap)
	for i := -1; i < 16; i++ {
		seq := pid
		if i >= 0 {
			if blp&(1<<i) == 0 {
				continue
			}
			seq = pid + uint16(i) + 1
		}
		if !f.mayResend(seq, now, gap) {
			missed++
			continue
		}
		switch f.resendOne(seq, caches, scratch, now, gate) {
		case resendSent:
			resent++
		case resendGone:
			gone++
			missed++
		default:
			missed++
		}
	}
	f.mu.Lock()
	f.stats.NACKs += uint64(resent + missed)
	f.stats.NACKMisses += uint64(missed)
	f.stats.Unrecoverable += uint64(gone)
	f.mu.Unlock()
	return resent, missed, gone
}

// mayResend applies the retransmission limits to outgoing sequence number
// seq and, when it may go, records it.
func (f *Forwarder) mayResend(seq uint16, now, gap int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &f.resends[seq%resendSlots]
	if r.seq != seq || r.count == 0 {
		*r = resend{seq: seq, at: now, count: 1}
		return true
	}
	if r.count >= maxResends || now-r.at < gap {
		f.stats.ResendsHeld++
		return false
	}
	r.count++
	r.at = now
	return true
}

// What resendOne did.
const (
	resendSent = iota
	resendMissed
	resendGone
)

func (f *Forwarder) resendOne(seq uint16, caches []*cache.Cache, scratch []byte, now int64, gate resendGate) int {
	layer, src, ok := f.MapNACK(seq)
	if !ok {
		if f.forgotten(seq) {
			return resendGone
		}
		return resendMissed
	}
	if layer >= len(caches) || caches[layer] == nil {
		return resendMissed
	}
	c := caches[layer]
	n, ok := c.Get(src, scratch)
	if !ok {
		if newest, has := c.Newest(); has && int(int16(newest-src)) >= c.Capacity() {
			return resendGone // evicted: too old to send again
		}
		return resendMissed // lost upstream: the edge's own NACK may bring it
	}
	if gate != nil && !gate.allowResend(n, now) {
		f.mu.Lock()
		f.stats.ResendsOverBudget++
		f.mu.Unlock()
		return resendMissed
	}
	if !f.Retransmit(scratch[:n], seq) {
		return resendMissed
	}
	return resendSent
}

// forgotten reports whether outgoing sequence number seq was sent before
// the oldest segment the forwarder remembers.
func (f *Forwarder) forgotten(seq uint16) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.nsegs < segHistory {
		return false
	}
	ext := f.lastOut + uint64(int64(int16(seq-uint16(f.lastOut))))
	return ext < f.segs[f.nsegs%segHistory].outStart
}
