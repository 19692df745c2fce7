package relay

import (
	"errors"
	"reflect"
	"testing"
)

// TestControlRoundTrip: every control message decodes to what was encoded.
func TestControlRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		m    msg
	}{
		{"hello", msg{typ: msgHello, version: protocolVersion, node: "edge-eu-1"}},
		{"subscribe", msg{typ: msgSubscribe, ch: 1 << 31, layers: 0b101, room: "room ✓", track: "TR_abc"}},
		{"unsubscribe", msg{typ: msgUnsubscribe, ch: 7}},
		{"layers", msg{typ: msgLayers, ch: 7, layers: 0}},
		{"keyframe", msg{typ: msgKeyframe, ch: 7, layer: 2}},
		{"nack", msg{typ: msgNACK, ch: 7, layer: 1, seqs: []uint16{0, 1, 65535}}},
		{"sender report", msg{typ: msgSenderReport, ch: 3, layer: 3, ntp: 1<<63 + 5, rtp: 1<<32 - 1}},
		{"layer state", msg{typ: msgLayerState, ch: 3, state: LayerState{Layers: 3, Active: [MaxLayers]bool{true, false, true}, Bitrate: [MaxLayers]uint64{1, 0, 1 << 40}}}},
		{"refuse", msg{typ: msgRefuse, ch: 3, reason: "no such track"}},
		{"app", msg{typ: msgApp, topic: "room", payload: []byte{0, 1, 2}}},
		{"app empty", msg{typ: msgApp, topic: "t"}},
		{"wants", msg{typ: msgWant, wants: true}},
		{"wants nothing", msg{typ: msgWant}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := appendMsg([]byte{0xff}, &tc.m) // after other bytes
			if b[0] != 0xff {
				t.Fatal("appendMsg overwrote what came before")
			}
			n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			if n != len(b)-4 {
				t.Fatalf("length %d, body %d", n, len(b)-4)
			}
			got, err := decodeMsg(b[4:], nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.m.typ == msgApp && len(tc.m.payload) == 0 {
				got.payload = nil
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("decoded %+v, want %+v", got, tc.m)
			}
		})
	}
}

// TestControlRejects: truncated, oversized, trailing and unknown messages
// are errors.
func TestControlRejects(t *testing.T) {
	sub := appendMsg(nil, &msg{typ: msgSubscribe, ch: 1, layers: 1, room: "r", track: "t"})[3:]
	long := make([]byte, 0, 2000)
	long = append(long, msgHello, 1)
	long = append(long, 0xd0, 0x0f) // a 2000-byte node id
	long = append(long, make([]byte, 2000)...)
	cases := map[string][]byte{
		"empty":           {},
		"unknown type":    {99},
		"truncated":       sub[:len(sub)-1],
		"trailing":        append(append([]byte{}, sub...), 0),
		"layer too high":  {msgKeyframe, 1, MaxLayers},
		"nack too long":   {msgNACK, 1, 0, 0xff, 0x0f},
		"nack short":      {msgNACK, 1, 0, 2, 0, 1},
		"bad active flag": {msgLayerState, 1, 1, 2, 0},
		"too many layers": {msgLayerState, 1, MaxLayers + 1},
		"name too long":   long,
		"channel > 32bit": {msgUnsubscribe, 0x80, 0x80, 0x80, 0x80, 0x10},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeMsg(b, nil); !errors.Is(err, ErrMalformed) {
				t.Fatalf("decodeMsg = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestDatagram: the header round-trips; short, foreign and non-RTP
// datagrams are refused.
func TestDatagram(t *testing.T) {
	pkt := rtpPacket(5, 30, 9)
	b := make([]byte, dgHeader+len(pkt))
	putDatagram(b, 0xdeadbeef, 3)
	copy(b[dgHeader:], pkt)
	ch, layer, got, err := parseDatagram(b)
	if err != nil || ch != 0xdeadbeef || layer != 3 || string(got) != string(pkt) {
		t.Fatalf("parseDatagram = %x %d %v", ch, layer, err)
	}
	for name, bad := range map[string][]byte{
		"short":     b[:dgHeader+11],
		"kind":      append([]byte{2}, b[1:]...),
		"layer":     append(append([]byte{}, b[:5]...), append([]byte{MaxLayers}, b[6:]...)...),
		"rtp v1":    append(append([]byte{}, b[:dgHeader]...), append([]byte{0x40}, pkt[1:]...)...),
		"no header": nil,
	} {
		if _, _, _, err := parseDatagram(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: parseDatagram = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzControl: no input makes the decoder panic, and what decodes encodes
// back to the same bytes.
func FuzzControl(f *testing.F) {
	for _, m := range []msg{
		{typ: msgHello, version: 1, node: "n"},
		{typ: msgSubscribe, ch: 1, layers: 7, room: "r", track: "t"},
		{typ: msgNACK, ch: 1, layer: 1, seqs: []uint16{1, 2}},
		{typ: msgLayerState, ch: 1, state: LayerState{Layers: 2, Active: [MaxLayers]bool{true}, Bitrate: [MaxLayers]uint64{300}}},
		{typ: msgApp, topic: "x", payload: []byte("y")},
		{typ: msgSenderReport, ch: 9, layer: 0, ntp: 1, rtp: 2},
	} {
		f.Add(appendMsg(nil, &m)[3:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMsg(b, nil)
		if err != nil {
			return
		}
		again := appendMsg(nil, &m)[3:]
		m2, err := decodeMsg(again, nil)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(m), normal(m2)) {
			t.Fatalf("round trip changed the message: %+v → %+v", m, m2)
		}
	})
}

// normal makes empty and nil slices alike for comparison.
func normal(m msg) msg {
	if len(m.payload) == 0 {
		m.payload = nil
	}
	if len(m.seqs) == 0 {
		m.seqs = nil
	}
	return m
}

// FuzzDatagram: parseDatagram never panics and returns a packet inside
// its input.
func FuzzDatagram(f *testing.F) {
	b := append([]byte{dgRTP, 0, 0, 0, 1, 0}, rtpPacket(1, 4, 0)...)
	f.Add(b)
	f.Add([]byte{dgRTP})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, layer, pkt, err := parseDatagram(b)
		if err != nil {
			return
		}
		if layer >= MaxLayers || len(pkt) != len(b)-dgHeader {
			t.Fatalf("layer %d, %d of %d bytes", layer, len(pkt), len(b))
		}
	})
}
