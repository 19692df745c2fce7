package bwe

import "sync/atomic"

// history is the send history: one slot per transport-wide sequence number
// modulo its size (a power of two, so it divides 65,536 and a sequence
// number always maps to the same slot). The single sender writes slots; the
// feedback side reads them concurrently. Each slot is one atomic word
// holding the whole record, so a reader sees either the old packet or the
// new one, never a mix, with one store a packet and no lock:
//
//	valid (1) | sequence number (16) | size (12) | probe cluster (8) | send time (27)
//
// The send time is in microseconds modulo 2^27 (134 s): the reader
// restores it as the latest such time not after the feedback's arrival,
// which is right for any packet sent within the 67 s before it (feedback
// comes within a second or so; the history holds seconds). Sizes above
// 4,095 bytes are counted as 4,095 (RTP over UDP stays under the MTU), and
// cluster ids are taken modulo 256 (the estimator never has more than a
// few clusters in flight).
type history struct {
	slots []atomic.Uint64
	mask  uint16
}

// sent is one packet as the history remembers it.
type sent struct {
	at    int64 // send time, ns on the caller's clock (µs precision)
	size  int   // bytes
	probe int   // probe cluster id, 0: not a probe
}

const (
	hValid     = 1 << 63
	hSeqShift  = 47
	hSizeShift = 35
	maxSize    = 1<<12 - 1
	hProbeMask = 1<<8 - 1
	hTimeBits  = 27
	hTimeMask  = 1<<hTimeBits - 1
)

func newHistory(n int) history {
	return history{slots: make([]atomic.Uint64, n), mask: uint16(n - 1)}
}

// micros is t (ns) in µs, rounded down also for negative times.
func micros(t int64) int64 { return floorDiv(t, 1000) }

// put records a sent packet. Only the sender calls it.
func (h *history) put(seq uint16, size int, at int64, probe int) {
	size = min(max(size, 0), maxSize)
	h.slots[seq&h.mask].Store(hValid | uint64(seq)<<hSeqShift | uint64(size)<<hSizeShift |
		uint64(probe&hProbeMask)<<hTimeBits | uint64(micros(at))&hTimeMask)
}

// get returns the packet sent with seq, if the history still holds it;
// now (ns) is a time not before its sending (the feedback's arrival). Safe
// concurrently with put.
func (h *history) get(seq uint16, now int64) (sent, bool) {
	w := h.slots[seq&h.mask].Load()
	if w&hValid == 0 || uint16(w>>hSeqShift) != seq {
		return sent{}, false
	}
	us := micros(now)
	back := (uint64(us) - w) & hTimeMask // how long before now it was sent
	return sent{
		at:    (us - int64(back)) * 1000,
		size:  int(w >> hSizeShift & maxSize),
		probe: int(w >> hTimeBits & hProbeMask),
	}, true
}
