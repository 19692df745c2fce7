package room

import (
	"fmt"
	"testing"
	"time"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/forward"
)

// The reader's frame buffer: which packets go out together, and that a
// packet keeps its bytes when its buffer changes slots.
func TestFrameGrouping(t *testing.T) {
	type in struct {
		ts     uint32
		marker bool
		probe  bool // padding only
	}
	cases := []struct {
		name  string
		video bool
		pkts  []in
		want  string // the fan-outs, each the payload bytes of its packets
		left  int    // packets still collected at the end
	}{
		{"a frame goes out at its marker", true, []in{{ts: 1, marker: false}, {ts: 1, marker: false}, {ts: 1, marker: true}}, "[[0 1 2]]", 0},
		{"single-packet frames go out one by one", true, []in{{ts: 1, marker: true}, {ts: 2, marker: true}}, "[[0] [1]]", 0},
		{"a new frame sends the unfinished one first", true, []in{{ts: 1, marker: false}, {ts: 1, marker: false}, {ts: 2, marker: false}, {ts: 2, marker: true}}, "[[0 1] [2 3]]", 0},
		{"an unfinished frame waits", true, []in{{ts: 1, marker: false}, {ts: 1, marker: false}}, "[]", 2},
		{"audio is never held", false, []in{{ts: 1, marker: false}, {ts: 1, marker: false}}, "[[0] [1]]", 0},
		{"a probe between frames goes at once", true, []in{{ts: 1, marker: true}, {ts: 1, probe: true}, {ts: 2, marker: false}}, "[[0] [1]]", 1},
		{"a probe inside a frame keeps its place", true, []in{{ts: 1, marker: false}, {ts: 1, probe: true}, {ts: 1, marker: true}}, "[[0 1 2]]", 0},
		{"a full buffer goes out", true, func() []in {
			var p []in
			for range maxFramePackets + 1 {
				p = append(p, in{ts: 7, marker: false})
			}
			return p
		}(), "[[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]]", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := frame{group: tc.video}
			var got [][]byte
			out := func(ps []forward.Packet) {
				var b []byte
				for _, p := range ps {
					b = append(b, p.Buf[0])
				}
				got = append(got, b)
			}
			for i, p := range tc.pkts {
				buf := f.next()
				buf[0] = byte(i)
				h := codec.Header{Timestamp: p.ts, Marker: p.marker, PayloadEnd: 1}
				if p.probe {
					h.PayloadEnd = 0
				}
				f.add(forward.Packet{Buf: buf[:1], Header: h}, out)
			}
			if s := fmt.Sprint(got); s != tc.want {
				t.Fatalf("fan-outs %s, want %s", s, tc.want)
			}
			if f.n != tc.left {
				t.Fatalf("%d packets left, want %d", f.n, tc.left)
			}
			got = nil
			f.flush(out)
			if tc.left > 0 && len(got) != 1 {
				t.Fatalf("flush sent %v", got)
			}
		})
	}
}

func TestSenderReport(t *testing.T) {
	d := &DownTrack{}
	if d.senderReport(0, time.Now()) != nil {
		t.Fatal("report from an unbound track")
	}
	d.bound.Store(&binding{ssrc: 42, clockRate: 90000})
	if d.senderReport(0, time.Now()) != nil {
		t.Fatal("report before any packet")
	}
	// Two packets went out; the newest (RTP 1000) at 2 s on the manager clock.
	sent := int64(2 * time.Second)
	d.srPackets.Store(2)
	d.srOctets.Store(2400)
	d.srLast.Store(uint64(1000)<<32 | uint64(uint32(sent/1000)))
	wall := time.Date(2026, 11, 28, 12, 0, 0, 500_000_000, time.UTC)
	sr := d.senderReport(sent+int64(100*time.Millisecond), wall)
	if sr == nil {
		t.Fatal("no report")
	}
	// 100 ms later at 90 kHz: 9000 ticks on.
	if sr.SSRC != 42 || sr.RTPTime != 10000 || sr.PacketCount != 2 || sr.OctetCount != 2400 {
		t.Fatalf("report %+v", sr)
	}
	if secs, frac := sr.NTPTime>>32, sr.NTPTime&0xffffffff; secs != uint64(wall.Unix())+2208988800 || frac != 1<<31 {
		t.Fatalf("NTP time %x: want the wall clock in NTP form", sr.NTPTime)
	}
	if d.senderReport(sent+int64(srStale)+1e6, wall) != nil {
		t.Fatal("report from a track silent for longer than srStale")
	}
}
