package relay

import (
	"testing"
)

func TestPaddingOnly(t *testing.T) {
	ext := func(words int) []byte { // a header with a one-word extension block per word
		p := rtpPacket(1, 0, 0)
		p[0] |= 0x10
		p = append(p, 0xbe, 0xde, 0, byte(words))
		return append(p, make([]byte, 4*words)...)
	}
	padded := func(p []byte, n int) []byte {
		p[0] |= 0x20
		pad := make([]byte, n)
		pad[n-1] = byte(n)
		return append(p, pad...)
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"media", rtpPacket(1, 100, 0xaa), false},
		{"header and one padding octet (a tapped probe)", padded(rtpPacket(1, 0, 0), 1), true},
		{"a browser's probe: 255 octets of padding", padded(rtpPacket(1, 0, 0), 255), true},
		{"extension and padding only", padded(ext(2), 8), true},
		{"extension, payload and padding", padded(append(ext(1), 1, 2, 3), 4), false},
		{"header only", rtpPacket(1, 0, 0), true},
		{"two CSRCs and a payload", func() []byte { p := rtpPacket(1, 9, 1); p[0] |= 2; return p }(), false},
		{"two CSRCs, nothing else", func() []byte { p := rtpPacket(1, 8, 1); p[0] |= 2; return p }(), true},
		{"too short", []byte{0x80, 96}, false},
		{"extension cut short", func() []byte { p := rtpPacket(1, 2, 0); p[0] |= 0x10; return p }(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := paddingOnly(tc.pkt); got != tc.want {
				t.Fatalf("paddingOnly = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLayerBytesByKind: what crosses is counted by layer and kind, in the
// link's stats and its Prometheus series, and the kinds add up to the
// link's bytes.
func TestLayerBytesByKind(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	b := startEndpoint(t, "edge-b", dir, endpointOpts{keys: keys})
	rec := newRecorder()
	sub, err := b.Subscribe("edge-a", "room1", "TR_video", 0b011, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	eventually(t, "A serves B's subscription", func() bool { return a.origin.feed("TR_video") != nil })
	out := a.origin.feed("TR_video").out

	probe := rtpPacket(4, 0, 0)
	probe[0] |= 0x20
	probe = append(probe, 1)
	sends := []struct {
		layer int
		kind  Kind
		pkt   []byte
		send  func(int, []byte) bool
	}{
		{0, KindMedia, rtpPacket(1, 1000, 1), out.WriteRTP},
		{0, KindMedia, rtpPacket(2, 500, 2), out.WriteRTP},
		{1, KindMedia, rtpPacket(3, 800, 3), out.WriteRTP},
		{1, KindPadding, probe, out.WriteRTP},
		{0, KindRepair, rtpPacket(1, 1000, 1), out.Repair},
		{1, KindReplay, rtpPacket(3, 800, 3), out.Replay},
	}
	var want [MaxLayers][NumKinds]uint64
	var total uint64
	for _, s := range sends {
		if !s.send(s.layer, s.pkt) {
			t.Fatalf("layer %d %v refused", s.layer, s.kind)
		}
		want[s.layer][s.kind] += uint64(len(s.pkt))
		total += uint64(len(s.pkt))
	}
	if out.Repair(2, rtpPacket(5, 10, 5)) {
		t.Fatal("a repair of a layer nobody demanded was queued")
	}
	eventually(t, "B receives everything", func() bool { return rec.count(0)+rec.count(1) == len(sends) })
	eventually(t, "A counts everything", func() bool { return a.Stats("edge-b").BytesSent == total })
	st := a.Stats("edge-b")
	if st.LayerBytesSent != want {
		t.Fatalf("LayerBytesSent = %v, want %v", st.LayerBytesSent, want)
	}
	for q := range MaxLayers {
		for k := range NumKinds {
			got := value(a.m.LayerBytesSent.WithLabelValues("edge-b", string(rune('0'+q)), k.String()))
			if got != float64(want[q][k]) {
				t.Fatalf("metric layer %d kind %v = %v, want %d", q, k, got, want[q][k])
			}
		}
	}
}
