package gossip

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func everyone(string) bool { return true }

func hostIDs(d *directory, room string) []string {
	var out []string
	for _, h := range d.hosts(room, everyone) {
		out = append(out, h.NodeID)
	}
	return out
}

// applyAll applies deltas to d as they arrive.
func applyAll(d *directory, ds []dirDelta) {
	for _, x := range ds {
		d.apply(x)
	}
}

func TestDirectoryDeltas(t *testing.T) {
	tests := []struct {
		name   string
		run    func(a, b *directory)
		room   string
		want   int // hosts of room seen by b
		tracks int
	}{
		{"set reaches", func(a, b *directory) {
			applyAll(b, a.setRoom("r", Room{Tracks: []Track{{SID: "T1"}}}))
		}, "r", 1, 1},
		{"stale delta ignored", func(a, b *directory) {
			old := a.setRoom("r", Room{Tracks: []Track{{SID: "T1"}}})
			newer := a.setRoom("r", Room{Tracks: []Track{{SID: "T1"}, {SID: "T2"}}})
			applyAll(b, newer)
			applyAll(b, old)
		}, "r", 1, 2},
		{"delete after set", func(a, b *directory) {
			applyAll(b, a.setRoom("r", Room{}))
			applyAll(b, a.removeRoom("r"))
		}, "r", 0, 0},
		{"set replayed after delete stays deleted", func(a, b *directory) {
			s := a.setRoom("r", Room{Tracks: []Track{{SID: "T1", Participant: "p"}}})
			applyAll(b, s)
			applyAll(b, a.removeRoom("r"))
			applyAll(b, s)
		}, "r", 0, 0},
		{"missed delete repaired by snapshot from the origin", func(a, b *directory) {
			applyAll(b, a.setRoom("r", Room{}))
			_ = a.removeRoom("r") // b misses it
			b.merge(a.snapshot(nil))
		}, "r", 0, 0},
		{"missed delete repaired by a relayed snapshot", func(a, b *directory) {
			c := newDirectory("c", t0)
			s := a.setRoom("r", Room{})
			applyAll(b, s)
			applyAll(c, s)
			_ = a.removeRoom("r")
			c.merge(a.snapshot(nil)) // c is complete, b is not
			b.merge(c.snapshot(nil))
		}, "r", 0, 0},
		{"old relayed snapshot does not resurrect", func(a, b *directory) {
			c := newDirectory("c", t0)
			c.merge(a.snapshot(nil))
			applyAll(c, a.setRoom("r", Room{}))
			old := c.snapshot(nil)
			b.merge(a.snapshot(nil))
			applyAll(b, a.removeRoom("r"))
			b.merge(old)
		}, "r", 0, 0},
		{"dropped node's stale copy refused", func(a, b *directory) {
			s := a.setRoom("r", Room{})
			applyAll(b, s)
			b.drop("a", t0)
			applyAll(b, s)
			b.merge(a.snapshot(nil))
		}, "r", 0, 0},
		{"revived node readmitted", func(a, b *directory) {
			applyAll(b, a.setRoom("r", Room{}))
			b.drop("a", t0)
			b.revive("a")
			b.merge(a.snapshot(nil))
		}, "r", 1, 0},
		{"a publisher gone takes its tracks", func(a, b *directory) {
			applyAll(b, a.setRoom("r", Room{Tracks: []Track{{SID: "T1", Participant: "alice"}, {SID: "T2", Participant: "bob"}}}))
			applyAll(b, a.setRoom("r", Room{Tracks: []Track{{SID: "T2", Participant: "bob"}}}))
		}, "r", 1, 1},
		{"a reset voids the previous run's rooms", func(a, b *directory) {
			applyAll(b, a.setRoom("r", Room{}))
			again := newDirectory("a", t0.Add(time.Minute)) // restarted
			b.apply(again.reset())
		}, "r", 0, 0},
		{"a reset does not void what the new run said", func(a, b *directory) {
			applyAll(b, a.setRoom("old", Room{}))
			again := newDirectory("a", t0.Add(time.Minute))
			applyAll(b, again.setRoom("r", Room{Tracks: []Track{{SID: "T1"}}}))
			b.apply(again.reset()) // arrives late
		}, "r", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newDirectory("a", t0)
			b := newDirectory("b", t0)
			tc.run(a, b)
			hs := b.hosts(tc.room, everyone)
			if len(hs) != tc.want {
				t.Fatalf("hosts = %v, want %d", hostIDs(b, tc.room), tc.want)
			}
			if tc.want > 0 && len(hs[0].Room.Tracks) != tc.tracks {
				t.Fatalf("tracks = %v, want %d", hs[0].Room.Tracks, tc.tracks)
			}
		})
	}
}

// A room's change travels as one small delta per publisher that changed,
// so that a large room's changes each fit in a gossip packet.
func TestDirectorySplitsRoomsByPublisher(t *testing.T) {
	a := newDirectory("a", t0)
	var tracks []Track
	for i := range 100 {
		p := fmt.Sprintf("participant-with-a-long-identity-%03d", i)
		tracks = append(tracks, Track{SID: "TR_" + p + "_audio", Participant: p, Kind: "audio"}, Track{SID: "TR_" + p + "_video", Participant: p, Kind: "video"})
	}
	first := a.setRoom("big", Room{Participants: 100, Tracks: tracks})
	if len(first) != 101 {
		t.Fatalf("%d deltas, want the header and one per publisher", len(first))
	}
	for _, d := range first {
		if n := len(encodeMsg(msgRoom, d)); n > 600 {
			t.Fatalf("a delta of %d bytes", n)
		}
	}
	tracks[0].Kind = "screen"
	second := a.setRoom("big", Room{Participants: 100, Tracks: tracks})
	if len(second) != 1 || second[0].Name != pubKey("big", tracks[0].Participant) {
		t.Fatalf("one track changed: deltas %+v", second)
	}
	b := newDirectory("b", t0)
	applyAll(b, first)
	applyAll(b, second)
	hs := b.hosts("big", everyone)
	if len(hs) != 1 || hs[0].Room.Participants != 100 || len(hs[0].Room.Tracks) != 200 {
		t.Fatalf("hosts %+v", hs)
	}
	if got := b.rooms(everyone)["a"]["big"]; len(got.Tracks) != 200 || got.Participants != 100 {
		t.Fatalf("rooms: %+v", got)
	}
	if len(a.setRoom("bad\x00name", Room{})) != 0 {
		t.Fatal("a room name with NUL accepted")
	}
}

// Publishers and TrackSources answer where a room's tracks come from: the
// edge a participant publishes on, and the edges that carry copies.
func TestPublishersAndTrackSources(t *testing.T) {
	hosts := []RoomHost{
		{NodeID: "eu-1", Room: Room{Tracks: []Track{{SID: "TA", Participant: "alice", Kind: "audio"}, {SID: "TV", Participant: "alice", Kind: "video"}}}},
		{NodeID: "eu-2", Room: Room{Tracks: []Track{{SID: "TA", Participant: "alice", Origin: "eu-1"}}}},
		{NodeID: "us-1", Room: Room{Tracks: []Track{{SID: "TB", Participant: "bob"}, {SID: "TA", Participant: "alice", Origin: "eu-1"}, {SID: "TX", Participant: "zed", Origin: "gone-1"}}}},
	}
	region := func(id string) string { return id[:2] }
	alive := func(id string) bool { return id != "gone-1" }
	pubs := publishers(hosts, region)
	if len(pubs) != 2 || pubs[0].Identity != "alice" || pubs[0].NodeID != "eu-1" || pubs[0].Region != "eu" || len(pubs[0].Tracks) != 2 ||
		pubs[1].Identity != "bob" || pubs[1].NodeID != "us-1" {
		t.Fatalf("publishers %+v", pubs)
	}
	tests := []struct {
		sid  string
		want []string
	}{
		{"TA", []string{"eu-1", "eu-2", "us-1"}},
		{"TB", []string{"us-1"}},
		{"TX", nil}, // a copy of a dead origin's track is no source
		{"nope", nil},
	}
	for _, tc := range tests {
		var got []string
		for _, s := range trackSources(hosts, tc.sid, alive, region) {
			got = append(got, s.NodeID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("sources of %s = %v, want %v", tc.sid, got, tc.want)
		}
	}
}

// A node that restarted with a clock behind its old counter sees its old
// copy and must move past it, restating its rooms and deleting the old ones.
func TestDirectoryRefutesOwnStaleCopy(t *testing.T) {
	before := newDirectory("a", t0.Add(time.Hour))
	before.setRoom("old", Room{})
	b := newDirectory("b", t0)
	b.merge(before.snapshot(nil))

	after := newDirectory("a", t0) // restarted, clock went back
	after.setRoom("new", Room{})
	refute, _ := after.merge(b.snapshot(nil))
	if len(refute) != 2 {
		t.Fatalf("refute = %+v, want a restatement and a deletion", refute)
	}
	applyAll(b, refute)
	if got := hostIDs(b, "old"); len(got) != 0 {
		t.Fatalf("old room still hosted by %v", got)
	}
	if got := hostIDs(b, "new"); len(got) != 1 {
		t.Fatalf("new room hosted by %v", got)
	}
	// And a later snapshot of the restarted node is authoritative.
	after.setRoom("newer", Room{})
	b.merge(after.snapshot(nil))
	if len(hostIDs(b, "newer")) != 1 || len(hostIDs(b, "old")) != 0 {
		t.Fatal("snapshot after refutation not taken")
	}
	// Our own latest change coming back to us is no reason to restate.
	echo := after.setRoom("echo", Room{})
	if r, _ := after.apply(echo[0]); len(r) != 0 {
		t.Fatalf("an echo refuted: %+v", r)
	}
}

// merge reports the news, as deltas: what it took, and tombstones for what
// the remote's completeness removed. A second merge of the same is no news.
func TestDirectoryMergeNews(t *testing.T) {
	a := newDirectory("a", t0)
	b := newDirectory("b", t0)
	applyAll(b, a.setRoom("gone", Room{}))
	_ = a.removeRoom("gone")
	a.setRoom("new", Room{Participants: 2})
	_, news := b.merge(a.snapshot(nil))
	var names []string
	for _, d := range news {
		names = append(names, fmt.Sprintf("%s:%v", d.Name, d.Entry.Deleted))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"gone:true", "new:false"}) {
		t.Fatalf("news %v", names)
	}
	// Someone who had what b had is repaired by the news alone.
	c := newDirectory("c", t0)
	c.merge(a.snapshot(nil))
	c.apply(dirDelta{Origin: "a", Name: "gone", Entry: ventry[dirValue]{Ver: 1}})
	c.merge([]dirOrigin{{Origin: "a"}})
	applyAll(c, news)
	if len(hostIDs(c, "gone")) != 0 || len(hostIDs(c, "new")) != 1 {
		t.Fatalf("news did not repair a copy: gone %v, new %v", hostIDs(c, "gone"), hostIDs(c, "new"))
	}
	if _, again := b.merge(a.snapshot(nil)); len(again) != 0 {
		t.Fatalf("second merge: news %+v", again)
	}
}

// A full-state sync brings as news only what changed: the entries a copy
// has already (by broadcast or an earlier sync) are not restated, however
// many changes the origin made since to other entries. (Each piece of news
// is broadcast again by relayers into the other pool: restating a whole
// map at every push/pull cost an idle fleet more than its probes.)
func TestDirectoryMergeOnlyChanges(t *testing.T) {
	a := newDirectory("a", t0)
	b := newDirectory("b", t0)
	applyAll(b, a.setRoom("r1", Room{Participants: 1}))
	applyAll(b, a.setRoom("r2", Room{Participants: 2, Tracks: []Track{{SID: "T1", Participant: "p"}}}))
	if _, news := b.merge(a.snapshot(nil)); len(news) != 0 {
		t.Fatalf("a sync with an origin whose every change we had: news %+v", news)
	}
	a.setRoom("r3", Room{Participants: 3})
	_, news := b.merge(a.snapshot(nil))
	if len(news) != 1 || news[0].Name != "r3" {
		t.Fatalf("one room changed, news %+v", news)
	}
	// A third node that holds b's copy finds nothing new in a's.
	c := newDirectory("c", t0)
	c.merge(b.snapshot(nil))
	if _, news := c.merge(a.snapshot(nil)); len(news) != 0 {
		t.Fatalf("a copy through another node, then the origin's: news %+v", news)
	}
}

func TestRevocationSet(t *testing.T) {
	s := newRevocations()
	now := t0
	s.add(Revocation{Kind: RevokeParticipant, Room: "r", Subject: "alice", Until: now.Add(time.Minute)}, now)
	s.add(Revocation{Kind: RevokeToken, Subject: "jti", Until: now.Add(time.Minute)}, now)
	if s.add(Revocation{Kind: RevokeUser, Subject: "late", Until: now.Add(-time.Second)}, now) {
		t.Error("expired revocation accepted")
	}
	tests := []struct {
		name                  string
		room, identity, token string
		at                    time.Time
		want                  bool
	}{
		{"participant in room", "r", "alice", "", now, true},
		{"participant elsewhere", "r2", "alice", "", now, false},
		{"token", "", "bob", "jti", now, true},
		{"nothing", "r", "bob", "other", now, false},
		{"expired", "r", "alice", "", now.Add(2 * time.Minute), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.revoked(tc.room, tc.identity, tc.token, time.Time{}, tc.at); got != tc.want {
				t.Fatalf("revoked = %v, want %v", got, tc.want)
			}
		})
	}
	s.expire(now.Add(2 * time.Minute))
	if len(s.list(now)) != 0 {
		t.Fatal("expire kept expired entries")
	}
}

// A removal bounded by IssuedBefore bars the credentials issued up to it
// and lets a fresh invitation in; merging two removals keeps the later
// bound whatever the order, and an unbounded one wins over both.
func TestRevocationIssuedBefore(t *testing.T) {
	now := t0
	removedAt := now.Add(-time.Minute)
	later := now.Add(-10 * time.Second)
	bounded := func(before time.Time) Revocation {
		return Revocation{Kind: RevokeParticipant, Room: "r", Subject: "alice", Until: now.Add(time.Hour), IssuedBefore: before}
	}
	tests := []struct {
		name   string
		adds   []Revocation
		issued time.Time
		want   bool
	}{
		{"old token barred", []Revocation{bounded(removedAt)}, removedAt.Add(-time.Second), true},
		{"token of the removal second barred", []Revocation{bounded(removedAt)}, removedAt, true},
		{"fresh token admitted", []Revocation{bounded(removedAt)}, removedAt.Add(time.Second), false},
		{"unknown issue time barred", []Revocation{bounded(removedAt)}, time.Time{}, true},
		{"second removal extends the bound", []Revocation{bounded(removedAt), bounded(later)}, later.Add(-time.Second), true},
		{"order does not matter", []Revocation{bounded(later), bounded(removedAt)}, later.Add(-time.Second), true},
		{"unbounded wins", []Revocation{bounded(removedAt), bounded(time.Time{})}, now, true},
		{"unbounded wins in any order", []Revocation{bounded(time.Time{}), bounded(removedAt)}, now, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newRevocations()
			for _, r := range tc.adds {
				s.add(r, now)
			}
			if got := s.revoked("r", "alice", "", tc.issued, now); got != tc.want {
				t.Fatalf("revoked = %v, want %v", got, tc.want)
			}
			if tc.issued.IsZero() {
				return
			}
			// A copy rebuilt from the list answers the same.
			c := newRevocations()
			for _, r := range s.list(now) {
				c.add(r, now)
			}
			if got := c.revoked("r", "alice", "", tc.issued, now); got != tc.want {
				t.Fatalf("copy: revoked = %v, want %v", got, tc.want)
			}
		})
	}
}

// A removal of any identity a permanent link admitted bars the link: the
// prefix matches participants of the room only, bounded by the removal.
func TestRevocationPrefix(t *testing.T) {
	now := t0
	removedAt := now.Add(-time.Minute)
	s := newRevocations()
	s.add(Revocation{Kind: RevokeParticipant, Room: "r", Subject: "l_abc_x1y2", Until: now.Add(time.Hour), IssuedBefore: removedAt}, now)
	s.add(Revocation{Kind: RevokeUser, Subject: "l_zzz_1", Until: now.Add(time.Hour)}, now)
	for _, tc := range []struct {
		room, prefix string
		issued       time.Time
		want         bool
	}{
		{"r", "l_abc_", removedAt.Add(-time.Hour), true},
		{"r", "l_abc_", removedAt.Add(time.Second), false}, // a link issued after the removal
		{"other", "l_abc_", removedAt.Add(-time.Hour), false},
		{"r", "l_ab_", removedAt.Add(-time.Hour), false},
		{"r", "l_zzz_", time.Time{}, false}, // user revocations are not per room
		{"r", "", time.Time{}, false},
	} {
		if got := s.revokedPrefix(tc.room, tc.prefix, tc.issued, now); got != tc.want {
			t.Errorf("revokedPrefix(%q, %q, %v) = %v, want %v", tc.room, tc.prefix, tc.issued, got, tc.want)
		}
	}
}
