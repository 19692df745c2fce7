package room

import "testing"

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
