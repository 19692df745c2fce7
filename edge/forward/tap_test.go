package forward

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/simulcast"
)

type tapRec struct {
	mu   sync.Mutex
	pkts [][]byte
	lay  []int
	srs  []uint32
}

func (r *tapRec) RTP(layer int, pkt []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts = append(r.pkts, slices.Clone(pkt))
	r.lay = append(r.lay, layer)
}

func (r *tapRec) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srs = append(r.srs, rtpTS)
}

// TestTap: a tap gets every received packet once, as it arrived, with its
// layer; a padding-only probe cut to its header and one padding byte; no
// duplicate; nothing after RemoveTap. Sender reports reach the source and
// the taps.
func TestTap(t *testing.T) {
	var clock int64
	tr, err := NewTrack(TrackConfig{Codec: codec.VP8, Layers: 2, Upstream: nopUpstream{}, Now: func() int64 { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	rec := &tapRec{}
	tr.AddTap(rec)
	rd := newStepReader()
	l, err := tr.AddLayer(1, layerSSRC[1], rd, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { l.Run(); close(done) }()
	key := vp8Packet(pk{seq: 10, layer: 1, key: true})
	pad := vp8Packet(pk{seq: 11, layer: 1, padOnly: true, ext: true})
	next := vp8Packet(pk{seq: 12, layer: 1})
	for _, p := range [][]byte{key, pad, next, key} { // the last one a duplicate
		rd.feed(p)
	}
	tr.RemoveTap(rec)
	rd.feed(vp8Packet(pk{seq: 13, layer: 1}))
	rd.close()
	<-done

	if len(rec.pkts) != 3 || !slices.Equal(rec.lay, []int{1, 1, 1}) {
		t.Fatalf("tap got %d packets on layers %v, want 3 on layer 1", len(rec.pkts), rec.lay)
	}
	if !bytes.Equal(rec.pkts[0], key) || !bytes.Equal(rec.pkts[2], next) {
		t.Fatal("media reached the tap changed")
	}
	h, err := codec.ParseRTP(rec.pkts[1])
	if err != nil || h.Seq != 11 || h.PayloadLen() != 0 || len(rec.pkts[1]) != 12+8+1 {
		t.Fatalf("padding reached the tap as %d bytes (seq %d, err %v), want its header and one padding byte", len(rec.pkts[1]), h.Seq, err)
	}

	tr.AddTap(rec)
	tr.SenderReport(1, 5<<32, 9000)
	if !slices.Equal(rec.srs, []uint32{9000}) {
		t.Fatalf("tap sender reports %v", rec.srs)
	}
	if _, ok := tr.src.mapTimestamp(1, 0, 1, 0); !ok {
		t.Fatal("same layer should map")
	}
	tr.src.mu.Lock()
	valid := tr.src.srs[1].valid
	tr.src.mu.Unlock()
	if !valid {
		t.Fatal("the sender report did not reach the source")
	}
}

// TestWantedAndRemoteLayers: Wanted is the union of the bound downs'
// targets and current layers; SimLayers takes a fresh RemoteLayers over
// what arrives locally, and ignores a stale one.
func TestWantedAndRemoteLayers(t *testing.T) {
	var clock int64 = int64(time.Hour)
	tr, err := NewTrack(TrackConfig{Codec: codec.VP8, Layers: 3, Upstream: nopUpstream{}, Now: func() int64 { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := NewSink(SinkConfig{Now: func() int64 { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := sink.Subscribe(tr)
	d2, _ := sink.Subscribe(tr)
	d3, _ := sink.Subscribe(tr) // never bound: wants nothing
	d1.Bind(Output{Writer: &rtpWriter{}, SSRC: 1})
	d2.Bind(Output{Writer: &rtpWriter{}, SSRC: 2})
	d1.SetTarget(0, clock)
	d2.SetTarget(2, clock)
	d3.SetTarget(1, clock)
	if got := tr.Wanted(); got != 0b101 {
		t.Fatalf("Wanted = %03b, want 101", got)
	}
	d2.Close()
	if got := tr.Wanted(); got != 0b001 {
		t.Fatalf("Wanted after a down left = %03b, want 001", got)
	}

	tr.SetRemoteLayers(RemoteLayers{Active: [MaxLayers]bool{true, false, true}, Bitrate: [MaxLayers]uint64{100, 0, 900}, At: clock})
	ls := tr.SimLayers(clock, nil, nil)
	want := []simulcast.Layer{{Quality: 0, Active: true, Bitrate: 100}, {Quality: 1}, {Quality: 2, Active: true, Bitrate: 900}}
	if !slices.Equal(ls, want) {
		t.Fatalf("SimLayers = %+v, want %+v", ls, want)
	}
	clock += int64(remoteStale) + 1
	for _, l := range tr.SimLayers(clock, nil, nil) {
		if l.Active {
			t.Fatalf("a stale remote state still makes layer %d active", l.Quality)
		}
	}
}
