package room

import (
	"testing"

	"github.com/spacecast/spacecast/edge/forward"
)

// A new down track starts only once the subscriber's connection is up
// (media written before DTLS is lost, the keyframe with it), and then at
// once from the newest keyframe in the cache: its own layer's, else a lower
// layer's, switching up at the next keyframe it asks for.
func TestNewSubscriberStartsFromCachedKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name      string
		uncached  []int // layers without a keyframe in the cache
		current   int   // the layer it starts on
		sent      int
		requested uint64 // keyframe requests for layer 2
	}{
		{"own layer cached", []int{1}, 2, 5 * 7, 0}, // 5 frames of 7 packets since the keyframe
		{"a lower layer cached", []int{1, 2}, 0, 5, 1},
		{"nothing cached", []int{0, 1, 2}, -1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, d := layeredSubscriber(t, tc.uncached...)
			w := &discard{}
			d.down.Bind(forward.Output{Writer: w, SSRC: 1, PayloadType: 96, ClockRate: 90000})
			sub.sink.SetInline(true)
			sub.subConnected = false
			sub.allocate()
			if d.down.Target() != -1 || d.track.media.Source().LayerStats(2, 0).KeyframeRequests != 0 {
				t.Fatalf("started before the connection was up: target %d", d.down.Target())
			}
			sub.subConnected = true
			sub.allocate()
			if d.down.Current() != tc.current || d.down.Target() != 2 {
				t.Fatalf("current layer %d, target %d; want %d, 2", d.down.Current(), d.down.Target(), tc.current)
			}
			if w.n != tc.sent {
				t.Fatalf("%d packets sent at once, want %d", w.n, tc.sent)
			}
			if got := d.track.media.Source().LayerStats(2, 0).KeyframeRequests; got != tc.requested {
				t.Fatalf("%d keyframe requests for layer 2, want %d", got, tc.requested)
			}
		})
	}
}
