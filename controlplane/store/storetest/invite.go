package storetest

import (
	"slices"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func testInvites(f *fx) {
	c := f.client()
	owner, invitee, late := f.user(c.ID), f.user(c.ID), f.user(c.ID)
	sp, sp2 := f.space(c.ID, owner.ID), f.space(c.ID, owner.ID)
	expires := f.now.Add(time.Hour)
	inv := f.invite(c.ID, sp.ID, owner.ID, store.SpaceRoleModerator, &expires)

	got, err := f.s.GetInvite(f.ctx, c.ID, sp.ID, inv.ID)
	f.must(err, "get invite")
	f.eq(got, inv, "get invite")
	_, err = f.s.GetInvite(f.ctx, c.ID, sp2.ID, inv.ID)
	f.is(err, store.ErrNotFound, "get invite through another space")
	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp2.ID, inv.ID, invitee.ID, f.at())
	f.is(err, store.ErrNotFound, "activate invite through another space")

	f.is(f.s.CreateInvite(f.ctx, inv), store.ErrConflict, "create invite with a used id")
	orphan := inv
	orphan.ID, orphan.SpaceID = newID("inv"), "missing"
	f.is(f.s.CreateInvite(f.ctx, orphan), store.ErrNotFound, "create invite into a missing space")

	// A user who is not of the client cannot spend it.
	stranger := f.user(f.client().ID)
	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, stranger.ID, f.at())
	f.is(err, store.ErrNotFound, "activate by a user of another client")

	used := f.at()
	act, err := f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, invitee.ID, used)
	f.must(err, "activate invite")
	want := inv
	want.UsedBy, want.UsedAt = invitee.ID, &used
	f.eq(act, want, "activated invite")
	got, err = f.s.GetInvite(f.ctx, c.ID, sp.ID, inv.ID)
	f.must(err, "get activated invite")
	f.eq(got, want, "stored activated invite")
	m, err := f.s.GetSpaceMember(f.ctx, c.ID, sp.ID, invitee.ID)
	f.must(err, "membership from the invite")
	f.eq(m, store.SpaceMember{SpaceID: sp.ID, UserID: invitee.ID, Role: store.SpaceRoleModerator, CreatedAt: used}, "membership")
	owned, err := f.s.GetSpaceMember(f.ctx, c.ID, sp.ID, owner.ID)
	f.must(err, "owner membership")
	members, err := f.s.ListSpaceMembers(f.ctx, c.ID, sp.ID)
	f.must(err, "list members")
	f.eq(members, []store.SpaceMember{owned, m}, "members, oldest first")

	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, invitee.ID, f.at())
	f.is(err, store.ErrUsed, "activate twice by the same user")
	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, late.ID, f.at())
	f.is(err, store.ErrUsed, "activate a spent invite")
	_, err = f.s.GetSpaceMember(f.ctx, c.ID, sp.ID, late.ID)
	f.is(err, store.ErrNotFound, "membership from a refused activation")
	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, late.ID, expires.Add(time.Second))
	f.is(err, store.ErrExpired, "activate a spent invite after expiry")
	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, "missing", late.ID, f.at())
	f.is(err, store.ErrNotFound, "activate a missing invite")

	for _, tc := range []struct {
		name    string
		expires time.Time
	}{
		{"past expiry", f.now.Add(-time.Millisecond)},
		{"at expiry", f.now},
	} {
		e := f.invite(c.ID, sp.ID, owner.ID, store.SpaceRoleUser, &tc.expires)
		_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, e.ID, late.ID, f.now)
		f.is(err, store.ErrExpired, tc.name)
		got, err = f.s.GetInvite(f.ctx, c.ID, sp.ID, e.ID)
		f.must(err, tc.name)
		if got.UsedAt != nil || got.UsedBy != "" {
			f.t.Fatalf("%s: expired invite was spent: %+v", tc.name, got)
		}
	}

	forever := f.invite(c.ID, sp.ID, owner.ID, store.SpaceRoleUser, nil)
	_, err = f.s.ActivateInvite(f.ctx, c.ID, sp.ID, forever.ID, late.ID, f.now.AddDate(10, 0, 0))
	f.must(err, "activate an invite without expiry years later")
}

func testInviteNeverLowersRole(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	cases := []struct {
		name   string
		before store.SpaceRole // "" : not a member
		invite store.SpaceRole
		want   store.SpaceRole
	}{
		{"newcomer gets the role", "", store.SpaceRoleUser, store.SpaceRoleUser},
		{"user is raised to moderator", store.SpaceRoleUser, store.SpaceRoleModerator, store.SpaceRoleModerator},
		{"moderator keeps moderator", store.SpaceRoleModerator, store.SpaceRoleUser, store.SpaceRoleModerator},
		{"owner keeps owner", store.SpaceRoleOwner, store.SpaceRoleModerator, store.SpaceRoleOwner},
	}
	for _, tc := range cases {
		sp := f.space(c.ID, owner.ID)
		u := owner
		if tc.before != store.SpaceRoleOwner {
			u = f.user(c.ID)
		}
		if tc.before == store.SpaceRoleUser || tc.before == store.SpaceRoleModerator {
			first := f.invite(c.ID, sp.ID, owner.ID, tc.before, nil)
			_, err := f.s.ActivateInvite(f.ctx, c.ID, sp.ID, first.ID, u.ID, f.at())
			f.must(err, tc.name+": first invite")
		}
		inv := f.invite(c.ID, sp.ID, owner.ID, tc.invite, nil)
		_, err := f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, u.ID, f.at())
		f.must(err, tc.name)
		m, err := f.s.GetSpaceMember(f.ctx, c.ID, sp.ID, u.ID)
		f.must(err, tc.name)
		if m.Role != tc.want {
			f.t.Fatalf("%s: role %s, want %s", tc.name, m.Role, tc.want)
		}
		if !strings.HasPrefix(string(m.Role), "role_space_") {
			f.t.Fatalf("%s: odd role %q", tc.name, m.Role)
		}
	}
}

func testInviteConcurrent(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	sp := f.space(c.ID, owner.ID)
	users := make([]store.User, Concurrent)
	for i := range users {
		users[i] = f.user(c.ID)
	}
	inv := f.invite(c.ID, sp.ID, owner.ID, store.SpaceRoleUser, ptr(f.now.Add(time.Hour)))
	at := f.at()

	errs := race(Concurrent, func(i int) error {
		_, err := f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, users[i].ID, at)
		return err
	})
	wins, losses := f.tally(errs, store.ErrUsed)
	if wins != 1 || losses != Concurrent-1 {
		f.t.Fatalf("%d activations won, %d got ErrUsed; want 1 and %d", wins, losses, Concurrent-1)
	}
	winner := users[slices.IndexFunc(errs, func(e error) bool { return e == nil })]
	got, err := f.s.GetInvite(f.ctx, c.ID, sp.ID, inv.ID)
	f.must(err, "get invite")
	if got.UsedBy != winner.ID {
		f.t.Fatalf("invite used by %s, winner was %s", got.UsedBy, winner.ID)
	}
	members, err := f.s.ListSpaceMembers(f.ctx, c.ID, sp.ID)
	f.must(err, "list members")
	if len(members) != 2 {
		f.t.Fatalf("%d members after one activation, want 2 (owner and winner)", len(members))
	}
}
