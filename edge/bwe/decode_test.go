package bwe

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

// report is one decoded status.
type report struct {
	Seq  uint16
	Recv bool
	At   int64 // ns since the reference time's zero; 0 when lost
}

// collector is a visitor that keeps what it is told.
type collector struct {
	ref     uint32
	base    uint16
	reports []report
}

func (c *collector) begin(base uint16, ref uint32, _ uint8) int64 {
	c.base, c.ref = base, ref
	return int64(ref) * refUnit
}

func (c *collector) status(seq uint16, recv bool, at int64) {
	c.reports = append(c.reports, report{seq, recv, at})
}

// Hand encoders of the draft's chunks (§3.1.3, §3.1.4).
func runChunk(sym, n uint16) uint16 { return sym<<13 | n }

func vec1(bits string) uint16 { // 14 symbols, '1' received
	c := uint16(0x8000)
	for i, b := range bits {
		if b == '1' {
			c |= 1 << (13 - i)
		}
	}
	return c
}

func vec2(syms ...uint16) uint16 { // up to 7 two-bit symbols
	c := uint16(0xc000)
	for i, s := range syms {
		c |= s << (12 - 2*i)
	}
	return c
}

// tccBytes builds a transport-cc packet from chunks and delta bytes, with
// RTCP padding to a 32-bit boundary when needed.
func tccBytes(base, count uint16, ref uint32, fbc uint8, chunks []uint16, deltas []byte) []byte {
	b := make([]byte, tccHeader, 64)
	binary.BigEndian.PutUint32(b[4:], 1)
	binary.BigEndian.PutUint32(b[8:], 2)
	binary.BigEndian.PutUint16(b[12:], base)
	binary.BigEndian.PutUint16(b[14:], count)
	b[16], b[17], b[18], b[19] = byte(ref>>16), byte(ref>>8), byte(ref), fbc
	for _, c := range chunks {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	b = append(b, deltas...)
	b[0] = 2<<6 | fmtTCC
	if pad := (4 - len(b)%4) % 4; pad > 0 {
		b = append(b, make([]byte, pad)...)
		b[len(b)-1] = byte(pad)
		b[0] |= 0x20
	}
	b[1] = ptRTPFB
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)/4-1))
	return b
}

func be16(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

const ms = int64(1_000_000)

func TestDecodeWire(t *testing.T) {
	ref := int64(10) * refUnit
	tests := []struct {
		name string
		pkt  []byte
		want []report
	}{
		{
			name: "run of small deltas across the sequence wrap",
			pkt:  tccBytes(65534, 4, 10, 0, []uint16{runChunk(symSmallDelta, 4)}, []byte{4, 0, 255, 1}),
			want: []report{
				{65534, true, ref + 1*ms},
				{65535, true, ref + 1*ms},
				{0, true, ref + 1*ms + 63_750_000},
				{1, true, ref + 1*ms + 64*ms},
			},
		},
		{
			name: "one-bit vector with lost packets",
			pkt:  tccBytes(100, 14, 10, 1, []uint16{vec1("10100000000001")}, []byte{8, 4, 40}),
			want: func() []report {
				r := make([]report, 14)
				for i := range r {
					r[i] = report{Seq: uint16(100 + i)}
				}
				r[0] = report{100, true, ref + 2*ms}
				r[2] = report{102, true, ref + 3*ms}
				r[13] = report{113, true, ref + 13*ms}
				return r
			}(),
		},
		{
			name: "two-bit vector with large and negative deltas",
			pkt: tccBytes(7, 7, 10, 2,
				[]uint16{vec2(symSmallDelta, symLargeDelta, symNotReceived, symLargeDelta, symSmallDelta, symNotReceived, symNotReceived)},
				cat([]byte{2}, be16(1000), be16(-400), []byte{1})),
			want: []report{
				{7, true, ref + 500_000},
				{8, true, ref + 500_000 + 250*ms},
				{9, false, 0},
				{10, true, ref + 500_000 + 250*ms - 100*ms},
				{11, true, ref + 500_000 + 150*ms + 250_000},
				{12, false, 0},
				{13, false, 0},
			},
		},
		{
			name: "lost run then received run, count ending inside a vector",
			pkt: tccBytes(65530, 9, 10, 3,
				[]uint16{runChunk(symNotReceived, 3), runChunk(symLargeDelta, 2), vec1("11111111111111")},
				cat(be16(-4), be16(8), []byte{1, 1, 1, 1})),
			want: []report{
				{65530, false, 0}, {65531, false, 0}, {65532, false, 0},
				{65533, true, ref - 1*ms}, {65534, true, ref + 1*ms},
				{65535, true, ref + 1250_000}, {0, true, ref + 1500_000}, {1, true, ref + 1750_000}, {2, true, ref + 2*ms},
			},
		},
		{
			name: "empty",
			pkt:  tccBytes(5, 0, 10, 4, nil, nil),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			if err := decodeBytes(tt.pkt, &c); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.reports, tt.want) {
				t.Fatalf("got  %v\nwant %v", c.reports, tt.want)
			}
			// pion reads the same bytes into the same statuses.
			var p rtcp.TransportLayerCC
			if err := p.Unmarshal(tt.pkt); err != nil {
				t.Skipf("pion refuses it: %v", err)
			}
			var c2 collector
			if err := decodePion(&p, &c2); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c2.reports, tt.want) {
				t.Fatalf("pion: got  %v\nwant %v", c2.reports, tt.want)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := tccBytes(1, 2, 0, 0, []uint16{runChunk(symSmallDelta, 2)}, []byte{1, 2})
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"too short", good[:12]},
		{"wrong payload type", func() []byte { b := append([]byte(nil), good...); b[1] = 206; return b }()},
		{"wrong format", func() []byte { b := append([]byte(nil), good...); b[0] = 0x81; return b }()},
		{"length beyond the buffer", func() []byte { b := append([]byte(nil), good...); b[3] += 4; return b }()},
		{"missing deltas", tccBytes(1, 3, 0, 0, []uint16{runChunk(symLargeDelta, 3)}, []byte{0, 1, 0, 1})},
		{"missing chunks", tccBytes(1, 20, 0, 0, []uint16{runChunk(symNotReceived, 3)}, nil)},
		{"reserved symbol in a run", tccBytes(1, 2, 0, 0, []uint16{runChunk(symReserved, 2)}, []byte{0, 0, 0, 0})},
		{"reserved symbol in a vector", tccBytes(1, 2, 0, 0, []uint16{vec2(symSmallDelta, symReserved)}, []byte{0, 0, 0})},
		{"padding larger than the packet", func() []byte {
			b := append([]byte(nil), good...)
			b[0] |= 0x20
			b[len(b)-1] = 200
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			err := decodeBytes(tt.pkt, &c)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if len(c.reports) != 0 {
				t.Fatalf("reported %d statuses of a malformed packet", len(c.reports))
			}
		})
	}
}

// TestDecodePionBuilt: feedback built as pion structs (as pion's own
// receiver builds it) decodes the same straight from the structs and from
// pion's marshalled bytes.
func TestDecodePionBuilt(t *testing.T) {
	fb := &rtcp.TransportLayerCC{
		Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		SenderSSRC:         1,
		MediaSSRC:          2,
		BaseSequenceNumber: 65535,
		PacketStatusCount:  23,
		ReferenceTime:      0xffffff, // the largest reference time
		FbPktCount:         9,
		PacketChunks: []rtcp.PacketStatusChunk{
			&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 2},
			&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{
				rtcp.TypeTCCPacketReceivedLargeDelta, rtcp.TypeTCCPacketNotReceived, rtcp.TypeTCCPacketReceivedSmallDelta,
				rtcp.TypeTCCPacketReceivedLargeDelta, 0, 0, rtcp.TypeTCCPacketReceivedSmallDelta,
			}},
			&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeOneBit, SymbolList: []uint16{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		},
		RecvDeltas: []*rtcp.RecvDelta{
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 63750},
			{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: 8_191_750},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0},
			{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: -8_192_000},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 500},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 750},
		},
	}
	b := marshalTCC(t, fb)
	var fromStruct, fromWire collector
	if err := decodePion(fb, &fromStruct); err != nil {
		t.Fatal(err)
	}
	if err := decodeBytes(b, &fromWire); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromStruct, fromWire) {
		t.Fatalf("struct %v\nwire   %v", fromStruct.reports, fromWire.reports)
	}
	if len(fromWire.reports) != 23 || fromWire.reports[0].Seq != 65535 || fromWire.reports[22].Seq != 21 {
		t.Fatalf("statuses %v", fromWire.reports)
	}
	base := int64(0xffffff) * refUnit
	want := map[uint16]int64{
		65535: base + 250_000,
		0:     base + 64_000_000,
		1:     base + 64_000_000 + 8_191_750_000,
		3:     base + 64_000_000 + 8_191_750_000,
		4:     base + 64_000_000 - 250_000,
		7:     base + 64_000_000 + 750_000,
		8:     base + 64_000_000 + 1_250_000,
		21:    base + 64_000_000 + 2_000_000,
	}
	got := 0
	for _, r := range fromWire.reports {
		if at, ok := want[r.Seq]; ok {
			got++
			if !r.Recv || r.At != at {
				t.Errorf("seq %d: %+v, want received at %d", r.Seq, r, at)
			}
		} else if r.Recv {
			t.Errorf("seq %d reported received", r.Seq)
		}
	}
	if got != len(want) {
		t.Fatalf("%d of %d received packets reported", got, len(want))
	}
}

func TestDecodePionRefuses(t *testing.T) {
	tests := []struct {
		name string
		fb   *rtcp.TransportLayerCC
	}{
		{"nil", nil},
		{"fewer statuses than counted", &rtcp.TransportLayerCC{PacketStatusCount: 3,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{RunLength: 2}}}},
		{"missing delta", &rtcp.TransportLayerCC{PacketStatusCount: 2,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: 1, RunLength: 2}},
			RecvDeltas:   []*rtcp.RecvDelta{{Delta: 250}}}},
		{"nil delta", &rtcp.TransportLayerCC{PacketStatusCount: 1,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: 1, RunLength: 1}},
			RecvDeltas:   []*rtcp.RecvDelta{nil}}},
		{"reserved symbol", &rtcp.TransportLayerCC{PacketStatusCount: 1,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: 1, SymbolList: []uint16{3}}}}},
		{"one-bit vector with a two-bit symbol", &rtcp.TransportLayerCC{PacketStatusCount: 1,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: 0, SymbolList: []uint16{2}}},
			RecvDeltas:   []*rtcp.RecvDelta{{Delta: 250}}}},
		{"vector too long", &rtcp.TransportLayerCC{PacketStatusCount: 8,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolSize: 1, SymbolList: make([]uint16, 8)}}}},
		{"unknown chunk", &rtcp.TransportLayerCC{PacketStatusCount: 1, PacketChunks: []rtcp.PacketStatusChunk{nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			if err := decodePion(tt.fb, &c); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if len(c.reports) != 0 {
				t.Fatalf("reported %d statuses", len(c.reports))
			}
		})
	}
}

// marshalTCC marshals fb with pion, filling in the header's length and
// padding as pion's own receiver does.
func marshalTCC(t testing.TB, fb *rtcp.TransportLayerCC) []byte {
	t.Helper()
	n := fb.MarshalSize()
	fb.Header.Length = uint16(n/4 - 1)
	fb.Header.Padding = n != rawLen(fb)
	b, err := fb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rawLen(fb *rtcp.TransportLayerCC) int {
	n := tccHeader + 2*len(fb.PacketChunks)
	for _, d := range fb.RecvDeltas {
		if d.Type == rtcp.TypeTCCPacketReceivedSmallDelta {
			n++
		} else {
			n += 2
		}
	}
	return n
}
