package forward

import (
	"testing"

	"github.com/spacecast/spacecast/edge/codec"
)

// FuzzForward feeds publisher packets (untrusted) through Parse, Forward
// and Retransmit: nothing may panic, and whatever is queued must be an RTP
// packet no longer than the input.
func FuzzForward(f *testing.F) {
	f.Add(vp8Packet(pk{seq: 1, key: true, pic: 5}), uint8(0), uint8(1))
	f.Add(vp8Packet(pk{seq: 65535, key: true, pic: 0x7fff, ext: true}), uint8(1), uint8(0))
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x90, 0xf0, 0x80}, uint8(0), uint8(0))
	f.Add([]byte{0xb0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0x10, 0x10, 2}, uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, layer, tgt uint8) {
		src, err := NewSource(SourceConfig{Codec: codec.VP8, Layers: 2})
		if err != nil {
			t.Fatal(err)
		}
		q, err := NewQueue(QueueConfig{Size: 4})
		if err != nil {
			t.Fatal(err)
		}
		fw, err := New(Config{Source: src, Queue: q, SSRC: 9, PayloadType: 100})
		if err != nil {
			t.Fatal(err)
		}
		fw.SetTarget(int(tgt%3) - 1)
		for i := 0; i < 2; i++ {
			p, err := src.Parse(b, int(layer%2), int64(i))
			if err != nil {
				return
			}
			fw.Forward(&p)
			p.Keyframe = true // force a switch path as well
			fw.SetTarget(int(layer % 2))
			fw.Forward(&p)
		}
		if h, err := codec.ParseRTP(b); err == nil {
			fw.Retransmit(b, h.Seq)
		}
		out := make([]byte, 1500)
		for {
			n, _, ok := pop(q, out)
			if !ok {
				break
			}
			if n > len(b) {
				t.Fatalf("queued %d bytes from a %d-byte packet", n, len(b))
			}
			if _, err := codec.ParseRTP(out[:n]); err != nil {
				t.Fatalf("queued packet does not parse: %v", err)
			}
		}
	})
}
