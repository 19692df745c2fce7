package bwe_test

import (
	"fmt"

	"github.com/pion/rtcp"

	"github.com/spacecast/spacecast/edge/bwe"
)

// How a subscriber connection's sink drives the estimator: Sent for every
// packet it sends with a transport-wide sequence number, NextProbe after
// each drain, Feedback for each transport-cc packet the subscriber sends
// back, Estimate and WantProbe from the layer allocator every ~100 ms.
func Example() {
	e, err := bwe.New(bwe.Config{Initial: 500_000, Max: 10_000_000})
	if err != nil {
		panic(err)
	}
	var seq uint16
	now := int64(1_000_000_000) // the media clock, ns

	// The drain (sender side): media first, then whatever probe is due.
	for range 3 { // three 1,200-byte packets of a frame
		seq++
		e.Sent(seq, 1200, now, 0)
	}
	if p, ok := e.NextProbe(now); ok {
		fmt.Printf("probe cluster %d: %d bytes of padding in at least %d packets now\n", p.Cluster, p.Bytes, p.Packets)
		n := max(p.Packets, (p.Bytes+254)/255) // RTX padding-only packets
		for range n {
			seq++
			e.Sent(seq, p.Bytes/n, now, p.Cluster)
		}
	}

	// The RTCP reader (feedback side): the subscriber reports packets 1–3
	// arrived 1 ms apart.
	fb := &rtcp.TransportLayerCC{
		BaseSequenceNumber: 1, PacketStatusCount: 3, ReferenceTime: 100,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 3}},
		RecvDeltas:   []*rtcp.RecvDelta{{Delta: 20_000}, {Delta: 1000}, {Delta: 1000}},
	}
	if err := e.Feedback(fb, now+40_000_000); err != nil {
		panic(err)
	}

	// The allocator: read the estimate, say what the layers would need.
	est := e.Estimate()
	e.WantProbe(2_500_000, now+100_000_000)
	fmt.Printf("target %d bit/s, %v\n", est.Target, est.Usage)
	// Output:
	// probe cluster 1: 937 bytes of padding in at least 1 packets now
	// target 501000 bit/s, normal
}
