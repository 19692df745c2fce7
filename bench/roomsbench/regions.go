package roomsbench

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Region is one region of a multi-region run: its share of every room's
// participants and, in a self-contained run, its edges.
type Region struct {
	Name string `yaml:"name" json:"name"`
	// Edges is how many edges a self-contained run starts in the region
	// (0: 1); a run against --target uses the fleet's.
	Edges int `yaml:"edges" json:"edges,omitempty"`
	// Publishers and Subscribers of every room that join in the region:
	// they send it as their region hint, with RTTs made of the links'
	// delays.
	Publishers  int `yaml:"publishers" json:"publishers"`
	Subscribers int `yaml:"subscribers" json:"subscribers"`
}

// Link is the shape of the link between two regions, each way.
type Link struct {
	// Delay is added one way (so the round trip gains twice it), ± a
	// uniform Jitter; by a userspace relay in each receiving namespace.
	Delay  time.Duration `yaml:"delay" json:"delay,omitempty"`
	Jitter time.Duration `yaml:"jitter" json:"jitter,omitempty"`
	// LossPercent of the UDP datagrams are dropped at random, each way
	// (iptables -m statistic).
	LossPercent float64 `yaml:"lossPercent" json:"lossPercent,omitempty"`
	// RateKbps caps what each edge sends to the other region (an htb
	// class per region on its interface); 0: no cap.
	RateKbps int `yaml:"rateKbps" json:"rateKbps,omitempty"`
}

// PairLink overrides the link between regions A and B.
type PairLink struct {
	A    string `yaml:"a" json:"a"`
	B    string `yaml:"b" json:"b"`
	Link `yaml:",inline"`
}

// DefaultRegions are two regions 40 ms apart: one publisher in a, two
// subscribers in b (and the multi-region run's default link).
func DefaultRegions() ([]Region, Link) {
	return []Region{{Name: "a", Edges: 1, Publishers: 1}, {Name: "b", Edges: 1, Subscribers: 2}},
		Link{Delay: 40 * time.Millisecond, Jitter: 2 * time.Millisecond}
}

// multiRegion says whether c is a multi-region run.
func (c Config) multiRegion() bool { return len(c.Regions) > 0 }

// link is the shape between regions a and b (a != b).
func (c Config) link(a, b string) Link {
	for _, p := range c.Links {
		if (p.A == a && p.B == b) || (p.A == b && p.B == a) {
			return p.Link
		}
	}
	return c.Link
}

// regionOf is the region of seat j (0-based) of a room: the regions'
// publishers first, in order, then their subscribers.
func (c Config) regionOf(j int) (region string, publish bool) {
	for _, r := range c.Regions {
		if j < r.Publishers {
			return r.Name, true
		}
		j -= r.Publishers
	}
	for _, r := range c.Regions {
		if j < r.Subscribers {
			return r.Name, false
		}
		j -= r.Subscribers
	}
	return "", false
}

// rtts are the round trips a participant of region from reports: 1 ms to
// its own region, twice the link's delay (and 1 ms) to the others.
func (c Config) rtts(from string) map[string]int64 {
	m := map[string]int64{}
	for _, r := range c.Regions {
		m[r.Name] = 1
		if r.Name != from {
			m[r.Name] += 2 * c.link(from, r.Name).Delay.Milliseconds()
		}
	}
	return m
}

// applyRegions fills the per-room counts from the regions: every room has
// the regions' publishers and subscribers, one agent per region.
func (c *Config) applyRegions() {
	if !c.multiRegion() {
		return
	}
	c.Participants, c.Publishers = 0, 0
	for i := range c.Regions {
		r := &c.Regions[i]
		if r.Edges == 0 {
			r.Edges = 1
		}
		c.Participants += r.Publishers + r.Subscribers
		c.Publishers += r.Publishers
	}
	c.Agents = len(c.Regions)
}

// validateRegions checks the multi-region settings.
func (c Config) validateRegions() error {
	if !c.multiRegion() {
		if len(c.Links) > 0 || c.Link != (Link{}) {
			return errors.New("link and links: only with regions")
		}
		return nil
	}
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if len(c.Regions) > 16 {
		bad("regions: at most 16")
	}
	var names []string
	pubs := 0
	for i, r := range c.Regions {
		switch {
		case r.Name == "" || len(r.Name) > 32:
			bad("regions[%d]: a name of 1 to 32 characters", i)
		case slices.Contains(names, r.Name):
			bad("regions: %q twice", r.Name)
		}
		names = append(names, r.Name)
		if r.Edges < 0 || r.Edges > 8 {
			bad("regions[%d] (%s): edges 0 to 8", i, r.Name)
		}
		if r.Publishers < 0 || r.Subscribers < 0 || r.Publishers+r.Subscribers > 500 {
			bad("regions[%d] (%s): publishers and subscribers 0 to 500 together", i, r.Name)
		}
		pubs += r.Publishers
	}
	if pubs == 0 {
		bad("regions: no publisher in any region")
	}
	check := func(what string, l Link) {
		if l.Delay < 0 || l.Delay > 2*time.Second || l.Jitter < 0 || l.Jitter > l.Delay {
			bad("%s: delay 0 to 2s, jitter 0 to the delay", what)
		}
		if l.LossPercent < 0 || l.LossPercent > 50 {
			bad("%s: lossPercent 0 to 50", what)
		}
		if l.RateKbps < 0 {
			bad("%s: rateKbps must not be negative", what)
		}
	}
	check("link", c.Link)
	for i, p := range c.Links {
		if !slices.Contains(names, p.A) || !slices.Contains(names, p.B) || p.A == p.B {
			bad("links[%d]: a and b must be two of the regions", i)
		}
		check(fmt.Sprintf("links[%d] (%s-%s)", i, p.A, p.B), p.Link)
	}
	if c.LiveKitURL != "" {
		bad("regions: not with livekitURL (the regions are placed by the control plane's join)")
	}
	if c.Target != "" && c.Cut != nil {
		bad("regions: cut only in a self-contained run")
	}
	return errors.Join(errs...)
}

// edgeCount is the number of edges a self-contained run starts.
func (c Config) edgeCount() int {
	n := 0
	for _, r := range c.Regions {
		n += max(r.Edges, 1)
	}
	return n
}

// ParseRegions reads the --regions flag:
// NAME:EDGES:PUBLISHERS:SUBSCRIBERS, comma-separated.
func ParseRegions(v string) ([]Region, error) {
	var out []Region
	for _, item := range strings.Split(v, ",") {
		f := strings.Split(strings.TrimSpace(item), ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("regions: %q: want NAME:EDGES:PUBLISHERS:SUBSCRIBERS", item)
		}
		r := Region{Name: f[0]}
		for i, dst := range []*int{&r.Edges, &r.Publishers, &r.Subscribers} {
			n, err := strconv.Atoi(f[i+1])
			if err != nil {
				return nil, fmt.Errorf("regions: %q: %w", item, err)
			}
			*dst = n
		}
		out = append(out, r)
	}
	return out, nil
}
