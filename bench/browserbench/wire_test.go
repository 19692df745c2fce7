package browserbench

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

var (
	testServer     = netip.MustParseAddrPort("198.18.7.1:7882")
	testPublisher  = netip.MustParseAddrPort("198.18.7.2:50000")
	testSubscriber = netip.MustParseAddrPort("198.18.7.3:50001")
)

// frameOf builds an Ethernet frame carrying one IPv4/UDP datagram.
func frameOf(src, dst netip.AddrPort, payload []byte) []byte {
	f := make([]byte, ethHeaderLen+ipv4MinHdrLen+udpHeaderLen+len(payload))
	binary.BigEndian.PutUint16(f[12:14], etherTypeIPv4)
	ip := f[ethHeaderLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(ipv4MinHdrLen+udpHeaderLen+len(payload)))
	ip[8] = 64
	ip[9] = ipProtoUDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	udp := ip[ipv4MinHdrLen:]
	binary.BigEndian.PutUint16(udp[0:2], src.Port())
	binary.BigEndian.PutUint16(udp[2:4], dst.Port())
	binary.BigEndian.PutUint16(udp[4:6], uint16(udpHeaderLen+len(payload)))
	copy(udp[udpHeaderLen:], payload)
	return f
}

// rtpOf is an RTP packet (header and size bytes of payload).
func rtpOf(pt uint8, seq uint16, ssrc uint32, padding bool, size int) []byte {
	b := make([]byte, 12+size)
	b[0] = 0x80
	if padding {
		b[0] |= 0x20
	}
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[4:8], 90000)
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	return b
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want packetKind
	}{
		{"empty", nil, kindOther},
		{"stun binding request", []byte{0x00, 0x01, 0x00, 0x00}, kindSTUN},
		{"dtls handshake", []byte{22, 0xfe, 0xfd}, kindDTLS},
		{"dtls application data", []byte{23, 0xfe, 0xfd}, kindDTLS},
		{"turn channel data", []byte{0x40, 0x00}, kindTURN},
		{"rtp vp8", rtpOf(96, 1, 1, false, 10), kindRTP},
		{"rtp with marker", []byte{0x80, 0x80 | 96}, kindRTP},
		{"rtcp sender report", []byte{0x80, 200, 0, 6}, kindRTCP},
		{"rtcp receiver report", []byte{0x81, 201}, kindRTCP},
		{"rtcp feedback (PSFB)", []byte{0x81, 206}, kindRTCP},
		{"rtcp lowest (192)", []byte{0x80, 192}, kindRTCP},
		{"rtcp highest (223)", []byte{0x80, 223}, kindRTCP},
		{"rtp pt 95 with marker (224)", []byte{0x80, 224}, kindRTP},
		{"one byte of rtp", []byte{0x80}, kindOther},
		{"zrtp or garbage", []byte{0xff, 0x00}, kindOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.b); got != tc.want {
				t.Fatalf("classify(% x) = %v, want %v", tc.b, got, tc.want)
			}
		})
	}
}

func TestParseRTP(t *testing.T) {
	h, ok := parseRTP(rtpOf(97, 65535, 0xdeadbeef, true, 0))
	if !ok || !h.Padding || h.Marker || h.PayloadType != 97 || h.Seq != 65535 || h.SSRC != 0xdeadbeef || h.Timestamp != 90000 {
		t.Fatalf("parseRTP = %+v, %v", h, ok)
	}
	if _, ok := parseRTP([]byte{0x80, 96, 0, 1}); ok {
		t.Fatal("a 4-byte packet parsed as RTP")
	}
	if _, ok := parseRTP(append([]byte{0x40}, make([]byte, 11)...)); ok {
		t.Fatal("version 1 parsed as RTP")
	}
}

func TestParseFrame(t *testing.T) {
	payload := rtpOf(96, 7, 42, false, 100)
	f := frameOf(testServer, testSubscriber, payload)

	t.Run("udp over ipv4", func(t *testing.T) {
		d, ok := parseFrame(f)
		if !ok || d.Src != testServer || d.Dst != testSubscriber || len(d.Payload) != len(payload) {
			t.Fatalf("parseFrame = %+v, %v", d, ok)
		}
	})
	t.Run("ethernet padding is cut off by the IP length", func(t *testing.T) {
		small := frameOf(testServer, testSubscriber, []byte{0, 1})
		padded := append(small, make([]byte, 18)...)
		d, ok := parseFrame(padded)
		if !ok || len(d.Payload) != 2 {
			t.Fatalf("payload %d bytes, want 2", len(d.Payload))
		}
	})
	t.Run("vlan tag", func(t *testing.T) {
		v := make([]byte, 0, len(f)+4)
		v = append(v, f[:12]...)
		v = append(v, 0x81, 0x00, 0x00, 0x05)
		v = append(v, f[12:]...)
		if d, ok := parseFrame(v); !ok || d.Dst != testSubscriber {
			t.Fatalf("vlan frame: %+v, %v", d, ok)
		}
	})
	t.Run("ip options", func(t *testing.T) {
		o := make([]byte, 0, len(f)+4)
		o = append(o, f[:ethHeaderLen+ipv4MinHdrLen]...)
		o = append(o, 1, 1, 1, 1) // four NOP options
		o = append(o, f[ethHeaderLen+ipv4MinHdrLen:]...)
		o[ethHeaderLen] = 0x46
		binary.BigEndian.PutUint16(o[ethHeaderLen+2:], uint16(len(o)-ethHeaderLen))
		if d, ok := parseFrame(o); !ok || d.Src != testServer || len(d.Payload) != len(payload) {
			t.Fatalf("frame with IP options: %+v, %v", d, ok)
		}
	})
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"too short", func(b []byte) []byte { return b[:10] }},
		{"ipv6 ethertype", func(b []byte) []byte { b[12], b[13] = 0x86, 0xdd; return b }},
		{"arp", func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }},
		{"tcp", func(b []byte) []byte { b[ethHeaderLen+9] = 6; return b }},
		{"later fragment", func(b []byte) []byte { b[ethHeaderLen+7] = 0x10; return b }},
		{"bad ihl", func(b []byte) []byte { b[ethHeaderLen] = 0x42; return b }},
		{"truncated udp header", func(b []byte) []byte { return b[:ethHeaderLen+ipv4MinHdrLen+4] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(append([]byte(nil), f...))
			if d, ok := parseFrame(b); ok {
				t.Fatalf("parsed %+v", d)
			}
		})
	}
}

func TestGSO(t *testing.T) {
	// A UDP GSO super-packet: three 1100-byte datagrams and a 300-byte one
	// in one frame, announced by its virtio_net_hdr.
	var payload []byte
	for i := range 3 {
		payload = append(payload, rtpOf(96, uint16(10+i), 5, false, 1100-12)...)
	}
	payload = append(payload, rtpOf(96, 13, 5, false, 300-12)...)
	hdr := make([]byte, vnetHeaderLen)
	hdr[1] = vnetGSOUDPL4
	binary.NativeEndian.PutUint16(hdr[4:6], 1100)
	if got := vnetGSOSize(hdr); got != 1100 {
		t.Fatalf("vnetGSOSize = %d, want 1100", got)
	}
	if got := vnetGSOSize(make([]byte, vnetHeaderLen)); got != 0 {
		t.Fatalf("vnetGSOSize of a plain frame = %d", got)
	}
	tcp := append([]byte(nil), hdr...)
	tcp[1] = 1 // VIRTIO_NET_HDR_GSO_TCPV4
	if got := vnetGSOSize(tcp); got != 0 {
		t.Fatalf("vnetGSOSize of TCP GSO = %d, want 0 (not split)", got)
	}
	w := newWire(testPublisher.Addr(), testSubscriber.Addr())
	w.frame(frameOf(testServer, testSubscriber, payload), vnetGSOSize(hdr), 0)
	s := w.streams[streamKey{down: true, ssrc: 5}]
	if s == nil || s.Packets != 4 || s.Holes != 0 || w.down.Datagrams != 4 || w.down.Bytes != 3*1100+300 {
		t.Fatalf("stream %+v, totals %+v", s, w.down)
	}
	if got := splitGSO([]byte{1, 2, 3}, 0); len(got) != 1 {
		t.Fatalf("splitGSO without a size: %d parts", len(got))
	}
}

func TestSeqTracker(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint16
		want seqCounts
	}{
		{"in order", []uint16{1, 2, 3, 4}, seqCounts{}},
		{"a hole never filled", []uint16{1, 2, 5, 6}, seqCounts{Holes: 2}},
		{"a hole filled later", []uint16{1, 2, 5, 3, 4, 6}, seqCounts{Holes: 2, Filled: 2, Late: 2}},
		{"swapped pair", []uint16{1, 3, 2, 4}, seqCounts{Holes: 1, Filled: 1, Late: 1}},
		{"duplicate", []uint16{1, 2, 2, 3}, seqCounts{Duplicates: 1}},
		{"duplicate of an older one", []uint16{1, 2, 3, 1}, seqCounts{Duplicates: 1}},
		{"filled twice", []uint16{1, 3, 2, 2}, seqCounts{Holes: 1, Filled: 1, Late: 1, Duplicates: 1}},
		{"wrap around", []uint16{65534, 65535, 0, 1}, seqCounts{}},
		{"hole across the wrap", []uint16{65534, 1, 65535, 0}, seqCounts{Holes: 2, Filled: 2, Late: 2}},
		{"older than the first", []uint16{10, 11, 9}, seqCounts{Late: 1}},
		{"a hole in a new round of 2^16 is not taken for the old number", append(seqRun(1, 65536), 2, 1), seqCounts{Holes: 1, Filled: 1, Late: 1}},
		{"far back but within half the sequence space", append(seqRun(1, 30000), 5), seqCounts{Duplicates: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr seqTracker
			var got seqCounts
			for _, s := range tc.seqs {
				got.plus(tr.add(s))
			}
			if got != tc.want {
				t.Fatalf("%v: got %+v, want %+v", tc.seqs[:min(len(tc.seqs), 8)], got, tc.want)
			}
		})
	}
}

func seqRun(from uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = from + uint16(i)
	}
	return out
}

// TestWire follows a call's packets each way: the server's holes towards
// the subscriber, padding from the publisher, RTCP, STUN and DTLS, and
// names the streams after the pages' stats.
func TestWire(t *testing.T) {
	w := newWire(testPublisher.Addr(), testSubscriber.Addr())
	down := func(p []byte, sec int) { w.frame(frameOf(testServer, testSubscriber, p), 0, sec) }
	up := func(p []byte) { w.frame(frameOf(testPublisher, testServer, p), 0, 0) }

	down([]byte{0, 1, 0, 0}, -1)    // STUN before T = 0: counted, not in a second
	down([]byte{22, 0xfe, 0xfd}, 0) // DTLS
	for _, s := range []uint16{100, 101, 104, 105, 103} {
		down(rtpOf(96, s, 0xa, false, 988), 1) // 1000 bytes each; 102 never comes
	}
	down(rtpOf(97, 1, 0xb, false, 488), 2) // RTX
	down(rtpOf(97, 2, 0xb, false, 488), 2)
	down(rtpOf(96, 105, 0xa, false, 988), 2) // resent on the media SSRC
	down([]byte{0x81, 200, 0, 1}, 2)         // RTCP
	up(rtpOf(96, 1, 0xc, false, 100))
	up(rtpOf(96, 2, 0xc, true, 100)) // padding probe
	up(rtpOf(96, 3, 0xc, true, 100))
	w.frame(frameOf(testPublisher, testSubscriber, rtpOf(96, 1, 0xd, false, 10)), 0, 0)                       // host to host: down (to the subscriber)
	w.frame(frameOf(netip.MustParseAddrPort("198.18.7.9:1"), testServer, rtpOf(96, 1, 0xe, false, 10)), 0, 0) // neither

	if w.down.STUN != 1 || w.down.DTLS != 1 || w.down.RTCP != 1 || w.up.RTP != 3 || w.up.Padding != 2 {
		t.Fatalf("totals down %+v up %+v", w.down, w.up)
	}
	if len(w.downBytes) != 3 || w.downBytes[1] != 5000 || w.downBytes[2] != 500+500+1000+4 {
		t.Fatalf("bytes per second %v", w.downBytes)
	}
	subs := []SubscriberSample{{Video: &InboundVideo{SSRC: 0xa, RTXSSRC: 0xb}, Audio: &InboundAudio{SSRC: 0xf}}}
	pubs := []PublisherSample{{Layers: []OutboundLayer{{RID: "f", SSRC: 0xc, RTXSSRC: 0x10}}}}
	res := wireResult(w, 3, subs, pubs)
	if res.Holes != 2 || res.Unfilled != 1 || res.RTXPackets != 2 || res.MediaResent != 2 || res.PaddingUp != 2 || res.TapDrops != 3 {
		t.Fatalf("wire result %+v", res)
	}
	roles := map[uint32]string{}
	for _, s := range res.Streams {
		roles[s.SSRC] = s.Direction + " " + s.Role
	}
	want := map[uint32]string{0xa: "down video", 0xb: "down video rtx", 0xc: "up video f", 0xd: "down "}
	for ssrc, r := range want {
		if roles[ssrc] != r {
			t.Errorf("ssrc %x: %q, want %q (all: %v)", ssrc, roles[ssrc], r, roles)
		}
	}
	if len(res.Streams) != 4 || res.Streams[0].Direction != "down" || res.Streams[len(res.Streams)-1].Direction != "up" {
		t.Fatalf("streams not downstream first: %+v", res.Streams)
	}
}

// FuzzParseFrame feeds the tap's parser whatever the bridge might carry:
// it must never panic, and a datagram it returns lies within the frame.
func FuzzParseFrame(f *testing.F) {
	f.Add(frameOf(testServer, testSubscriber, rtpOf(96, 1, 1, false, 50)), 0)
	f.Add(frameOf(testServer, testSubscriber, []byte{0x80, 200, 0, 1}), 0)
	f.Add(frameOf(testServer, testSubscriber, make([]byte, 3000)), 1100)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, gso int) {
		w := newWire(testPublisher.Addr(), testSubscriber.Addr())
		w.frame(b, gso%70000, 1)
		if d, ok := parseFrame(b); ok && len(d.Payload) > len(b) {
			t.Fatalf("payload of %d bytes from a %d-byte frame", len(d.Payload), len(b))
		}
	})
}
