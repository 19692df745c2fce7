package room

// Where a relayed track is pulled from. An edge pulls a remote track from
// its publisher's edge (the origin) unless the origin is in another
// region and another edge of this edge's region hosts the room: then the
// track crosses the inter-region link once, to the edge of the region
// with the smallest node id among the room's hosts there (the regional
// source), and the region's other edges pull it from that one. The
// regional source pulls the union of what its own subscribers and the
// edges it serves need (pull.update), and serves a relayed track only
// while it pulls it from the origin itself (Manager.Open): a chain is
// never longer than one regional hop, so two edges whose directories
// disagree for a moment cannot pull from each other. An edge whose
// regional source refuses the track (it does not pull it from the origin,
// its room closed there) or whose link to it goes down pulls from the
// origin at once, and asks the regional source again after
// sourceHoldOff; one that leaves the directory is left on the next check.

// AttachRegions tells the manager each edge's region (the gossip node
// metadata; "" when unknown), so that remote tracks published in another
// region are pulled through an edge of this region that has them (see
// sourceOf). Without it every remote track is pulled from its origin.
// Call it once, before the first join.
func (m *Manager) AttachRegions(region func(node string) string) { m.region = region }

// sourceOf is the edge to pull a track published on origin from, given
// the room's other hosts.
func (r *Room) sourceOf(origin string, hosts []string) string {
	m := r.mgr
	here := m.cfg.Region
	if m.region == nil || here == "" {
		return origin
	}
	if ro := m.region(origin); ro == "" || ro == here {
		return origin
	}
	best := m.cfg.NodeID
	for _, h := range hosts {
		if h != origin && h < best && m.region(h) == here {
			best = h
		}
	}
	if best == m.cfg.NodeID {
		return origin
	}
	return best
}

// updateSources has every relayed track follow its source as the room's
// hosts are now (the directory check).
func (r *Room) updateSources(hosts []string) {
	for _, p := range r.pulls() {
		p.follow(r.sourceOf(p.origin, hosts))
	}
}

// pulls lists the relayed tracks' pulls.
func (r *Room) pulls() []*pull {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*pull
	for _, t := range r.tracks {
		if t.pull != nil {
			out = append(out, t.pull)
		}
	}
	return out
}

// sourceDown: the link to peer went down; the tracks pulled from it as
// their regional source come from their origin now.
func (r *Room) sourceDown(peer string) {
	for _, p := range r.pulls() {
		if ps := p.cur.Load(); ps.src == peer && peer != p.origin {
			p.fallBack(ps)
		}
	}
}

// Sources maps each relayed track of the room to the edge it is pulled
// from now (tests, operators).
func (r *Room) Sources() map[string]string {
	out := map[string]string{}
	for _, p := range r.pulls() {
		out[p.sid] = p.source()
	}
	return out
}

// feedLayers is the union of the layers the edges this edge serves t to
// pull.
func (t *PubTrack) feedLayers() uint8 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var m uint8
	for _, f := range t.feeds {
		m |= uint8(f.want.Load())
	}
	return m
}
