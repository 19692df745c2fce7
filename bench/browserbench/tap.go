package browserbench

import (
	"sync"
	"time"
)

// tap reads every frame that crosses the bridge interface in the root
// namespace (an AF_PACKET socket bound to it), so it sees what the server
// sends towards each subscriber before anything on its link (the shaper
// on its veth, the loss rule and the delay relay in its namespace) can
// drop or hold it, and what the publisher sends the server. Every frame
// goes to each subscriber's wire, which keeps what concerns it. Frames
// come with a virtio_net_hdr (PACKET_VNET_HDR): a UDP GSO super-packet
// (the edge's segmented writes) is one frame on the bridge, cut into its
// datagrams here.
type tap struct {
	fd int

	mu      sync.Mutex  // guards what follows while the reader runs
	origins []time.Time // each wire's T = 0 (zero until set)
	ws      []*wire     // one per subscriber
	dropped uint64
}

// setOrigin sets wire i's T = 0 (its subscriber's), from which the tap
// counts its seconds.
func (t *tap) setOrigin(i int, o time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.origins[i] = o
}

// with runs f on the wires while the reader is held off.
func (t *tap) with(f func(ws []*wire, dropped uint64)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t.ws, t.dropped)
}
