package record

import (
	"sync"

	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/codec"
)

// event kinds.
const (
	evRTP = iota
	evReport
)

// event is one slot of a Track's pool: a received packet or sender
// report, stamped with its arrival. Run parses a packet in place (pkt's
// payload points into buf) and the samplebuilder holds it until it
// releases it.
type event struct {
	kind    uint8
	layer   int8
	n       int
	arrival int64 // Unix nanoseconds
	ntp     uint64
	rtpTS   uint32
	pkt     rtp.Packet
	buf     [maxPacket]byte
}

// Track is the tap of one published track: its layer readers hand it each
// received packet (RTP) and the publisher's sender reports
// (SenderReport). Its method set is edge/forward's Tap. Nothing blocks:
// what is given is copied into a slot of the track's fixed pool and Run
// is woken; with no free slot it is dropped and counted. All methods are
// safe for concurrent use.
type Track struct {
	rec  *Recording
	info TrackInfo
	kind codec.Kind
	key  string // the stream it continues (TrackInfo.key)

	// slots maps a pooled packet back to its slot (read-only after New).
	slots map[*rtp.Packet]*event

	mu      sync.Mutex
	free    []*event
	queue   []*event // FIFO ring of len(pool)
	head    int
	queued  int
	closed  bool
	dropped uint64
}

func newTrack(r *Recording, info TrackInfo, k codec.Kind, size int) *Track {
	t := &Track{rec: r, info: info, kind: k, key: info.key(k), slots: make(map[*rtp.Packet]*event, size)}
	pool := make([]event, size)
	t.free = make([]*event, size)
	t.queue = make([]*event, size)
	for i := range pool {
		t.free[i] = &pool[i]
		t.slots[&pool[i].pkt] = &pool[i]
	}
	return t
}

// RTP takes a packet of layer (0 lowest) as it arrived; pkt is copied.
// Padding-only packets (probes) should come too: they hold their place in
// the sequence space.
func (t *Track) RTP(layer int, pkt []byte) {
	if layer < 0 || layer >= t.info.Layers || len(pkt) > maxPacket || t.rec.ended.Load() {
		t.drop()
		return
	}
	now := t.rec.cfg.Now().UnixNano()
	t.mu.Lock()
	ev := t.take()
	if ev == nil {
		t.mu.Unlock()
		return
	}
	ev.kind, ev.layer, ev.arrival, ev.n = evRTP, int8(layer), now, copy(ev.buf[:], pkt)
	t.push(ev)
	t.mu.Unlock()
	t.rec.wakeUp()
}

// SenderReport takes the publisher's sender report (RFC 3550 §6.4.1) of
// layer: its NTP timestamp and the RTP timestamp of the same instant.
func (t *Track) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	if layer < 0 || layer >= t.info.Layers || t.rec.ended.Load() {
		return
	}
	now := t.rec.cfg.Now().UnixNano()
	t.mu.Lock()
	ev := t.take()
	if ev == nil {
		t.mu.Unlock()
		return
	}
	ev.kind, ev.layer, ev.arrival, ev.ntp, ev.rtpTS, ev.n = evReport, int8(layer), now, ntp, rtpTS, 0
	t.push(ev)
	t.mu.Unlock()
	t.rec.wakeUp()
}

// Close ends the tap: the publisher unpublished the track or left. What
// was received is still written; a track added later by the same
// participant for the same source continues its file.
func (t *Track) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.rec.wakeUp()
}

// Dropped is the number of packets dropped because the pool was full
// (Run fell behind) or the packet was unusable.
func (t *Track) Dropped() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

func (t *Track) drop() {
	t.mu.Lock()
	t.dropped++
	t.mu.Unlock()
}

// take returns a free slot or nil (counted as a drop); t.mu held.
func (t *Track) take() *event {
	if t.closed || len(t.free) == 0 {
		t.dropped++
		return nil
	}
	ev := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	return ev
}

// push queues ev; t.mu held. The queue has room for every slot.
func (t *Track) push(ev *event) {
	t.queue[(t.head+t.queued)%len(t.queue)] = ev
	t.queued++
}

// drain moves what is queued into dst and reports whether the track is
// closed with nothing left (Run's goroutine).
func (t *Track) drain(dst []*event) ([]*event, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ; t.queued > 0; t.queued-- {
		dst = append(dst, t.queue[t.head])
		t.queue[t.head] = nil
		t.head = (t.head + 1) % len(t.queue)
	}
	return dst, t.closed
}

// release returns a slot to the pool (Run's goroutine).
func (t *Track) release(ev *event) {
	t.mu.Lock()
	t.free = append(t.free, ev)
	t.mu.Unlock()
}

// releasePacket returns the slot of a pooled packet.
func (t *Track) releasePacket(p *rtp.Packet) {
	if ev := t.slots[p]; ev != nil {
		t.release(ev)
	}
}

// Queued is the number of packets and reports waiting for Run.
func (t *Track) Queued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.queued
}
