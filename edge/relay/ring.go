package relay

import "sync"

// sendRing is a link's bounded queue of outgoing datagrams: any number of
// producers (the origin's layer readers) copy a packet into a preallocated
// slot, one consumer (the link's datagram writer) takes slots out by
// swapping buffers. A full ring refuses the packet, which the caller counts
// as dropped: nothing waits for a slow link. Nothing allocates after
// newSendRing.
type sendRing struct {
	mu    sync.Mutex
	slots [][]byte
	lens  []int
	kinds []Kind
	head  int // oldest
	n     int
	wake  chan struct{} // one token: something was pushed
}

func newSendRing(size int) *sendRing {
	r := &sendRing{slots: make([][]byte, size), lens: make([]int, size), kinds: make([]Kind, size), wake: make(chan struct{}, 1)}
	for i := range r.slots {
		r.slots[i] = make([]byte, dgHeader+maxRTPSize)
	}
	return r
}

// push queues the RTP packet pkt of layer for channel ch, sent as kind; it
// reports false when the ring is full or pkt too large.
func (r *sendRing) push(ch uint32, layer uint8, kind Kind, pkt []byte) bool {
	if len(pkt) > maxRTPSize {
		return false
	}
	r.mu.Lock()
	if r.n == len(r.slots) {
		r.mu.Unlock()
		return false
	}
	i := (r.head + r.n) % len(r.slots)
	s := r.slots[i]
	putDatagram(s, ch, layer)
	r.lens[i] = dgHeader + copy(s[dgHeader:], pkt)
	r.kinds[i] = kind
	r.n++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest datagram: it returns that slot's buffer (valid until
// the next pop) and its kind, and leaves spare, a buffer of the same size,
// in its place.
func (r *sendRing) pop(spare []byte) (buf []byte, kind Kind, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return nil, 0, false
	}
	i := r.head
	buf, kind = r.slots[i][:r.lens[i]], r.kinds[i]
	r.slots[i] = spare[:cap(spare)]
	r.head = (r.head + 1) % len(r.slots)
	r.n--
	return buf, kind, true
}

// len is the number of queued datagrams.
func (r *sendRing) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
