package gossip

import (
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func hostIDs(d *directory, room string) []string {
	var out []string
	for _, h := range d.hosts(room) {
		out = append(out, h.NodeID)
	}
	return out
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
			b.apply(a.set("r", Room{Tracks: []Track{{SID: "T1"}}}))
		}, "r", 1, 1},
		{"stale delta ignored", func(a, b *directory) {
			old := a.set("r", Room{Tracks: []Track{{SID: "T1"}}})
			newer := a.set("r", Room{Tracks: []Track{{SID: "T1"}, {SID: "T2"}}})
			b.apply(newer)
			b.apply(old)
		}, "r", 1, 2},
		{"delete after set", func(a, b *directory) {
			b.apply(a.set("r", Room{}))
			d, _ := a.remove("r")
			b.apply(d)
		}, "r", 0, 0},
		{"set replayed after delete stays deleted", func(a, b *directory) {
			s := a.set("r", Room{})
			b.apply(s)
			d, _ := a.remove("r")
			b.apply(d)
			b.apply(s)
		}, "r", 0, 0},
		{"missed delete repaired by snapshot from the origin", func(a, b *directory) {
			b.apply(a.set("r", Room{}))
			_, _ = a.remove("r") // b misses it
			b.merge(a.snapshot())
		}, "r", 0, 0},
		{"missed delete repaired by a relayed snapshot", func(a, b *directory) {
			c := newDirectory("c", t0)
			s := a.set("r", Room{})
			b.apply(s)
			c.apply(s)
			_, _ = a.remove("r")
			c.merge(a.snapshot()) // c is complete, b is not
			b.merge(c.snapshot())
		}, "r", 0, 0},
		{"old relayed snapshot does not resurrect", func(a, b *directory) {
			c := newDirectory("c", t0)
			c.merge(a.snapshot())
			s := a.set("r", Room{})
			c.apply(s)
			old := c.snapshot()
			b.merge(a.snapshot())
			d, _ := a.remove("r")
			b.apply(d)
			b.merge(old)
		}, "r", 0, 0},
		{"dropped node's stale copy refused", func(a, b *directory) {
			s := a.set("r", Room{})
			b.apply(s)
			b.drop("a", t0)
			b.apply(s)
			b.merge(a.snapshot())
		}, "r", 0, 0},
		{"revived node readmitted", func(a, b *directory) {
			b.apply(a.set("r", Room{}))
			b.drop("a", t0)
			b.revive("a")
			b.merge(a.snapshot())
		}, "r", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newDirectory("a", t0)
			b := newDirectory("b", t0)
			tc.run(a, b)
			hs := b.hosts(tc.room)
			if len(hs) != tc.want {
				t.Fatalf("hosts = %v, want %d", hostIDs(b, tc.room), tc.want)
			}
			if tc.want > 0 && len(hs[0].Room.Tracks) != tc.tracks {
				t.Fatalf("tracks = %v, want %d", hs[0].Room.Tracks, tc.tracks)
			}
		})
	}
}

// A node that restarted with a clock behind its old counter sees its old
// copy and must move past it, restating its rooms and deleting the old ones.
func TestDirectoryRefutesOwnStaleCopy(t *testing.T) {
	before := newDirectory("a", t0.Add(time.Hour))
	before.set("old", Room{})
	b := newDirectory("b", t0)
	b.merge(before.snapshot())

	after := newDirectory("a", t0) // restarted, clock went back
	after.set("new", Room{})
	refute := after.merge(b.snapshot())
	if len(refute) != 2 {
		t.Fatalf("refute = %+v, want a restatement and a deletion", refute)
	}
	for _, d := range refute {
		b.apply(d)
	}
	if got := hostIDs(b, "old"); len(got) != 0 {
		t.Fatalf("old room still hosted by %v", got)
	}
	if got := hostIDs(b, "new"); len(got) != 1 {
		t.Fatalf("new room hosted by %v", got)
	}
	// And a later snapshot of the restarted node is authoritative.
	after.set("newer", Room{})
	b.merge(after.snapshot())
	if len(hostIDs(b, "newer")) != 1 || len(hostIDs(b, "old")) != 0 {
		t.Fatal("snapshot after refutation not taken")
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
