package bwe

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtcp"
)

// BenchmarkSent is the per-packet cost on the send path: 0 allocations.
func BenchmarkSent(b *testing.B) {
	e := mustNew(b, Config{NoProbe: true})
	b.ReportAllocs()
	var at int64
	for i := range b.N {
		at += 100_000
		e.Sent(uint16(i), 1200, at, 0)
	}
}

// BenchmarkSentProbing is Sent while a probe cluster is under way.
func BenchmarkSentProbing(b *testing.B) {
	e := mustNew(b, Config{})
	b.ReportAllocs()
	var at int64
	for i := range b.N {
		at += 100_000
		p, _ := e.NextProbe(at)
		e.Sent(uint16(i), 1200, at, p.Cluster)
	}
}

// BenchmarkNextProbe is the drain's question when nothing is due.
func BenchmarkNextProbe(b *testing.B) {
	e := mustNew(b, Config{NoProbe: true})
	b.ReportAllocs()
	for i := range b.N {
		e.NextProbe(int64(i) * 1000)
	}
}

// benchFeedback makes n feedback packets of 50 entries (every 10th lost)
// for 50-packet spans sent 1 ms apart.
func benchFeedback(b *testing.B, e *Estimator) ([]*rtcp.TransportLayerCC, [][]byte) {
	const n, per = 64, 50
	var fbs []*rtcp.TransportLayerCC
	var raws [][]byte
	for f := range n {
		arr := make([]int, per)
		for i := range arr {
			arr[i] = (f*per + i) * 4
			if i%10 == 9 {
				arr[i] = -1
			}
		}
		fb := fbFor(uint16(f*per), 1, uint8(f), arr...)
		fbs = append(fbs, fb)
		raws = append(raws, marshalTCC(b, fb))
	}
	return fbs, raws
}

// BenchmarkFeedback is the cost of one feedback packet of 50 entries
// (decoded by pion beforehand, as the RTCP reader gets it), matched with
// the history and run through the estimator.
func BenchmarkFeedback(b *testing.B) {
	e := mustNew(b, Config{NoProbe: true})
	fbs, _ := benchFeedback(b, e)
	span := len(fbs) * 50
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f := i % len(fbs)
		round := int64(i / len(fbs))
		if f == 0 {
			b.StopTimer()
			for s := range span { // the packets this round reports
				e.Sent(uint16(int(round)*span+s), 1200, (round*int64(span)+int64(s))*ms, 0)
			}
			b.StartTimer()
		}
		// Each round reports new packets, 3.2 s later.
		fbs[f].BaseSequenceNumber = uint16(int(round)*span + f*50)
		fbs[f].ReferenceTime = uint32(1 + round*int64(span)/64)
		_ = e.Feedback(fbs[f], (round*int64(span)+int64(f*50+60))*ms)
	}
	b.StopTimer()
	if st := e.Stats(); st.Duplicates != 0 || st.Unknown != 0 || st.Received == 0 {
		b.Fatalf("the benchmark did not report fresh packets: %+v", st)
	}
}

// BenchmarkFeedbackBytes is BenchmarkFeedback from the wire form, pion's
// unmarshalling left out.
func BenchmarkFeedbackBytes(b *testing.B) {
	e := mustNew(b, Config{NoProbe: true})
	_, raws := benchFeedback(b, e)
	span := len(raws) * 50
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f := i % len(raws)
		round := int64(i / len(raws))
		if f == 0 {
			b.StopTimer()
			for s := range span {
				e.Sent(uint16(int(round)*span+s), 1200, (round*int64(span)+int64(s))*ms, 0)
			}
			b.StartTimer()
		}
		b := raws[f]
		binary.BigEndian.PutUint16(b[12:], uint16(int(round)*span+f*50))
		ref := uint32(1 + round*int64(span)/64)
		b[16], b[17], b[18] = byte(ref>>16), byte(ref>>8), byte(ref)
		_ = e.FeedbackBytes(b, (round*int64(span)+int64(f*50+60))*ms)
	}
	b.StopTimer()
	if st := e.Stats(); st.Duplicates != 0 || st.Unknown != 0 || st.Received == 0 {
		b.Fatalf("the benchmark did not report fresh packets: %+v", st)
	}
}

// BenchmarkPionUnmarshal is what pion's parser costs the RTCP reader for
// the same packet, for comparison with FeedbackBytes.
func BenchmarkPionUnmarshal(b *testing.B) {
	_, raws := benchFeedback(b, mustNew(b, Config{NoProbe: true}))
	b.ReportAllocs()
	for i := range b.N {
		var fb rtcp.TransportLayerCC
		_ = fb.Unmarshal(raws[i%len(raws)])
	}
}
