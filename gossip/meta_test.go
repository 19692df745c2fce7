package gossip

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    Meta
	}{
		{"minimal", Meta{NodeID: "a", Role: RoleControlPlane, Region: "eu"}},
		{"full", Meta{
			NodeID: "edge-eu-west-1", Role: RoleEdge, Region: "eu-west",
			SignalURL:  "wss://edge-1.eu-west.example.com",
			TURNURLs:   []string{"turn:edge-1.eu-west.example.com:3478?transport=udp", "turns:edge-1.eu-west.example.com:5349?transport=tcp"},
			MediaAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.7:7882"), netip.MustParseAddrPort("[2001:db8::7]:7882")},
			RelayAddr:  "203.0.113.7:7881", ProbeURL: "https://edge-1.eu-west.example.com/probe",
			Load:     Load{CPU: 73.4, Participants: 312, Tracks: 900, BandwidthKbps: 450000},
			Draining: true, Leaving: true, MaxParticipants: 1000, Version: "v1.4.2-3-gabcdef",
		}},
		{"relayer", Meta{NodeID: "edge-2", Role: RoleEdge, Region: "us-east", WAN: true, WANAddr: "198.51.100.2:7947"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.encode()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MetaLimit {
				t.Fatalf("%d bytes", len(b))
			}
			got, err := decodeMeta(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("got %+v\nwant %+v", got, tc.m)
			}
			// With a sequence number, and as a decoder that predates the
			// trailer reads it.
			b, err = encodeMeta(tc.m, 42)
			if err != nil {
				t.Fatal(err)
			}
			got, seq, err := decodeMetaSeq(b)
			if err != nil || seq != 42 || !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("with seq: %+v %d %v", got, seq, err)
			}
			old := tc.m
			old.WANAddr, old.MediaAddrs = "", nil
			if got, err := decodeMeta(b[:len(b)-trailerLen(42, tc.m)]); err != nil || !reflect.DeepEqual(got, old) {
				t.Fatalf("without trailer: %+v %v", got, err)
			}
		})
	}
}

func trailerLen(seq uint64, m Meta) int {
	n := len(binary.AppendUvarint(nil, seq)) + len(binary.AppendUvarint(nil, uint64(len(m.WANAddr)))) + len(m.WANAddr)
	if len(m.MediaAddrs) > 0 {
		n++ // the count
		for _, a := range m.MediaAddrs {
			ab, _ := a.MarshalBinary()
			n += 1 + len(ab)
		}
	}
	return n
}

func TestMetaLimits(t *testing.T) {
	m := Meta{NodeID: "a", SignalURL: strings.Repeat("x", 600)}
	if _, err := m.encode(); err == nil {
		t.Fatal("oversized metadata encoded")
	}
	withMedia, _ := encodeMeta(Meta{NodeID: "a", MediaAddrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:7882")}}, 1)
	badMedia := slices.Clone(withMedia)
	badMedia[len(badMedia)-1], badMedia[len(badMedia)-2] = 0, 0 // port 0
	for name, b := range map[string][]byte{
		"media address without port": badMedia,
		"media count too high":       append(slices.Clone(withMedia[:len(withMedia)-8]), 0x7f),
		"media address truncated":    withMedia[:len(withMedia)-1],
		"empty":                      nil,
		"bad version":                {9},
		"truncated":                  {1, 5, 'a'},
		"huge count":                 {1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeMeta(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	full, _ := Meta{NodeID: "n", Role: "edge", Region: "eu", TURNURLs: []string{"turn:x"}, Draining: true}.encode()
	f.Add(full)
	wan, _ := encodeMeta(Meta{NodeID: "n", Role: "edge", Region: "eu", WAN: true, WANAddr: "198.18.0.1:7947"}, 1_700_000_000_000_000_000)
	f.Add(wan)
	media, _ := encodeMeta(Meta{NodeID: "n", Role: "edge", Region: "eu", RelayAddr: "198.18.0.1:7000",
		MediaAddrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:7882"), netip.MustParseAddrPort("[2001:db8::1]:7881")}}, 1)
	f.Add(media)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, seq, err := decodeMetaSeq(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		b2, err := encodeMeta(m, seq)
		if err != nil {
			if len(b) > MetaLimit {
				return
			}
			t.Fatalf("re-encode: %v", err)
		}
		m2, seq2, err := decodeMetaSeq(b2)
		if err != nil || !reflect.DeepEqual(m, m2) || seq != seq2 {
			t.Fatalf("round trip: %+v %d vs %+v %d (%v)", m, seq, m2, seq2, err)
		}
	})
}

func FuzzDecodeMsg(f *testing.F) {
	f.Add(encodeMsg(msgRoom, dirDelta{Origin: "a", Name: pubKey("r", "p"), Entry: ventry[dirValue]{Ver: 3, Val: dirValue{Tracks: []Track{{SID: "T", Participant: "p"}}}}}))
	f.Add(encodeMsg(msgRoom, dirDelta{Origin: "a", Entry: ventry[dirValue]{Ver: 3, Deleted: true}}))
	f.Add(encodeMsg(msgList, listDelta{Origin: "a", Name: "b", Entry: ventry[listValue]{Ver: 3, Val: listValue{Alive: true, WAN: true}}}))
	f.Add(encodeMsg(msgRecord, record{ID: "a", Addr: "198.18.0.1:7946", Meta: []byte{1, 1, 'a'}}))
	f.Add(encodeMsg(msgRevoke, Revocation{Kind: RevokeUser, Subject: "u", Until: t0}))
	f.Add([]byte("D{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := decodeMsg(b)
		if err != nil {
			return
		}
		// Whatever decodes can be applied without panicking.
		d := newDirectory("self", t0)
		l := newVmap[listValue]("self", t0, nil)
		r := newRevocations()
		switch m := msg.(type) {
		case dirDelta:
			d.apply(m)
		case listDelta:
			l.apply(m)
		case record:
			newRemoteNode(m, &urlPolicy{}, t0)
		case Revocation:
			r.add(m, t0)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	a := newDirectory("a", t0)
	a.setRoom("r", Room{Participants: 2, Tracks: []Track{{SID: "T", Participant: "p"}}})
	l := newVmap[listValue]("a", t0, nil)
	l.set("b", listValue{Alive: true})
	f.Add(encodeState(state{Rooms: a.snapshot(nil), Lists: l.snapshot(nil), Records: []record{{ID: "b", Meta: []byte{1}}},
		Revoke: []Revocation{{Kind: RevokeToken, Subject: "j", Until: t0.Add(time.Hour)}}}))
	f.Add([]byte(`{"rooms":[{"o":"self","c":18446744073709551615}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		d := newDirectory("self", t0)
		d.merge(s.Rooms)
		l := newVmap[listValue]("self", t0, nil)
		l.merge(s.Lists)
		for _, rec := range s.Records {
			newRemoteNode(rec, &urlPolicy{}, t0)
		}
		r := newRevocations()
		for _, rv := range s.Revoke {
			r.add(rv, t0)
		}
	})
}

// Only a load that moved noticeably since the last published one is
// published: an idle edge's CPU noise is not.
func TestLoadMoved(t *testing.T) {
	base := Load{CPU: 10, Participants: 4, Tracks: 8, BandwidthKbps: 10000}
	tests := []struct {
		name string
		to   func(l *Load)
		want bool
	}{
		{"same", func(*Load) {}, false},
		{"CPU noise", func(l *Load) { l.CPU = 10.7 }, false},
		{"CPU just under the step", func(l *Load) { l.CPU = 14.9 }, false},
		{"CPU up a step", func(l *Load) { l.CPU = 15 }, true},
		{"CPU down a step", func(l *Load) { l.CPU = 5 }, true},
		{"one participant more", func(l *Load) { l.Participants = 5 }, true},
		{"one track less", func(l *Load) { l.Tracks = 7 }, true},
		{"bandwidth up 10 %", func(l *Load) { l.BandwidthKbps = 11000 }, false},
		{"bandwidth up 20 %", func(l *Load) { l.BandwidthKbps = 12000 }, true},
		{"bandwidth halved", func(l *Load) { l.BandwidthKbps = 5000 }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			to := base
			tc.to(&to)
			if got := loadMoved(base, to); got != tc.want {
				t.Fatalf("loadMoved(%+v, %+v) = %v, want %v", base, to, got, tc.want)
			}
		})
	}
	// From idle, a small absolute move in bandwidth is still noise.
	if loadMoved(Load{}, Load{BandwidthKbps: 300}) || !loadMoved(Load{}, Load{BandwidthKbps: 2000}) {
		t.Fatal("bandwidth from idle")
	}
}
