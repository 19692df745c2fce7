package storetest

import (
	"context"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func testAccessLinks(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	sp, sp2 := f.space(c.ID, owner.ID), f.space(c.ID, owner.ID)
	r := f.room(c.ID, sp.ID, owner.ID)
	expires := f.now.Add(time.Hour)
	l := f.link(r, false, expires)

	got, err := f.s.GetAccessLink(f.ctx, c.ID, l.ID)
	f.must(err, "get link")
	f.eq(got, l, "get link")
	_, err = f.s.GetAccessLink(f.ctx, c.ID, "missing")
	f.is(err, store.ErrNotFound, "get missing link")

	f.is(f.s.CreateAccessLink(f.ctx, l), store.ErrConflict, "create link with a used id")
	for _, tc := range []struct {
		name string
		edit func(*store.AccessLink)
	}{
		{"room of another space", func(x *store.AccessLink) { x.SpaceID = sp2.ID }},
		{"missing room", func(x *store.AccessLink) { x.RoomID = "missing" }},
		{"missing space", func(x *store.AccessLink) { x.SpaceID = "missing" }},
	} {
		bad := l
		bad.ID = newID("lk")
		tc.edit(&bad)
		f.is(f.s.CreateAccessLink(f.ctx, bad), store.ErrNotFound, "create link to a "+tc.name)
		_, err = f.s.GetAccessLink(f.ctx, c.ID, bad.ID)
		f.is(err, store.ErrNotFound, "link of a failed create to a "+tc.name)
	}

	used := f.at()
	red, err := f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, used)
	f.must(err, "redeem")
	want := l
	want.UsedAt, want.Uses = &used, 1
	f.eq(red, want, "redeemed link")
	got, err = f.s.GetAccessLink(f.ctx, c.ID, l.ID)
	f.must(err, "get redeemed link")
	f.eq(got, want, "stored redeemed link")

	_, err = f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, f.at())
	f.is(err, store.ErrUsed, "redeem twice")
	_, err = f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, expires.Add(time.Millisecond))
	f.is(err, store.ErrExpired, "redeem a spent link after expiry")
	_, err = f.s.RedeemAccessLink(f.ctx, c.ID, "missing", f.at())
	f.is(err, store.ErrNotFound, "redeem a missing link")
	got, err = f.s.GetAccessLink(f.ctx, c.ID, l.ID)
	f.must(err, "get link after refusals")
	f.eq(got, want, "refused redemptions change nothing")
}

func testAccessLinkPermanent(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	r := f.room(c.ID, f.space(c.ID, owner.ID).ID, owner.ID)
	expires := f.now.Add(time.Hour)
	l := f.link(r, true, expires)

	for i := 1; i <= 5; i++ {
		at := f.at()
		red, err := f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, at)
		f.must(err, "redeem permanent link")
		if red.Uses != i || red.UsedAt == nil || !red.UsedAt.Equal(at) {
			f.t.Fatalf("use %d: uses %d, used at %v", i, red.Uses, red.UsedAt)
		}
	}
	const n = 50
	at := f.at()
	errs := race(n, func(int) error {
		_, err := f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, at)
		return err
	})
	if wins, _ := f.tally(errs, nil); wins != n {
		f.t.Fatalf("%d of %d concurrent uses of a permanent link succeeded", wins, n)
	}
	got, err := f.s.GetAccessLink(f.ctx, c.ID, l.ID)
	f.must(err, "get permanent link")
	if got.Uses != 5+n {
		f.t.Fatalf("uses %d, want %d", got.Uses, 5+n)
	}
	_, err = f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, expires)
	f.is(err, store.ErrExpired, "redeem a permanent link at expiry")
}

func testAccessLinkExpired(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	r := f.room(c.ID, f.space(c.ID, owner.ID).ID, owner.ID)
	cases := []struct {
		name      string
		permanent bool
		expires   time.Time
	}{
		{"single-use past expiry", false, f.now.Add(-time.Millisecond)},
		{"single-use at expiry", false, f.now},
		{"permanent past expiry", true, f.now.Add(-time.Hour)},
		{"permanent at expiry", true, f.now},
	}
	for _, tc := range cases {
		l := f.link(r, tc.permanent, tc.expires)
		_, err := f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, f.now)
		f.is(err, store.ErrExpired, tc.name)
		got, err := f.s.GetAccessLink(f.ctx, c.ID, l.ID)
		f.must(err, tc.name)
		if got.Uses != 0 || got.UsedAt != nil {
			f.t.Fatalf("%s: expired link was used: %+v", tc.name, got)
		}
	}
}

func testAccessLinkConcurrent(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	r := f.room(c.ID, f.space(c.ID, owner.ID).ID, owner.ID)
	l := f.link(r, false, f.now.Add(time.Hour))
	at := f.at()

	errs := race(Concurrent, func(int) error {
		_, err := f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, at)
		return err
	})
	wins, losses := f.tally(errs, store.ErrUsed)
	if wins != 1 || losses != Concurrent-1 {
		f.t.Fatalf("%d redemptions won, %d got ErrUsed; want 1 and %d", wins, losses, Concurrent-1)
	}
	got, err := f.s.GetAccessLink(f.ctx, c.ID, l.ID)
	f.must(err, "get link")
	if got.Uses != 1 {
		f.t.Fatalf("uses %d after one winning redemption", got.Uses)
	}
}

// testCanceledContext: an operation whose context is already canceled fails
// and changes nothing.
func testCanceledContext(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	sp := f.space(c.ID, owner.ID)
	r := f.room(c.ID, sp.ID, owner.ID)
	l := f.link(r, false, f.now.Add(time.Hour))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()

	_, err := f.s.RedeemAccessLink(ctx, c.ID, l.ID, f.at())
	if err == nil {
		f.t.Fatal("redeem with a canceled context succeeded")
	}
	got, err := f.s.GetAccessLink(f.ctx, c.ID, l.ID)
	f.must(err, "get link")
	if got.Uses != 0 || got.UsedAt != nil {
		f.t.Fatalf("a canceled redemption spent the link: %+v", got)
	}
	nr := r
	nr.ID, nr.Alias = store.RoomID(newID("rm")), newID("a")
	if err := f.s.CreateRoom(ctx, nr); err == nil {
		f.t.Fatal("create room with a canceled context succeeded")
	}
	f.is(second(f.s.GetRoomByAlias(f.ctx, nr.Alias)), store.ErrNotFound, "room of a canceled create")
	_, err = f.s.RedeemAccessLink(f.ctx, c.ID, l.ID, f.at())
	f.must(err, "redeem afterwards")
}
