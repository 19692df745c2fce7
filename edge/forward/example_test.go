package forward_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/forward"
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

// sliceReader stands for a received stream (pion's TrackRemote).
type sliceReader struct{ pkts [][]byte }

func (r *sliceReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if len(r.pkts) == 0 {
		return 0, nil, io.EOF
	}
	n := copy(b, r.pkts[0])
	r.pkts = r.pkts[1:]
	return n, nil, nil
}
func (r *sliceReader) SetReadDeadline(time.Time) error { return nil }

// publisher stands for the publisher's peer connection.
type publisher struct{}

func (publisher) RequestKeyframe(layer int, ssrc uint32) {
	fmt.Println("PLI to layer", layer)
}
func (publisher) RequestRetransmission(int, uint32, []uint16) {}

// vp8 builds a minimal one-packet VP8 frame.
func vp8(seq uint16, ts uint32, key bool) []byte {
	b := make([]byte, 12, 40)
	b[0], b[1] = 0x80, 96
	b[1] |= 0x80 // marker: the frame's last packet
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	p := byte(0x11)
	if key {
		p = 0x10
	}
	return append(b, 0x90, 0x80, 0x80, 0x01, p, 0, 0, 0)
}

// Example shows how the edge wires one published track to one subscriber.
func Example() {
	epoch := time.Now()
	now := func() int64 { return int64(time.Since(epoch)) }

	// Once per published track.
	track, _ := forward.NewTrack(forward.TrackConfig{Codec: codec.VP8, Upstream: publisher{}, Now: now})

	// Once per subscriber: its Sink. Over UDP its packets leave from the
	// publisher's reader (inline); over TCP its owner runs sink.Run.
	sink, _ := forward.NewSink(forward.SinkConfig{Now: now})
	sink.SetInline(true)

	// Once per received layer: its reader, which the publisher runs in a
	// goroutine it owns (here, below, until the stream ends).
	layer, _ := track.AddLayer(0, 0x1000, &sliceReader{pkts: [][]byte{
		vp8(100, 0, true), vp8(101, 3000, false), vp8(103, 6000, false),
	}}, 0)

	// Once per subscription; Bind when pion negotiated the track, Start
	// once the subscriber's connection is up (nothing cached yet: it asks
	// for a keyframe).
	down, _ := sink.Subscribe(track)
	w := &countingWriter{}
	down.Bind(forward.Output{Writer: w, SSRC: 0x5eed, PayloadType: 96, ClockRate: 90000})
	down.Start(0, make([]byte, 1500), now())

	layer.Run()

	// The subscriber's RTCP: a Generic NACK for 101 is answered from the
	// cache.
	resent, missed := down.HandleNACK(101, 0, make([]byte, 1500), now(), 0)
	sink.Flush(nil)
	fmt.Println("resent", resent, "missed", missed)
	fmt.Println("written", w.seqs, "forwarded", down.Stats().Packets)
	// Output:
	// PLI to layer 0
	// resent 1 missed 0
	// written [100 101 103 101] forwarded 3
}
