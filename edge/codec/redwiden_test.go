package codec

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// redPacket is an RTP packet (seq, ts) whose RED payload carries the
// frames of ts-960*k for each k in olds (oldest first) and then ts's own.
func redPacket(seq uint16, ts uint32, olds ...uint32) []byte {
	b := make([]byte, 1500)
	b[0], b[1] = 0x80, 63
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 0x1234)
	p := b[:12]
	for _, k := range olds {
		v := uint32(0x80|111)<<24 | (960*k)<<10 | uint32(len(frame(ts-960*k)))
		p = binary.BigEndian.AppendUint32(p, v)
	}
	p = append(p, 111)
	for _, k := range olds {
		p = append(p, frame(ts-960*k)...)
	}
	p = append(p, frame(ts)...)
	return p[:len(p):1500]
}

// frame is the made-up Opus frame of timestamp ts: its length and bytes
// depend on ts.
func frame(ts uint32) []byte {
	f := make([]byte, 20+int(ts/960)%7)
	for i := range f {
		f[i] = byte(ts/960) + byte(i)
	}
	return f
}

// blocksOf returns the timestamps and data of a RED packet's blocks.
func blocksOf(t *testing.T, pkt []byte) (tss []uint32, data [][]byte) {
	t.Helper()
	h, err := ParseRTP(pkt)
	if err != nil {
		t.Fatal(err)
	}
	var bl [4]redBlock
	n, ok := parseRED(pkt[h.PayloadOffset:h.PayloadEnd], h.Timestamp, bl[:])
	if !ok {
		t.Fatalf("malformed RED: %x", pkt)
	}
	for _, b := range bl[:n] {
		tss = append(tss, b.ts)
		data = append(data, pkt[h.PayloadOffset+b.off:h.PayloadOffset+b.end])
	}
	return tss, data
}

func TestREDWidener(t *testing.T) {
	const age = 3 * 960
	widen := func(w *REDWidener, pkt []byte, on bool) []byte {
		h, err := ParseRTP(pkt)
		if err != nil {
			t.Fatal(err)
		}
		buf := pkt[:cap(pkt)]
		return buf[:w.Widen(buf, len(pkt), h, on, age)]
	}
	check := func(pkt []byte, want ...uint32) {
		t.Helper()
		tss, data := blocksOf(t, pkt)
		if len(tss) != len(want) {
			t.Fatalf("blocks of %v, want %v", tss, want)
		}
		for i := range want {
			if tss[i] != want[i] || !bytes.Equal(data[i], frame(want[i])) {
				t.Fatalf("block %d: ts %d (want %d), data %x", i, tss[i], want[i], data[i])
			}
		}
		if p, err := REDPrimary(pkt[12:]); err != nil || !bytes.Equal(p, frame(want[len(want)-1])) {
			t.Fatalf("primary %x, %v", p, err)
		}
	}

	t.Run("two earlier frames once widened", func(t *testing.T) {
		var w REDWidener
		first := widen(&w, redPacket(1, 960), true)
		check(first, 960) // nothing remembered yet
		check(widen(&w, redPacket(2, 1920, 1), true), 960, 1920)
		check(widen(&w, redPacket(3, 2880, 1), true), 960, 1920, 2880)
		check(widen(&w, redPacket(4, 3840, 1), true), 1920, 2880, 3840)
	})
	t.Run("left alone unless asked", func(t *testing.T) {
		var w REDWidener
		for i := uint32(1); i <= 4; i++ {
			in := redPacket(uint16(i), 960*i, 1)
			want := append([]byte(nil), in...)
			if got := widen(&w, in, false); !bytes.Equal(got, want) {
				t.Fatalf("packet %d changed", i)
			}
		}
		// The history was kept meanwhile: the next widened packet has it.
		check(widen(&w, redPacket(5, 4800, 1), true), 2880, 3840, 4800)
	})
	t.Run("a packet lost upstream: its frame from the publisher's block", func(t *testing.T) {
		var w REDWidener
		widen(&w, redPacket(1, 960), true)
		widen(&w, redPacket(2, 1920, 1), true)
		// 3 (2880) lost; 4 carries it as its redundant block.
		check(widen(&w, redPacket(4, 3840, 1), true), 1920, 2880, 3840)
	})
	t.Run("nothing older than the age", func(t *testing.T) {
		var w REDWidener
		widen(&w, redPacket(1, 960), true)
		// 10 frames later (a DTX pause): too old to help.
		check(widen(&w, redPacket(2, 960*11), true), 960*11)
	})
	t.Run("late and malformed packets unchanged", func(t *testing.T) {
		var w REDWidener
		widen(&w, redPacket(1, 960), true)
		widen(&w, redPacket(2, 1920, 1), true)
		late := redPacket(1, 960)
		want := append([]byte(nil), late...)
		if got := widen(&w, late, true); !bytes.Equal(got, want) {
			t.Fatal("a late packet changed")
		}
		bad := redPacket(3, 2880, 1)
		bad[12+3] = 0xff // a block longer than the payload
		want = append([]byte(nil), bad...)
		if got := widen(&w, bad, true); !bytes.Equal(got, want) {
			t.Fatal("a malformed packet changed")
		}
	})
	t.Run("no allocation", func(t *testing.T) {
		var w REDWidener
		pkts := make([][]byte, 64)
		for i := range pkts {
			pkts[i] = redPacket(uint16(i), 960*uint32(i+1), 1)
		}
		hs := make([]Header, len(pkts))
		for i, p := range pkts {
			hs[i], _ = ParseRTP(p)
		}
		i := 0
		allocs := testing.AllocsPerRun(50, func() {
			p := pkts[i%len(pkts)]
			w.Widen(p[:cap(p)], len(p), hs[i%len(pkts)], true, age)
			i++
		})
		if allocs != 0 {
			t.Fatalf("%.1f allocations a packet", allocs)
		}
	})
}
