package gossip

import (
	"reflect"
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
			SignalURL: "wss://edge-1.eu-west.example.com",
			TURNURLs:  []string{"turn:edge-1.eu-west.example.com:3478?transport=udp", "turns:edge-1.eu-west.example.com:5349?transport=tcp"},
			RelayAddr: "203.0.113.7:7881", ProbeURL: "https://edge-1.eu-west.example.com/probe",
			Load:     Load{CPU: 73.4, Participants: 312, Tracks: 900, BandwidthKbps: 450000},
			Draining: true, Leaving: true, MaxParticipants: 1000, Version: "v1.4.2-3-gabcdef",
		}},
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
		})
	}
}

func TestMetaLimits(t *testing.T) {
	m := Meta{NodeID: "a", SignalURL: strings.Repeat("x", 600)}
	if _, err := m.encode(); err == nil {
		t.Fatal("oversized metadata encoded")
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"bad version": {9},
		"truncated":   {1, 5, 'a'},
		"huge count":  {1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeMeta(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	full, _ := Meta{NodeID: "n", Role: "edge", Region: "eu", TURNURLs: []string{"turn:x"}, Draining: true}.encode()
	f.Add(full)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		b2, err := m.encode()
		if err != nil {
			if len(b) > MetaLimit {
				return
			}
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := decodeMeta(b2)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %+v vs %+v (%v)", m, m2, err)
		}
	})
}

func FuzzDecodeMsg(f *testing.F) {
	f.Add(encodeMsg(msgRoom, dirDelta{Node: "a", Name: "r", Entry: roomEntry{Ver: 3, Room: Room{Participants: 1, Tracks: []Track{{SID: "T"}}}}}))
	f.Add(encodeMsg(msgRevoke, Revocation{Kind: RevokeUser, Subject: "u", Until: t0}))
	f.Add([]byte("d{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := decodeMsg(b)
		if err != nil {
			return
		}
		// Whatever decodes can be applied without panicking.
		d := newDirectory("self", t0)
		r := newRevocations()
		switch m := msg.(type) {
		case dirDelta:
			d.apply(m)
		case Revocation:
			r.add(m, t0)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	a := newDirectory("a", t0)
	a.set("r", Room{Participants: 2})
	f.Add(encodeMsg(0, state{Dir: a.snapshot(), Revoke: []Revocation{{Kind: RevokeToken, Subject: "j", Until: t0.Add(time.Hour)}}})[1:])
	f.Add([]byte(`{"d":[{"o":"self","c":18446744073709551615}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		d := newDirectory("self", t0)
		d.merge(s.Dir)
		r := newRevocations()
		for _, rv := range s.Revoke {
			r.add(rv, t0)
		}
	})
}
