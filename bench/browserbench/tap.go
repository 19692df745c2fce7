package browserbench

import (
	"sync"
	"time"
)

// tap reads every frame that crosses the bridge interface in the root
// namespace (an AF_PACKET socket bound to it), so it sees what the server
// sends towards the subscriber before a shaper on the subscriber's veth
// can drop any of it, and what the publisher sends the server. Frames
// come with a virtio_net_hdr (PACKET_VNET_HDR): a UDP GSO super-packet
// (the edge's segmented writes) is one frame on the bridge, cut into its
// datagrams here.
type tap struct {
	fd int

	mu      sync.Mutex // guards what follows while the reader runs
	origin  time.Time  // the run's T = 0 (zero until set)
	w       *wire
	dropped uint64
}

// setOrigin sets the run's T = 0, from which the tap counts seconds.
func (t *tap) setOrigin(o time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.origin = o
}

// with runs f on the wire while the reader is held off.
func (t *tap) with(f func(w *wire, dropped uint64)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t.w, t.dropped)
}
