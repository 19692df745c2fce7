package forward_test

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/cache"
	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/forward"
	"github.com/spacecast/spacecast/edge/simulcast"
)

// countingWriter stands for pion's webrtc.TrackLocalWriter.
type countingWriter struct {
	mu   sync.Mutex
	seqs []uint16
}

func (w *countingWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.mu.Lock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.mu.Unlock()
	return 0, nil
}

// vp8 builds a minimal VP8 RTP packet of layer `layer`.
func vp8(seq uint16, ts uint32, key bool) []byte {
	b := make([]byte, 12, 40)
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	p := byte(0x11)
	if key {
		p = 0x10
	}
	return append(b, 0x90, 0x80, 0x80, 0x01, p, 0, 0, 0)
}

// Example shows how the edge wires one simulcast video track to one
// subscriber.
func Example() {
	// Once per published track: the Source and one cache per layer.
	src, _ := forward.NewSource(forward.SourceConfig{Codec: codec.KindFromMime("video/VP8"), Layers: 3})
	caches := make([]*cache.Cache, 3)
	for i := range caches {
		caches[i], _ = cache.New(cache.Config{Codec: codec.VP8})
	}

	// Once per subscriber: a bounded queue drained by a Sender. The edge
	// runs `go sender.Run(ctx)` (owned and waited for by the participant);
	// this example calls Flush instead to stay deterministic.
	q, _ := forward.NewQueue(forward.QueueConfig{})
	sender := forward.NewSender(q)

	// Once per subscribed track, in DownTrack.Bind: SSRC and payload type
	// from the TrackLocalContext, the writer from ctx.WriteStream().
	w := &countingWriter{}
	fw, _ := forward.New(forward.Config{Source: src, Queue: q, SSRC: 0x5eed, PayloadType: 96, Tag: 7, Layer: 0})
	sender.SetWriter(7, w)

	// Layer choice, whenever settings, layers or the estimate change.
	sel, _ := simulcast.NewSelector(simulcast.SelectorConfig{})
	layers := []simulcast.Layer{
		{Quality: livekit.VideoQuality_LOW, Bitrate: 150_000, Active: true},
		{Quality: livekit.VideoQuality_MEDIUM, Bitrate: 500_000, Active: true},
		{Quality: livekit.VideoQuality_HIGH, Bitrate: 1_700_000, Active: true},
	}
	now := int64(0)
	l := sel.Select(layers, simulcast.Request{Quality: livekit.VideoQuality_HIGH}, 800_000, now)
	if fw.SetTarget(l) && src.RequestKeyframe(l, now) {
		fmt.Println("PLI to layer", l) // send a PLI to that layer's SSRC
	}

	// The publisher's read loop of each layer: parse once, cache, forward
	// to every subscriber, ask for keyframes when a forwarder waits.
	for i := 0; i < 3; i++ {
		pkt := vp8(uint16(100+i), uint32(i)*3000, i == 0)
		p, err := src.Parse(pkt, 1, now)
		if err != nil {
			continue
		}
		caches[1].StoreParsed(pkt, p.Header.Seq, p.Header.Timestamp, p.Keyframe)
		res := fw.Forward(&p)
		if res.KeyframeLayer >= 0 && src.RequestKeyframe(int(res.KeyframeLayer), now) {
			fmt.Println("PLI to layer", res.KeyframeLayer)
		}
	}

	// The subscriber's RTCP reader: a Generic NACK for 101 is answered
	// from the cache (for each rtcp.NackPair: PacketID, LostPackets).
	resent, missed := fw.HandleNACK(101, 0, caches, make([]byte, cache.DefaultMaxPacket), now, 0)
	fmt.Println("resent", resent, "missed", missed)

	sender.Flush()
	fmt.Println("written", w.seqs, "stats", fw.Stats().Packets, fw.Stats().Resent)
	// Output:
	// PLI to layer 1
	// resent 1 missed 0
	// written [100 101 102 101] stats 3 1
}
