package storetest

import (
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// waiter stores a waiting entry of room, created at the fixture's next
// time and present for presence.
func (f *fx) waiter(r store.Room, edit func(*store.WaitingEntry)) store.WaitingEntry {
	f.t.Helper()
	at := f.at()
	e := store.WaitingEntry{ID: newID("w"), ClientID: r.ClientID, RoomID: r.ID, TicketHash: newID("th"),
		Identity: "g_" + newID("i"), Name: "Guest", Role: "participant", State: store.WaitingStateWaiting,
		CreatedAt: at, SeenAt: at, ExpiresAt: at.Add(time.Minute)}
	if edit != nil {
		edit(&e)
	}
	f.must(f.s.CreateWaiting(f.ctx, e), "create waiting entry")
	return e
}

func waitingIDs(es []store.WaitingEntry) string {
	return ids(es, func(e store.WaitingEntry) string { return e.ID })
}

// testWaiting: entries are found by ticket, listed while they wait (oldest
// first, not once expired or decided), kept by touches, decided once,
// removed; refusals are found by link and by user until they expire.
func testWaiting(f *fx) {
	w := f.world()
	c := w.client.ID
	other := f.world()

	_, err := f.s.GetWaitingByTicket(f.ctx, "nosuchhash")
	f.is(err, store.ErrNotFound, "get by an unknown ticket")
	foreign := store.WaitingEntry{ID: newID("w"), ClientID: c, RoomID: other.room.ID, TicketHash: newID("th"), State: store.WaitingStateWaiting,
		CreatedAt: f.at(), SeenAt: f.now, ExpiresAt: f.now.Add(time.Minute)}
	f.is(f.s.CreateWaiting(f.ctx, foreign), store.ErrNotFound, "an entry in another client's room")

	full := f.waiter(w.room, func(e *store.WaitingEntry) {
		e.Identity, e.Name, e.Role, e.UserID, e.Family = "u_"+string(w.member.ID), "Member", "participant", w.member.ID, "fam"
		e.Until = f.now.Add(2 * time.Hour)
	})
	got, err := f.s.GetWaitingByTicket(f.ctx, full.TicketHash)
	f.must(err, "get by ticket")
	f.eq(got, full, "entry by ticket")
	got, err = f.s.GetWaiting(f.ctx, c, w.room.ID, full.ID)
	f.must(err, "get")
	f.eq(got, full, "entry")
	_, err = f.s.GetWaiting(f.ctx, other.client.ID, w.room.ID, full.ID)
	f.is(err, store.ErrNotFound, "get as another client")
	dup := full
	dup.ID = newID("w")
	f.is(f.s.CreateWaiting(f.ctx, dup), store.ErrConflict, "a second entry with the same ticket hash")

	linked := f.waiter(w.room, func(e *store.WaitingEntry) {
		e.Identity, e.LinkID, e.Issued, e.Until = "l_"+w.link.ID, w.link.ID, f.now, w.link.ExpiresAt
	})
	short := f.waiter(w.room, func(e *store.WaitingEntry) { e.ExpiresAt = e.CreatedAt.Add(time.Second) })
	f.waiter(other.room, nil)

	list, err := f.s.ListWaiting(f.ctx, c, w.room.ID, f.now)
	f.must(err, "list")
	f.eq(waitingIDs(list), waitingIDs([]store.WaitingEntry{full, linked, short}), "waiting, oldest first")
	later := short.CreatedAt.Add(2 * time.Second)
	list, err = f.s.ListWaiting(f.ctx, c, w.room.ID, later)
	f.must(err, "list later")
	f.eq(waitingIDs(list), waitingIDs([]store.WaitingEntry{full, linked}), "an expired entry is not listed")
	list, err = f.s.ListWaiting(f.ctx, other.client.ID, w.room.ID, f.now)
	f.must(err, "list as another client")
	f.eq(len(list), 0, "another client's list")

	// Touches keep an entry; an expired one stays gone.
	f.must(f.s.TouchWaiting(f.ctx, c, full.ID, later, later.Add(time.Hour)), "touch")
	got, _ = f.s.GetWaiting(f.ctx, c, w.room.ID, full.ID)
	f.eq([]time.Time{got.SeenAt, got.ExpiresAt}, []time.Time{later, later.Add(time.Hour)}, "touched times")
	f.is(f.s.TouchWaiting(f.ctx, c, short.ID, later, later.Add(time.Hour)), store.ErrNotFound, "touch an expired entry")
	f.is(f.s.TouchWaiting(f.ctx, other.client.ID, full.ID, later, later.Add(time.Hour)), store.ErrNotFound, "touch as another client")

	// One decision: the named entry only, once.
	at := later.Add(time.Second)
	admit := store.WaitingDecision{ClientID: c, RoomID: w.room.ID, IDs: []string{full.ID}, State: store.WaitingStateAdmitted, At: at, ExpiresAt: at.Add(10 * time.Minute)}
	moved, err := f.s.DecideWaiting(f.ctx, admit)
	f.must(err, "admit")
	f.eq(waitingIDs(moved), waitingIDs([]store.WaitingEntry{full}), "admitted")
	if m := moved[0]; m.State != store.WaitingStateAdmitted || !m.DecidedAt.Equal(at) || !m.ExpiresAt.Equal(at.Add(10*time.Minute)) {
		f.t.Fatalf("admitted entry %+v", m)
	}
	moved, err = f.s.DecideWaiting(f.ctx, admit)
	f.must(err, "admit again")
	f.eq(len(moved), 0, "an entry is decided once")
	f.is(f.s.TouchWaiting(f.ctx, c, full.ID, at, at.Add(time.Hour)), store.ErrNotFound, "touch a decided entry")
	wrongRoom := admit
	wrongRoom.RoomID, wrongRoom.IDs = other.room.ID, []string{linked.ID}
	moved, err = f.s.DecideWaiting(f.ctx, wrongRoom)
	f.must(err, "decide in another room")
	f.eq(len(moved), 0, "an entry of another room")

	// Every waiting entry at once; the refusal is kept until it expires.
	extra := f.waiter(w.room, func(e *store.WaitingEntry) { e.UserID = w.owner.ID })
	refuse := store.WaitingDecision{ClientID: c, RoomID: w.room.ID, State: store.WaitingStateRefused, Reason: "not today",
		At: at.Add(time.Second), ExpiresAt: at.Add(time.Hour)}
	moved, err = f.s.DecideWaiting(f.ctx, refuse)
	f.must(err, "refuse all")
	f.eq(waitingIDs(moved), waitingIDs([]store.WaitingEntry{linked, extra}), "refused, oldest first")
	list, _ = f.s.ListWaiting(f.ctx, c, w.room.ID, refuse.At)
	f.eq(len(list), 0, "nobody waits after refuse all")

	r, err := f.s.FindRefusedWaiting(f.ctx, c, w.room.ID, w.link.ID, "", refuse.At)
	f.must(err, "refusal by link")
	if r.ID != linked.ID || r.Reason != "not today" {
		f.t.Fatalf("refusal by link: %+v", r)
	}
	r, err = f.s.FindRefusedWaiting(f.ctx, c, w.room.ID, "", w.owner.ID, refuse.At)
	f.must(err, "refusal by user")
	f.eq(r.ID, extra.ID, "refusal by user")
	r, err = f.s.FindRefusedWaiting(f.ctx, c, w.room.ID, w.link.ID, w.owner.ID, refuse.At)
	f.must(err, "refusal by link or user")
	if r.ID != extra.ID && r.ID != linked.ID {
		f.t.Fatalf("refusal by link or user: %+v", r)
	}
	_, err = f.s.FindRefusedWaiting(f.ctx, c, w.room.ID, "", w.member.ID, refuse.At)
	f.is(err, store.ErrNotFound, "an admitted user is not refused")
	_, err = f.s.FindRefusedWaiting(f.ctx, c, other.room.ID, w.link.ID, "", refuse.At)
	f.is(err, store.ErrNotFound, "refused in another room")
	_, err = f.s.FindRefusedWaiting(f.ctx, c, w.room.ID, w.link.ID, "", refuse.ExpiresAt)
	f.is(err, store.ErrNotFound, "an expired refusal")

	// A page that leaves: gone.
	gone := f.waiter(w.room, nil)
	f.must(f.s.DeleteWaiting(f.ctx, c, gone.ID), "delete")
	f.is(f.s.DeleteWaiting(f.ctx, c, gone.ID), store.ErrNotFound, "delete twice")
	_, err = f.s.GetWaitingByTicket(f.ctx, gone.TicketHash)
	f.is(err, store.ErrNotFound, "a deleted entry by ticket")

	// Prune forgets what expired, whatever its state.
	n, err := f.s.PruneWaiting(f.ctx, refuse.ExpiresAt)
	f.must(err, "prune")
	if n < 3 {
		f.t.Fatalf("pruned %d entries, want the expired short, admitted and refused ones", n)
	}
	for _, e := range []store.WaitingEntry{short, full, linked, extra} {
		_, err := f.s.GetWaitingByTicket(f.ctx, e.TicketHash)
		f.is(err, store.ErrNotFound, "a pruned entry")
	}
}

// testWaitingConcurrentDecisions: of moderators admitting and refusing
// one entry at once, exactly one decides it.
func testWaitingConcurrentDecisions(f *fx) {
	w := f.world()
	e := f.waiter(w.room, nil)
	at := f.at()
	won := make([]bool, Concurrent)
	errs := race(Concurrent, func(i int) error {
		d := store.WaitingDecision{ClientID: w.client.ID, RoomID: w.room.ID, IDs: []string{e.ID}, State: store.WaitingStateAdmitted,
			At: at, ExpiresAt: at.Add(time.Minute)}
		if i%2 == 1 {
			d.State = store.WaitingStateRefused
		}
		moved, err := f.s.DecideWaiting(f.ctx, d)
		won[i] = len(moved) == 1
		return err
	})
	f.tally(errs, nil)
	winners := 0
	for _, ok := range won {
		if ok {
			winners++
		}
	}
	f.eq(winners, 1, "deciders that moved the entry")
}

// testWaitingChanges: entering, deciding, leaving and an expiry brought
// forward are changes.
func testWaitingChanges(f *fx) {
	w := f.world()
	c := w.client.ID
	l := f.listen(f.s)
	var e store.WaitingEntry
	for deadline := time.Now().Add(5 * time.Second); ; {
		e = f.waiter(w.room, nil)
		if l.has(store.TopicWaiting) {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatal("Listen heard nothing")
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	at := e.CreatedAt
	steps := []struct {
		name string
		do   func() error
	}{
		{"enter", func() error { e = f.waiter(w.room, nil); at = e.CreatedAt; return nil }},
		{"bring the expiry forward", func() error { return f.s.TouchWaiting(f.ctx, c, e.ID, at, at.Add(time.Second)) }},
		{"decide", func() error {
			_, err := f.s.DecideWaiting(f.ctx, store.WaitingDecision{ClientID: c, RoomID: w.room.ID, IDs: []string{e.ID},
				State: store.WaitingStateAdmitted, At: at, ExpiresAt: at.Add(time.Minute)})
			return err
		}},
		{"leave", func() error { return f.s.DeleteWaiting(f.ctx, c, e.ID) }},
	}
	for _, st := range steps {
		l.reset()
		f.must(st.do(), st.name)
		f.heard(l, store.TopicWaiting, st.name)
	}
}
