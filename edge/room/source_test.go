package room

import (
	"errors"
	"testing"

	"github.com/spacecast/spacecast/edge/relay"
)

// TestSourceOf: the edge a remote track is pulled from. The origin when it
// is in this edge's region, when regions are unknown, or when this edge
// is its region's smallest host of the room; else that smallest host.
func TestSourceOf(t *testing.T) {
	regions := map[string]string{"a1": "a", "b1": "b", "b2": "b", "b3": "b", "c1": "c"}
	cases := []struct {
		name, self, origin string
		hosts              []string
		noRegions          bool
		want               string
	}{
		{name: "origin in this region", self: "b2", origin: "b1", hosts: []string{"b1", "b3"}, want: "b1"},
		{name: "no other host here", self: "b2", origin: "a1", hosts: []string{"a1", "c1"}, want: "a1"},
		{name: "smaller host here", self: "b2", origin: "a1", hosts: []string{"a1", "b1", "b3"}, want: "b1"},
		{name: "this edge is the smallest", self: "b1", origin: "a1", hosts: []string{"a1", "b2", "b3"}, want: "a1"},
		{name: "origin's region unknown", self: "b2", origin: "x9", hosts: []string{"x9", "b1"}, want: "x9"},
		{name: "no regions", self: "b2", origin: "a1", hosts: []string{"a1", "b1"}, noRegions: true, want: "a1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Manager{cfg: Config{NodeID: c.self, Region: regions[c.self]}}
			if !c.noRegions {
				m.region = func(n string) string { return regions[n] }
			}
			r := &Room{mgr: m}
			if got := r.sourceOf(c.origin, c.hosts); got != c.want {
				t.Errorf("source of a track of %s from %s among %v: %s, want %s", c.origin, c.self, c.hosts, got, c.want)
			}
		})
	}
}

// TestRegionalSourceServesOnlyFromTheOrigin: three edges, the publisher on
// A (region a), subscribers on B1 and B2 (region b). B2 pulls from B1,
// which pulls from A; neither serves the track where it would make a loop:
// B2 does not serve what it pulls from B1, and B1 does not serve A its own
// track. B2's subscriber receives the media.
func TestRegionalSourceServesOnlyFromTheOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time media")
	}
	regions := map[string]string{"edge-a": "a", "edge-b1": "b", "edge-b2": "b"}
	e := newSpan(t, func(c *Config) { c.Region = regions[c.NodeID] }, "edge-a", "edge-b1", "edge-b2")
	for _, x := range e {
		x.m.AttachRegions(func(n string) string { return regions[n] })
	}
	a, b1, b2 := e[0], e[1], e[2]
	pb := publish(t, a.m, "r", "alice")
	s1 := subscribe(t, b1.m, "r", "bob")
	s2 := subscribe(t, b2.m, "r", "carol")
	vid := pb.video.sid
	eventually(t, "B2 pulls alice's video from B1, B1 from A", func() bool {
		r1, r2 := b1.m.Room("r"), b2.m.Room("r")
		return r1 != nil && r2 != nil && r2.Sources()[vid] == "edge-b1" && r1.Sources()[vid] == "edge-a"
	})
	eventually(t, "both subscribed", func() bool { return s1.bind(t) == 2 && s2.bind(t) == 2 })
	eventually(t, "carol receives the video through B1", func() bool { return s2.received(vid) > 30 })
	if _, err := b2.m.Open("edge-b1", "r", vid, &relay.Sender{}); !errors.Is(err, ErrNotServed) {
		t.Fatalf("B2 serving B1 the track it pulls from B1: %v, want ErrNotServed", err)
	}
	if _, err := b1.m.Open("edge-a", "r", vid, &relay.Sender{}); !errors.Is(err, ErrNotServed) {
		t.Fatalf("B1 serving A its own track: %v, want ErrNotServed", err)
	}
	if n := a.r.Stats("edge-b2").Served; n != 0 {
		t.Fatalf("A serves B2 %d subscriptions, want none", n)
	}
}
