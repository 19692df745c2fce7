package forward

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"github.com/spacecast/spacecast/edge/codec"
)

// listReader reads packets from a list, then io.EOF.
type listReader struct{ pkts [][]byte }

func (r *listReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if len(r.pkts) == 0 {
		return 0, nil, io.EOF
	}
	n := copy(b, r.pkts[0])
	r.pkts = r.pkts[1:]
	return n, nil, nil
}
func (r *listReader) SetReadDeadline(time.Time) error { return nil }

// redIn is a publisher's RED packet (Chromium's: the previous frame, then
// the primary); frame i's Opus bytes are {i, i, i}.
func redIn(i uint16) []byte {
	ts := uint32(i) * 960
	b := []byte{0x80, 63, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34}
	binary.BigEndian.PutUint16(b[2:], i)
	binary.BigEndian.PutUint32(b[4:], ts)
	if i > 1 {
		b = binary.BigEndian.AppendUint32(b, uint32(0x80|111)<<24|960<<10|3)
	}
	b = append(b, 111)
	if i > 1 {
		b = append(b, byte(i-1), byte(i-1), byte(i-1))
	}
	return append(b, byte(i), byte(i), byte(i))
}

// redBlocks counts the blocks of a RED payload.
func redBlocks(p []byte) int {
	n := 1
	for i := 0; i < len(p) && p[i]&0x80 != 0; i += 4 {
		n++
	}
	return n
}

// With RED widening on, what the track's reader fans out carries the two
// frames before each primary (a RED subscriber gets three blocks, the
// publisher sent two); a subscriber without RED still gets the primary
// alone. Off, the publisher's packets pass as they came.
func TestREDWidening(t *testing.T) {
	for _, on := range []bool{false, true} {
		tr, err := NewTrack(TrackConfig{Codec: codec.RED, Upstream: nopUpstream{}, Now: func() int64 { return 1 }})
		if err != nil {
			t.Fatal(err)
		}
		tr.SetREDWidening(on)
		r := &listReader{}
		for i := uint16(1); i <= 5; i++ {
			r.pkts = append(r.pkts, redIn(i))
		}
		l, err := tr.AddLayer(0, 0x1234, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ws [2]*rtpWriter
		for k, o := range []Output{{SSRC: 1, PayloadType: 63, ClockRate: 48000}, {SSRC: 2, PayloadType: 111, ClockRate: 48000, REDToOpus: true}} {
			s, err := NewSink(SinkConfig{Now: func() int64 { return 1 }})
			if err != nil {
				t.Fatal(err)
			}
			s.SetInline(true)
			d, err := s.Subscribe(tr)
			if err != nil {
				t.Fatal(err)
			}
			ws[k] = &rtpWriter{}
			o.Writer = ws[k]
			d.Bind(o)
			d.SetTarget(0, 0)
		}
		l.Run()
		red, opus := ws[0].pkts, ws[1].pkts
		if len(red) != 5 || len(opus) != 5 {
			t.Fatalf("widening %v: %d RED and %d Opus packets forwarded, want 5 each", on, len(red), len(opus))
		}
		want := 2
		if on {
			want = 3
		}
		if got := redBlocks(red[4].Payload); got != want {
			t.Errorf("widening %v: the RED subscriber's packet has %d blocks, want %d", on, got, want)
		}
		if p := opus[4].Payload; string(p) != string([]byte{5, 5, 5}) {
			t.Errorf("widening %v: the Opus subscriber got %v, want the primary alone", on, p)
		}
	}
}
