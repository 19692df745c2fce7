package browserbench

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// What a UDP payload is, by its first bytes: RFC 7983 §7 (STUN, DTLS,
// TURN channel data, RTP/RTCP) and RFC 5761 §4 (RTP or RTCP on one port).
type packetKind uint8

const (
	kindOther packetKind = iota
	kindSTUN
	kindDTLS
	kindTURN // TURN channel data
	kindRTP
	kindRTCP
)

// classify demultiplexes a UDP payload as RFC 7983 does.
func classify(b []byte) packetKind {
	if len(b) == 0 {
		return kindOther
	}
	switch c := b[0]; {
	case c <= 3:
		return kindSTUN
	case c >= 20 && c <= 63:
		return kindDTLS
	case c >= 64 && c <= 79:
		return kindTURN
	case c >= 128 && c <= 191:
		if len(b) < 2 {
			return kindOther
		}
		// RFC 5761 §4: an RTCP packet type 192-223 in the second byte
		// (which for RTP is the marker bit and payload type 64-95,
		// never used for RTP for that reason).
		if b[1] >= 192 && b[1] <= 223 {
			return kindRTCP
		}
		return kindRTP
	}
	return kindOther
}

// rtpHeader is the fixed RTP header (RFC 3550 §5.1). SRTP leaves it in the
// clear (RFC 3711 §3.1), so the tap reads it from encrypted media too.
type rtpHeader struct {
	Padding     bool
	Marker      bool
	PayloadType uint8
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
}

func parseRTP(b []byte) (rtpHeader, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpHeader{}, false
	}
	return rtpHeader{
		Padding:     b[0]&0x20 != 0,
		Marker:      b[1]&0x80 != 0,
		PayloadType: b[1] & 0x7f,
		Seq:         binary.BigEndian.Uint16(b[2:4]),
		Timestamp:   binary.BigEndian.Uint32(b[4:8]),
		SSRC:        binary.BigEndian.Uint32(b[8:12]),
	}, true
}

// datagram is one UDP datagram read off an Ethernet frame.
type datagram struct {
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Offsets and values of the frame headers the tap reads.
const (
	ethHeaderLen   = 14
	etherTypeIPv4  = 0x0800
	etherTypeVLAN  = 0x8100
	ipProtoUDP     = 17
	udpHeaderLen   = 8
	vnetHeaderLen  = 10 // struct virtio_net_hdr
	vnetGSONone    = 0
	vnetGSOUDPL4   = 5 // VIRTIO_NET_HDR_GSO_UDP_L4
	ipv4MinHdrLen  = 20
	ipv4FlagMoreFr = 0x2000
	ipv4FragOffset = 0x1fff
)

// parseFrame reads an Ethernet frame carrying IPv4/UDP. Fragments other
// than the first, and anything not UDP over IPv4, are not datagrams.
func parseFrame(f []byte) (datagram, bool) {
	if len(f) < ethHeaderLen {
		return datagram{}, false
	}
	et := binary.BigEndian.Uint16(f[12:14])
	off := ethHeaderLen
	if et == etherTypeVLAN {
		if len(f) < ethHeaderLen+4 {
			return datagram{}, false
		}
		et = binary.BigEndian.Uint16(f[16:18])
		off += 4
	}
	if et != etherTypeIPv4 {
		return datagram{}, false
	}
	ip := f[off:]
	if len(ip) < ipv4MinHdrLen || ip[0]>>4 != 4 {
		return datagram{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < ipv4MinHdrLen || len(ip) < ihl+udpHeaderLen || ip[9] != ipProtoUDP {
		return datagram{}, false
	}
	if frag := binary.BigEndian.Uint16(ip[6:8]); frag&ipv4FragOffset != 0 {
		return datagram{}, false // a later fragment: no UDP header
	}
	// The IP total length bounds the datagram (Ethernet pads short frames);
	// a GSO super-packet's may exceed what the kernel copied: keep what is
	// there.
	if total := int(binary.BigEndian.Uint16(ip[2:4])); total >= ihl+udpHeaderLen && total < len(ip) {
		ip = ip[:total]
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	udp := ip[ihl:]
	return datagram{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:2])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:4])),
		Payload: udp[udpHeaderLen:],
	}, true
}

// splitGSO cuts the payload of a UDP GSO super-packet (one frame that the
// kernel segments later, as the edge's segmented writes are) into the
// datagrams it stands for: each segSize bytes, the last shorter.
func splitGSO(payload []byte, segSize int) [][]byte {
	if segSize <= 0 || len(payload) <= segSize {
		return [][]byte{payload}
	}
	out := make([][]byte, 0, (len(payload)+segSize-1)/segSize)
	for len(payload) > 0 {
		n := min(segSize, len(payload))
		out = append(out, payload[:n])
		payload = payload[n:]
	}
	return out
}

// vnetGSOSize reads the virtio_net_hdr the kernel puts before each frame
// on a PACKET_VNET_HDR socket: the UDP segment size of a UDP GSO frame,
// or 0 for an ordinary one.
func vnetGSOSize(h []byte) int {
	if len(h) < vnetHeaderLen {
		return 0
	}
	if gsoType := h[1] &^ 0x80; gsoType != vnetGSOUDPL4 { // 0x80: ECN
		return 0
	}
	return int(binary.NativeEndian.Uint16(h[4:6]))
}

// seqWindow is how far back (in sequence numbers) a late packet is still
// matched against the holes it may fill.
const seqWindow = 1 << 15

// seqTracker follows one SSRC's sequence numbers as they arrive: holes at
// first sight (a jump of more than one skips numbers), which of them were
// filled later, packets that came late (below the highest so far:
// retransmissions or reordering), and duplicates.
type seqTracker struct {
	started        bool
	first, highest uint64               // extended (with wrap-arounds) sequence numbers
	seen           [1 << 16 / 64]uint64 // bit per sequence number mod 2^16: received
}

// seqCounts are what seqTracker.add found.
type seqCounts struct {
	Holes      uint64 `json:"holes"`
	Filled     uint64 `json:"filled"`
	Late       uint64 `json:"late"`
	Duplicates uint64 `json:"duplicates"`
}

func (c *seqCounts) plus(d seqCounts) {
	c.Holes += d.Holes
	c.Filled += d.Filled
	c.Late += d.Late
	c.Duplicates += d.Duplicates
}

func (t *seqTracker) mark(ext uint64, on bool) {
	s := uint16(ext)
	w, m := s/64, uint64(1)<<(s%64)
	if on {
		t.seen[w] |= m
	} else {
		t.seen[w] &^= m
	}
}

func (t *seqTracker) has(ext uint64) bool {
	s := uint16(ext)
	return t.seen[s/64]&(1<<(s%64)) != 0
}

// add records one packet's sequence number.
func (t *seqTracker) add(seq uint16) seqCounts {
	if !t.started {
		t.started = true
		t.first = 1<<32 + uint64(seq) // room below for late packets
		t.highest = t.first
		t.mark(t.highest, true)
		return seqCounts{}
	}
	// Extend seq to the value closest to the highest (RFC 3550 A.1).
	ext := uint64(int64(t.highest) + int64(int16(seq-uint16(t.highest))))
	if ext > t.highest {
		var c seqCounts
		c.Holes = ext - t.highest - 1
		// The numbers skipped have not been received (in this round of
		// 2^16): clear what a previous round left.
		for s := t.highest + 1; s < ext; s++ {
			t.mark(s, false)
		}
		t.highest = ext
		t.mark(ext, true)
		return c
	}
	switch {
	case ext < t.first || t.highest-ext >= seqWindow:
		return seqCounts{Late: 1} // older than anything tracked
	case t.has(ext):
		return seqCounts{Duplicates: 1}
	}
	t.mark(ext, true)
	return seqCounts{Late: 1, Filled: 1}
}

// Stream is what the tap saw of one SSRC in one direction.
type Stream struct {
	// Direction is "down" (server to subscriber) or "up" (publisher to
	// server).
	Direction string `json:"direction"`
	SSRC      uint32 `json:"ssrc"`
	// Role is what the browsers' stats say the SSRC carries: "video",
	// "video rtx", "audio", with the publisher's rid upstream ("video q",
	// ...), or "" when no stats named it.
	Role         string  `json:"role,omitempty"`
	PayloadTypes []uint8 `json:"payloadTypes"`
	Packets      uint64  `json:"packets"`
	Bytes        uint64  `json:"bytes"` // UDP payload bytes
	// Padding counts packets with the RTP P bit (Chromium's bandwidth
	// probes on the media SSRC are padding-only packets).
	Padding uint64 `json:"padding"`
	// Holes counts sequence numbers skipped at first sight; Filled, those
	// of them that arrived later on the same SSRC; Late, packets below the
	// highest number so far (retransmissions on this SSRC, or
	// reordering); Duplicates, numbers seen twice.
	seqCounts

	seq *seqTracker
}

// Totals are one direction's packets by kind.
type Totals struct {
	Datagrams uint64 `json:"datagrams"`
	Bytes     uint64 `json:"bytes"` // UDP payload bytes
	RTP       uint64 `json:"rtp"`
	RTCP      uint64 `json:"rtcp"`
	STUN      uint64 `json:"stun"`
	DTLS      uint64 `json:"dtls"`
	Other     uint64 `json:"other"`
	Padding   uint64 `json:"padding"`
	seqCounts
}

// wire accumulates what the tap sees between the server and the two
// browsers. Not safe for concurrent use: the tap's one reader owns it.
type wire struct {
	publisher, subscriber netip.Addr
	streams               map[streamKey]*Stream
	down, up              Totals
	// downBytes counts what was sent to the subscriber per second of
	// the run (before any shaper), from origin.
	downBytes []uint64
}

type streamKey struct {
	down bool
	ssrc uint32
}

func newWire(publisher, subscriber netip.Addr) *wire {
	return &wire{publisher: publisher, subscriber: subscriber, streams: map[streamKey]*Stream{}}
}

// observe takes one datagram seen at second sec of the run.
func (w *wire) observe(d datagram, sec int) {
	var down bool
	var tot *Totals
	switch {
	case d.Dst.Addr() == w.subscriber:
		down, tot = true, &w.down
	case d.Src.Addr() == w.publisher:
		tot = &w.up
	default:
		return
	}
	tot.Datagrams++
	tot.Bytes += uint64(len(d.Payload))
	if down && sec >= 0 && sec < 24*3600 {
		for len(w.downBytes) <= sec {
			w.downBytes = append(w.downBytes, 0)
		}
		w.downBytes[sec] += uint64(len(d.Payload))
	}
	switch classify(d.Payload) {
	case kindSTUN:
		tot.STUN++
	case kindDTLS:
		tot.DTLS++
	case kindRTCP:
		tot.RTCP++
	case kindRTP:
		h, ok := parseRTP(d.Payload)
		if !ok {
			tot.Other++
			return
		}
		tot.RTP++
		k := streamKey{down: down, ssrc: h.SSRC}
		s := w.streams[k]
		if s == nil {
			dir := "up"
			if down {
				dir = "down"
			}
			s = &Stream{Direction: dir, SSRC: h.SSRC, seq: &seqTracker{}}
			w.streams[k] = s
		}
		s.Packets++
		s.Bytes += uint64(len(d.Payload))
		if !slices.Contains(s.PayloadTypes, h.PayloadType) {
			s.PayloadTypes = append(s.PayloadTypes, h.PayloadType)
		}
		if h.Padding {
			s.Padding++
			tot.Padding++
		}
		c := s.seq.add(h.Seq)
		s.seqCounts.plus(c)
		tot.seqCounts.plus(c)
	default:
		tot.Other++
	}
}

// frame takes one frame off the tap (after its virtio_net_hdr, whose GSO
// size is gso), seen at second sec of the run.
func (w *wire) frame(f []byte, gso, sec int) {
	d, ok := parseFrame(f)
	if !ok {
		return
	}
	for _, p := range splitGSO(d.Payload, gso) {
		d.Payload = p
		w.observe(d, sec)
	}
}

// streamList is the streams, downstream first, then by SSRC.
func (w *wire) streamList() []Stream {
	out := make([]Stream, 0, len(w.streams))
	for _, s := range w.streams {
		c := *s
		c.seq = nil
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Stream) int {
		if a.Direction != b.Direction {
			if a.Direction == "down" {
				return -1
			}
			return 1
		}
		switch {
		case a.SSRC < b.SSRC:
			return -1
		case a.SSRC > b.SSRC:
			return 1
		}
		return 0
	})
	return out
}
