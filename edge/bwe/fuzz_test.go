package bwe

import (
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

// fuzzSeeds are hand-built and pion-built packets; testdata/fuzz/FuzzFeedback
// holds them and the corpus entries worth keeping.
func fuzzSeeds(t testing.TB) [][]byte {
	return [][]byte{
		tccBytes(65534, 4, 10, 0, []uint16{runChunk(symSmallDelta, 4)}, []byte{4, 0, 255, 1}),
		tccBytes(100, 14, 10, 1, []uint16{vec1("10100000000001")}, []byte{8, 4, 40}),
		tccBytes(7, 7, 0xffffff, 2, []uint16{vec2(1, 2, 0, 2, 1, 0, 0)}, cat([]byte{2}, be16(1000), be16(-400), []byte{1})),
		tccBytes(65530, 9, 1, 3, []uint16{runChunk(0, 3), runChunk(2, 2), vec1("11111111111111")}, cat(be16(-4), be16(8), []byte{1, 1, 1, 1})),
		tccBytes(0, 0xffff, 5, 4, []uint16{runChunk(0, maxRun), runChunk(0, maxRun), runChunk(1, 5)}, []byte{1, 2, 3, 4, 5}),
		marshalTCC(t, &rtcp.TransportLayerCC{
			Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
			BaseSequenceNumber: 3, PacketStatusCount: 2,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: 2, RunLength: 2}},
			RecvDeltas:   []*rtcp.RecvDelta{{Type: 2, Delta: -250}, {Type: 2, Delta: 8_191_750}},
		}),
	}
}

// FuzzFeedback: feedback is untrusted input. Neither decoder may panic or
// allocate; where pion's parser and ours both accept a packet they must
// read the same statuses; an Estimator with a send history must take any
// of it through both entry points.
func FuzzFeedback(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	e, err := New(Config{History: 256})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 512 {
		e.Sent(uint16(65400+i), 1200, int64(i)*ms, i%3)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var wire collector
		werr := decodeBytes(b, &wire)
		if werr != nil && len(wire.reports) != 0 {
			t.Fatalf("malformed packet reported %d statuses", len(wire.reports))
		}
		var p rtcp.TransportLayerCC
		if perr := p.Unmarshal(b); perr == nil {
			var fromPion collector
			if err := decodePion(&p, &fromPion); err == nil && werr == nil &&
				!reflect.DeepEqual(wire.reports, fromPion.reports) {
				t.Fatalf("wire %v\npion %v", wire.reports, fromPion.reports)
			}
			_ = e.Feedback(&p, int64(len(b))*ms)
		}
		_ = e.FeedbackBytes(b, int64(len(b))*ms)
		_ = e.Estimate()
	})
}
