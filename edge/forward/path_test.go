package forward

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/spacecast/spacecast/edge/codec"
	"github.com/spacecast/spacecast/edge/mmsg"
)

// rtpWriter records what pion's write path was given.
type rtpWriter struct{ pkts []rtp.Packet }

func (w *rtpWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	// A deep copy: h's extensions point into the sink's queue slot.
	b, err := (&rtp.Packet{Header: *h, Payload: p}).Marshal()
	if err != nil {
		return 0, err
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(b); err != nil {
		return 0, err
	}
	w.pkts = append(w.pkts, pkt)
	return len(p), nil
}

// fakeDirect stands in for an srtpout.Sender, recording what it is asked
// to send.
type fakeDirect struct {
	ready bool
	sent  []rtp.Packet
}

func (f *fakeDirect) Ready() bool { return f.ready }
func (f *fakeDirect) WriteRTP(pkt []byte, hdr *rtp.Header, _ *mmsg.Batch) error {
	// As srtpout.Sender: hdr receives pkt's header. What is recorded is
	// a copy (pkt is a queue slot or a buffer the sink reuses), parsed
	// as a receiver would (padding taken off).
	if _, err := hdr.Unmarshal(pkt); err != nil {
		return err
	}
	var p rtp.Packet
	if err := p.Unmarshal(append([]byte(nil), pkt...)); err != nil {
		return err
	}
	f.sent = append(f.sent, p)
	return nil
}

// path is one published VP8 track with subscribers, each with its own sink
// bound to a recording writer, driven packet by packet through the
// reader's per-packet work and the fan-out (no frame grouping).
type path struct {
	t     testing.TB
	track *Track
	layer *Layer
	sinks []*Sink
	downs []*Down
	ws    []*rtpWriter
	now   int64
}

func newPath(t testing.TB, subs int, mime string) *path {
	t.Helper()
	p := &path{t: t}
	var err error
	p.track, err = NewTrack(TrackConfig{Codec: codec.KindFromMime(mime), Upstream: nopUpstream{}, Now: func() int64 { return p.now }})
	if err != nil {
		t.Fatal(err)
	}
	if p.layer, err = p.track.AddLayer(0, 99, nil, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < subs; i++ {
		s, err := NewSink(SinkConfig{Now: func() int64 { return p.now }})
		if err != nil {
			t.Fatal(err)
		}
		s.SetInline(true)
		d, err := s.Subscribe(p.track)
		if err != nil {
			t.Fatal(err)
		}
		w := &rtpWriter{}
		d.Bind(Output{Writer: w, SSRC: 1234, PayloadType: 100, ClockRate: 90000})
		d.SetTarget(0, 0)
		p.sinks, p.downs, p.ws = append(p.sinks, s), append(p.downs, d), append(p.ws, w)
	}
	return p
}

// forward runs one received packet through the reader's per-packet work
// (parse, cache) and the fan-out.
func (p *path) forward(raw []byte) {
	p.t.Helper()
	pkt, err := p.track.src.Parse(raw, 0, p.now)
	if err != nil {
		p.t.Fatal(err)
	}
	if pkt.Header.PayloadLen() > 0 && !p.track.caches[0].StoreParsed(raw, pkt.Header.Seq, pkt.Header.Timestamp, pkt.Keyframe) {
		return
	}
	p.layer.fanout([]Packet{pkt}, nil)
}

// vp8Frame builds a one-packet VP8 frame (a keyframe when key).
func vp8Frame(seq uint16, ts uint32, key bool) []byte {
	return vp8Packet(pk{seq: seq, ts: ts, key: key, pic: seq})
}

// Sink.send takes the edge's own SRTP path once it is ready, with the
// subscriber's SSRC and payload type already in the packet (the rewrite
// put them there), else pion's writer; the sender reports count both.
func TestSinkSendsDirect(t *testing.T) {
	p := newPath(t, 1, webrtc.MimeTypeVP8)
	f := &fakeDirect{}
	p.sinks[0].direct = f
	p.forward(vp8Frame(1, 3000, true))
	if len(f.sent) != 0 || len(p.ws[0].pkts) != 1 {
		t.Fatalf("direct not ready: %d direct, %d through pion, want pion", len(f.sent), len(p.ws[0].pkts))
	}
	f.ready = true
	p.forward(vp8Frame(2, 6000, false))
	if len(f.sent) != 1 || len(p.ws[0].pkts) != 1 {
		t.Fatalf("direct ready: %d direct, %d through pion, want direct", len(f.sent), len(p.ws[0].pkts))
	}
	if h := f.sent[0].Header; h.SSRC != 1234 || h.PayloadType != 100 || h.SequenceNumber != p.ws[0].pkts[0].SequenceNumber+1 {
		t.Fatalf("direct header %+v: want the subscriber's SSRC 1234, PT 100 and the next sequence number", h)
	}
	d := p.downs[0]
	if n, ts := d.srPackets.Load(), uint32(d.srLast.Load()>>32); n != 2 || ts != f.sent[0].Timestamp {
		t.Fatalf("sender report state: %d packets, RTP time %d; want 2 and %d", n, ts, f.sent[0].Timestamp)
	}
	if o, want := d.srOctets.Load(), uint32(len(p.ws[0].pkts[0].Payload)+len(f.sent[0].Payload)); o != want {
		t.Fatalf("sender report octets %d, want %d", o, want)
	}
}

// Over UDP (inline) the producer sends at once; otherwise packets wait for
// the sink's writer (Run).
func TestInlineFlush(t *testing.T) {
	p := newPath(t, 1, webrtc.MimeTypeVP8)
	s := p.sinks[0]
	s.SetInline(false)
	p.forward(vp8Frame(1, 3000, true))
	if len(p.ws[0].pkts) != 0 || s.q.Len() != 1 {
		t.Fatalf("not inline: %d written, %d queued; want 0 and 1", len(p.ws[0].pkts), s.q.Len())
	}
	s.drain(nil) // what the writer goroutine does
	s.SetInline(true)
	p.forward(vp8Frame(2, 6000, false))
	if len(p.ws[0].pkts) != 2 || s.q.Len() != 0 {
		t.Fatalf("inline: %d written, %d queued; want 2 and 0", len(p.ws[0].pkts), s.q.Len())
	}
}

// A subscriber's NACK is answered from the packet cache. With RTX
// negotiated the retransmission goes on the RTX stream (RFC 4588 §4: RTX
// SSRC and payload type, the RTX stream's own consecutive sequence numbers,
// the original sequence number in front of the original payload, same
// timestamp) and stays out of the media stream's sender-report counts;
// without RTX it goes again on the media stream. Both write paths.
func TestRetransmissionsGoOnRTX(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rtx    bool
		direct bool
	}{{"rtx, pion's path", true, false}, {"rtx, direct", true, true}, {"no rtx", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPath(t, 1, webrtc.MimeTypeVP8)
			d, w := p.downs[0], p.ws[0]
			o := Output{Writer: w, SSRC: 1234, PayloadType: 96, ClockRate: 90000}
			if tc.rtx {
				o.RTXSSRC, o.RTXPayloadType = 5678, 97
			}
			d.Bind(o)
			var fd *fakeDirect
			if tc.direct {
				fd = &fakeDirect{ready: true}
				p.sinks[0].direct = fd
			}
			sent := func() []rtp.Packet {
				if fd == nil {
					return w.pkts
				}
				return fd.sent
			}
			for i := 0; i < 4; i++ {
				p.forward(vp8Frame(uint16(100+i), uint32(i)*3000, i == 0))
			}
			media := sent()
			if len(media) != 4 {
				t.Fatalf("%d packets forwarded", len(media))
			}
			srPackets := d.srPackets.Load()
			// The subscriber lost its 2nd and 3rd packets.
			d.HandleNACK(media[1].SequenceNumber, 1, make([]byte, 1500), 0, 0)
			p.sinks[0].Flush(nil)
			re := sent()[4:]
			if len(re) != 2 {
				t.Fatalf("%d retransmissions, want 2", len(re))
			}
			for i, r := range re {
				orig := media[1+i]
				if r.Timestamp != orig.Timestamp {
					t.Errorf("retransmission %d: timestamp %d, want %d", i, r.Timestamp, orig.Timestamp)
				}
				if !tc.rtx {
					if r.SSRC != 1234 || r.PayloadType != 96 || r.SequenceNumber != orig.SequenceNumber {
						t.Errorf("retransmission %d without RTX: %+v", i, r.Header)
					}
					continue
				}
				if r.SSRC != 5678 || r.PayloadType != 97 {
					t.Errorf("retransmission %d: ssrc %d pt %d, want the RTX stream's", i, r.SSRC, r.PayloadType)
				}
				if i > 0 && r.SequenceNumber != re[0].SequenceNumber+uint16(i) {
					t.Errorf("RTX sequence numbers %d then %d", re[0].SequenceNumber, r.SequenceNumber)
				}
				if osn := binary.BigEndian.Uint16(r.Payload); osn != orig.SequenceNumber || string(r.Payload[2:]) != string(orig.Payload) {
					t.Errorf("retransmission %d: OSN %d (want %d) or payload differs", i, osn, orig.SequenceNumber)
				}
			}
			if tc.rtx && d.srPackets.Load() != srPackets {
				t.Errorf("RTX packets counted in the media stream's sender report: %d → %d", srPackets, d.srPackets.Load())
			}
		})
	}
}

// RED reduced to plain Opus, for a subscriber that negotiated only Opus,
// is done by the rewrite: the same bytes go out on either write path.
func TestREDToOpus(t *testing.T) {
	p := newPath(t, 1, "audio/red")
	w := p.ws[0]
	p.downs[0].Bind(Output{Writer: w, SSRC: 1234, PayloadType: 111, ClockRate: 48000, REDToOpus: true})
	h := rtp.Header{Version: 2, PayloadType: 63, SequenceNumber: 7, Timestamp: 960, SSRC: 99}
	b, _ := h.Marshal()
	b = append(b, 0x80|111, 0, 0, 2, 111, 9, 9, 1, 2, 3) // one redundant block of 2, then the primary
	p.forward(b)
	if len(w.pkts) != 1 || w.pkts[0].PayloadType != 111 || string(w.pkts[0].Payload) != string([]byte{1, 2, 3}) {
		t.Fatalf("sent %+v", w.pkts)
	}
}

func TestPrimaryFromRED(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
		ok   bool
	}{
		{"primary only", []byte{111, 1, 2, 3}, []byte{1, 2, 3}, true},
		{"one redundant block", []byte{0x80 | 111, 0, 0, 2, 111, 9, 9, 1, 2}, []byte{1, 2}, true},
		{"two redundant blocks", []byte{0x80 | 111, 0x10, 0, 1, 0x80 | 111, 0x08, 0, 1, 111, 7, 8, 5}, []byte{5}, true},
		{"truncated header", []byte{0x80 | 111, 0}, nil, false},
		{"block longer than payload", []byte{0x80 | 111, 0, 0, 9, 111, 1}, nil, false},
		{"empty", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.REDPrimary(tt.in)
			if (err == nil) != tt.ok || string(got) != string(tt.want) {
				t.Fatalf("REDPrimary() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestSenderReport(t *testing.T) {
	d := &Down{}
	if d.SenderReport(0, time.Now()) != nil {
		t.Fatal("report from an unbound down")
	}
	d.out.Store(&Output{SSRC: 42, ClockRate: 90000})
	if d.SenderReport(0, time.Now()) != nil {
		t.Fatal("report before any packet")
	}
	// Two packets went out; the newest (RTP 1000) at 2 s on the media clock.
	sent := int64(2 * time.Second)
	d.srPackets.Store(2)
	d.srOctets.Store(2400)
	d.srLast.Store(uint64(1000)<<32 | uint64(uint32(sent/1000)))
	wall := time.Date(2026, 11, 28, 12, 0, 0, 500_000_000, time.UTC)
	sr := d.SenderReport(sent+int64(100*time.Millisecond), wall)
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
	if d.SenderReport(sent+int64(srStale)+1e6, wall) != nil {
		t.Fatal("report from a down silent for longer than srStale")
	}
}

// The round-trip time to a subscriber comes from its receiver reports
// (arrival − LSR − DLSR); reports on other streams, before any sender
// report, or that would give a negative time are ignored.
func TestRoundTripFromReceiverReports(t *testing.T) {
	d := &Down{}
	d.out.Store(&Output{SSRC: 1234})
	sent := time.Unix(1_800_000_000, 0)
	lsr := uint32(NTPTime(sent) >> 16)
	at := sent.Add(130 * time.Millisecond)
	rr := func(ssrc, lsr, dlsr uint32) *rtcp.ReceiverReport {
		return &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: ssrc, LastSenderReport: lsr, Delay: dlsr}}}
	}
	for _, r := range []*rtcp.ReceiverReport{rr(999, lsr, 0), rr(1234, 0, 0), rr(1234, lsr, 65536)} {
		if rtt, ok := d.RoundTrip(r, at); ok {
			t.Fatalf("rtt %v from a report that carries none", rtt)
		}
	}
	rtt, ok := d.RoundTrip(rr(1234, lsr, 65536*50/1000), at) // held 50 ms at the subscriber
	if !ok || rtt < 79*time.Millisecond || rtt > 81*time.Millisecond {
		t.Fatalf("rtt %v, %v; want 80 ms", rtt, ok)
	}
}

func TestLayerLoss(t *testing.T) {
	l := &Layer{}
	for _, seq := range []uint16{65530, 65531, 65533, 65535, 0, 1, 4} {
		l.count(seq, 1)
	}
	if got, want := l.expected.Load(), uint64(11); got != want {
		t.Fatalf("expected = %d, want %d (wrap at 65535)", got, want)
	}
	if got := l.packets.Load(); got != 7 {
		t.Fatalf("packets = %d", got)
	}
}

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
		{"a frame goes out at its marker", true, []in{{ts: 1}, {ts: 1}, {ts: 1, marker: true}}, "[[0 1 2]]", 0},
		{"single-packet frames go out one by one", true, []in{{ts: 1, marker: true}, {ts: 2, marker: true}}, "[[0] [1]]", 0},
		{"a new frame sends the unfinished one first", true, []in{{ts: 1}, {ts: 1}, {ts: 2}, {ts: 2, marker: true}}, "[[0 1] [2 3]]", 0},
		{"an unfinished frame waits", true, []in{{ts: 1}, {ts: 1}}, "[]", 2},
		{"audio is never held", false, []in{{ts: 1}, {ts: 1}}, "[[0] [1]]", 0},
		{"a probe between frames goes at once", true, []in{{ts: 1, marker: true}, {ts: 1, probe: true}, {ts: 2}}, "[[0] [1]]", 1},
		{"a probe inside a frame keeps its place", true, []in{{ts: 1}, {ts: 1, probe: true}, {ts: 1, marker: true}}, "[[0 1 2]]", 0},
		{"a full buffer goes out", true, func() []in {
			var p []in
			for range maxFramePackets + 1 {
				p = append(p, in{ts: 7})
			}
			return p
		}(), "[[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15]]", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := frameBuf{group: tc.video}
			var got [][]byte
			out := func(ps []Packet) {
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
				f.add(Packet{Buf: buf[:1], Header: h}, out)
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

// The edge writes its own abs-send-time and transport-cc extensions (RFC
// 8285 one-byte form) into what it sends, with the send time and the
// connection's transport-wide sequence number filled in as the packet
// leaves, on media and RTX packets alike; the publisher's extensions are
// not forwarded.
func TestOwnHeaderExtensions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		abs, tcc uint8
	}{{"both", 3, 5}, {"abs-send-time only", 3, 0}, {"transport-cc only", 0, 5}, {"none", 0, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPath(t, 1, webrtc.MimeTypeVP8)
			w := p.ws[0]
			p.downs[0].Bind(Output{Writer: w, SSRC: 1234, PayloadType: 96, ClockRate: 90000,
				RTXSSRC: 5678, RTXPayloadType: 97, AbsSendTimeID: tc.abs, TransportCCID: tc.tcc})
			for i := 0; i < 3; i++ {
				p.now = int64(i) * int64(time.Second) / 4 // 0, 250, 500 ms
				raw := vp8Packet(pk{seq: uint16(10 + i), ts: uint32(i) * 3000, key: i == 0, ext: true})
				p.forward(raw)
			}
			p.downs[0].HandleNACK(w.pkts[1].SequenceNumber, 0, make([]byte, 1500), p.now, 0) // an RTX packet too
			p.sinks[0].Flush(nil)
			if len(w.pkts) != 4 {
				t.Fatalf("%d packets", len(w.pkts))
			}
			for i, pkt := range w.pkts {
				if pkt.GetExtension(0xa) != nil {
					t.Fatalf("packet %d: the publisher's extension was forwarded", i)
				}
				if (tc.abs == 0 && tc.tcc == 0) != !pkt.Extension {
					t.Fatalf("packet %d: extension bit %v", i, pkt.Extension)
				}
				if tc.abs != 0 {
					e := pkt.GetExtension(tc.abs)
					want := uint32(uint64(min(i, 2))*uint64(time.Second/4)<<18/1e9) & 0xffffff
					if len(e) != 3 || uint32(e[0])<<16|uint32(e[1])<<8|uint32(e[2]) != want {
						t.Fatalf("packet %d: abs-send-time %x, want %06x", i, e, want)
					}
				}
				if tc.tcc != 0 {
					e := pkt.GetExtension(tc.tcc)
					if len(e) != 2 || binary.BigEndian.Uint16(e) != uint16(i) {
						t.Fatalf("packet %d: transport-wide sequence number %x, want %d", i, e, i)
					}
				}
			}
			if rtx := w.pkts[3]; rtx.SSRC != 5678 || binary.BigEndian.Uint16(rtx.Payload) != w.pkts[1].SequenceNumber {
				t.Fatalf("RTX packet %+v: its OSN must follow the extensions", rtx.Header)
			}
		})
	}
}

// A subscriber's sender-report counters are added once a run of a track's
// packets, not a packet: with two tracks' packets interleaved in one drain
// (runs of 2, 1, 3 and 1), each track's report counts exactly its own
// packets and payload octets, and carries its newest timestamp.
func TestSenderReportCountsRuns(t *testing.T) {
	var clock int64
	now := func() int64 { return clock }
	sink, err := NewSink(SinkConfig{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	type sub struct {
		tr *Track
		l  *Layer
		d  *Down
	}
	subs := make([]sub, 2)
	for i := range subs {
		tr, err := NewTrack(TrackConfig{Codec: codec.VP8, Upstream: nopUpstream{}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		l, err := tr.AddLayer(0, 1, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		d, err := sink.Subscribe(tr)
		if err != nil {
			t.Fatal(err)
		}
		d.Bind(Output{Writer: &discard{}, SSRC: uint32(10 + i), PayloadType: 96, ClockRate: 90000})
		d.fwd.SetTarget(0)
		subs[i] = sub{tr, l, d}
	}
	seq := []uint16{1, 1}
	wantN, wantOctets, wantTS := []uint32{0, 0}, []uint32{0, 0}, []uint32{0, 0}
	queue := func(i, n int) {
		for range n {
			b := vp8Packet(pk{seq: seq[i], ts: uint32(seq[i]) * 3000, key: seq[i] == 1, pic: seq[i]})
			p, err := subs[i].tr.src.Parse(b, 0, clock)
			if err != nil {
				t.Fatal(err)
			}
			p.Keyframe = seq[i] == 1
			subs[i].l.fanout([]Packet{p}, nil) // not inline: queued only
			wantN[i]++
			wantOctets[i] += uint32(len(b) - 12)
			wantTS[i] = uint32(seq[i]) * 3000
			seq[i]++
		}
	}
	queue(0, 2)
	queue(1, 1)
	queue(0, 3)
	queue(1, 1)
	if st := sink.q.Stats(); st.Len != 7 {
		t.Fatalf("%d packets queued, want 7", st.Len)
	}
	sink.SetInline(true)
	sink.Flush(nil)
	for i, s := range subs {
		sr := s.d.SenderReport(clock, time.Now())
		if sr == nil {
			t.Fatalf("track %d: no sender report", i)
		}
		if sr.PacketCount != wantN[i] || sr.OctetCount != wantOctets[i] || sr.RTPTime != wantTS[i] {
			t.Errorf("track %d: report %d packets, %d octets, RTP time %d; want %d, %d, %d",
				i, sr.PacketCount, sr.OctetCount, sr.RTPTime, wantN[i], wantOctets[i], wantTS[i])
		}
	}
}
