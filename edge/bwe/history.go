package bwe

import "sync/atomic"

// history is the send history: one slot per transport-wide sequence number
// modulo its size (a power of two, so it divides 65,536 and a sequence
// number always maps to the same slot). The single sender writes slots; the
// feedback side reads them concurrently, so every field is an atomic and a
// slot is a tiny seqlock:
//
//	writer: meta = 0; at = t; meta = pack(seq, size, probe)
//	reader: m1 = meta; t = at; m2 = meta; valid iff m1 == m2 != 0 and seq matches
//
// Go's atomics are sequentially consistent, so a reader that saw the same
// non-zero meta before and after reading at read the at stored with it (a
// newer write would have zeroed meta in between). The one way to be fooled
// is for the slot to be rewritten with an identical meta — the same 16-bit
// sequence number, 65,536 packets later — within the reader's three loads.
type history struct {
	slots []slot
	mask  uint16
}

type slot struct {
	meta atomic.Uint64 // 0: empty or being written; else pack(seq, size, probe)
	at   atomic.Int64  // send time, ns
}

// sent is one packet as the history remembers it.
type sent struct {
	at    int64 // send time, ns on the caller's clock
	size  int   // bytes
	probe int   // probe cluster id, 0: not a probe
}

const (
	metaValid    = 1 << 63
	metaSeqShift = 47 // 16 bits: 47..62
	metaSizeBits = 20 // 20 bits: 27..46
	maxSize      = 1<<metaSizeBits - 1
	metaProbeMax = 1<<27 - 1 // 27 bits: 0..26
)

func newHistory(n int) history {
	return history{slots: make([]slot, n), mask: uint16(n - 1)}
}

func pack(seq uint16, size, probe int) uint64 {
	size = min(max(size, 0), maxSize)
	return metaValid | uint64(seq)<<metaSeqShift | uint64(size)<<27 | uint64(probe)&metaProbeMax
}

// put records a sent packet. Only the sender calls it.
func (h *history) put(seq uint16, size int, at int64, probe int) {
	s := &h.slots[seq&h.mask]
	s.meta.Store(0)
	s.at.Store(at)
	s.meta.Store(pack(seq, size, probe))
}

// get returns the packet sent with seq, if the history still holds it.
// Safe concurrently with put.
func (h *history) get(seq uint16) (sent, bool) {
	s := &h.slots[seq&h.mask]
	m := s.meta.Load()
	if m == 0 || uint16(m>>metaSeqShift) != seq {
		return sent{}, false
	}
	at := s.at.Load()
	if s.meta.Load() != m {
		return sent{}, false
	}
	return sent{at: at, size: int(m >> 27 & maxSize), probe: int(m & metaProbeMax)}, true
}
