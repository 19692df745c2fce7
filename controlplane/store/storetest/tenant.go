package storetest

import (
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// world is one client with one of everything.
type world struct {
	client   store.Client
	owner    store.User
	member   store.User // joined the space through an invite, has a room role
	token    store.PersonalToken
	space    store.Space
	room     store.Room
	used     store.Invite // activated by member
	invite   store.Invite // unspent
	link     store.AccessLink
	permLink store.AccessLink
	webhook  store.Webhook
}

func (f *fx) world() world {
	f.t.Helper()
	var w world
	w.client = f.client()
	c := w.client.ID
	w.owner, w.member = f.user(c), f.user(c)
	w.token = f.token(c, w.member.ID)
	w.space = f.space(c, w.owner.ID)
	w.room = f.room(c, w.space.ID, w.owner.ID)
	w.used = f.invite(c, w.space.ID, w.owner.ID, store.SpaceRoleUser, nil)
	_, err := f.s.ActivateInvite(f.ctx, c, w.space.ID, w.used.ID, w.member.ID, f.at())
	f.must(err, "activate invite")
	f.must(f.s.SetRoomMember(f.ctx, c, store.RoomMember{RoomID: w.room.ID, UserID: w.member.ID,
		Role: store.RoomRoleModerator, CreatedAt: f.at()}), "set room member")
	w.invite = f.invite(c, w.space.ID, w.owner.ID, store.SpaceRoleModerator, ptr(f.now.Add(time.Hour)))
	w.link = f.link(w.room, false, f.now.Add(time.Hour))
	w.permLink = f.link(w.room, true, f.now.Add(time.Hour))
	w.webhook = f.webhook(c, w.space.ID)
	return w
}

// snapshot is everything a world's client can read about it.
type snapshot struct {
	Client                             store.Client
	Owner, Member                      store.User
	Tokens                             []store.PersonalToken
	OwnerSpaces, MemberSpaces          []store.Space
	Space                              store.Space
	SpaceMembers                       []store.SpaceMember
	Used, Invite                       store.Invite
	Rooms                              []store.Room
	Room                               store.Room
	RoomMembers                        []store.RoomMember
	Link, PermLink                     store.AccessLink
	Webhook                            store.Webhook
	OwnerTotal, MemberTotal, RoomTotal int
}

func (f *fx) snapshot(w world) snapshot {
	f.t.Helper()
	var s snapshot
	var err error
	c := w.client.ID
	steps := []func() error{
		func() error { s.Client, err = f.s.GetClient(f.ctx, c); return err },
		func() error { s.Owner, err = f.s.GetUser(f.ctx, c, w.owner.ID); return err },
		func() error { s.Member, err = f.s.GetUser(f.ctx, c, w.member.ID); return err },
		func() error { s.Tokens, err = f.s.ListPersonalTokens(f.ctx, c, w.member.ID); return err },
		func() error {
			s.OwnerSpaces, s.OwnerTotal, err = f.s.ListSpacesForUser(f.ctx, c, w.owner.ID, store.Page{})
			return err
		},
		func() error {
			s.MemberSpaces, s.MemberTotal, err = f.s.ListSpacesForUser(f.ctx, c, w.member.ID, store.Page{})
			return err
		},
		func() error { s.Space, err = f.s.GetSpace(f.ctx, c, w.space.ID); return err },
		func() error { s.SpaceMembers, err = f.s.ListSpaceMembers(f.ctx, c, w.space.ID); return err },
		func() error { s.Used, err = f.s.GetInvite(f.ctx, c, w.space.ID, w.used.ID); return err },
		func() error { s.Invite, err = f.s.GetInvite(f.ctx, c, w.space.ID, w.invite.ID); return err },
		func() error {
			s.Rooms, s.RoomTotal, err = f.s.ListRooms(f.ctx, c, w.space.ID, store.Page{})
			return err
		},
		func() error { s.Room, err = f.s.GetRoom(f.ctx, c, w.space.ID, w.room.ID); return err },
		func() error {
			s.RoomMembers, _, err = f.s.ListRoomMembers(f.ctx, c, w.room.ID, store.Page{})
			return err
		},
		func() error { s.Link, err = f.s.GetAccessLink(f.ctx, c, w.link.ID); return err },
		func() error { s.PermLink, err = f.s.GetAccessLink(f.ctx, c, w.permLink.ID); return err },
		func() error { s.Webhook, err = f.s.GetWebhook(f.ctx, c, w.space.ID); return err },
	}
	for i, step := range steps {
		f.must(step(), "snapshot step "+string(rune('a'+i)))
	}
	return s
}

// gone checks that every entity of w's client answers ErrNotFound.
func (f *fx) gone(w world, what string) {
	f.t.Helper()
	c := w.client.ID
	checks := []struct {
		name string
		err  error
	}{
		{"user", second(f.s.GetUser(f.ctx, c, w.owner.ID))},
		{"user by e-mail", second(f.s.GetUserByEmail(f.ctx, c, w.owner.Email))},
		{"token by hash", second(f.s.GetPersonalTokenByHash(f.ctx, w.token.TokenHash))},
		{"space", second(f.s.GetSpace(f.ctx, c, w.space.ID))},
		{"space member", second(f.s.GetSpaceMember(f.ctx, c, w.space.ID, w.member.ID))},
		{"invite", second(f.s.GetInvite(f.ctx, c, w.space.ID, w.invite.ID))},
		{"room", second(f.s.GetRoom(f.ctx, c, w.space.ID, w.room.ID))},
		{"room by alias", second(f.s.GetRoomByAlias(f.ctx, w.room.Alias))},
		{"room member", second(f.s.GetRoomMember(f.ctx, c, w.room.ID, w.member.ID))},
		{"link", second(f.s.GetAccessLink(f.ctx, c, w.link.ID))},
		{"webhook", second(f.s.GetWebhook(f.ctx, c, w.space.ID))},
	}
	for _, ch := range checks {
		f.is(ch.err, store.ErrNotFound, what+": "+ch.name)
	}
}

func second[T any](_ T, err error) error { return err }

func testCascadeSpace(f *fx) {
	w, keep := f.world(), f.world()
	c := w.client.ID
	other := f.space(c, w.owner.ID)
	otherRoom := f.room(c, other.ID, w.owner.ID)

	f.must(f.s.DeleteSpace(f.ctx, c, w.space.ID), "delete space")
	for _, ch := range []struct {
		name string
		err  error
	}{
		{"room", second(f.s.GetRoom(f.ctx, c, w.space.ID, w.room.ID))},
		{"room by alias", second(f.s.GetRoomByAlias(f.ctx, w.room.Alias))},
		{"room role", second(f.s.GetRoomMember(f.ctx, c, w.room.ID, w.member.ID))},
		{"owner membership", second(f.s.GetSpaceMember(f.ctx, c, w.space.ID, w.owner.ID))},
		{"member membership", second(f.s.GetSpaceMember(f.ctx, c, w.space.ID, w.member.ID))},
		{"invite", second(f.s.GetInvite(f.ctx, c, w.space.ID, w.invite.ID))},
		{"used invite", second(f.s.GetInvite(f.ctx, c, w.space.ID, w.used.ID))},
		{"link", second(f.s.GetAccessLink(f.ctx, c, w.link.ID))},
		{"permanent link", second(f.s.GetAccessLink(f.ctx, c, w.permLink.ID))},
		{"webhook", second(f.s.GetWebhook(f.ctx, c, w.space.ID))},
	} {
		f.is(ch.err, store.ErrNotFound, "after space delete: "+ch.name)
	}
	_, err := f.s.GetUser(f.ctx, c, w.member.ID)
	f.must(err, "members stay users")
	_, err = f.s.GetRoom(f.ctx, c, other.ID, otherRoom.ID)
	f.must(err, "rooms of other spaces stay")
	spaces, total, err := f.s.ListSpacesForUser(f.ctx, c, w.member.ID, store.Page{})
	f.must(err, "list member's spaces")
	if total != 0 || len(spaces) != 0 {
		f.t.Fatalf("member still lists %d spaces", total)
	}
	f.snapshot(keep) // the other client is untouched
}

func testCascadeRoom(f *fx) {
	w := f.world()
	c := w.client.ID
	f.must(f.s.DeleteRoom(f.ctx, c, w.space.ID, w.room.ID), "delete room")
	f.is(second(f.s.GetRoomMember(f.ctx, c, w.room.ID, w.owner.ID)), store.ErrNotFound, "owner role after room delete")
	f.is(second(f.s.GetRoomMember(f.ctx, c, w.room.ID, w.member.ID)), store.ErrNotFound, "member role after room delete")
	f.is(second(f.s.GetAccessLink(f.ctx, c, w.link.ID)), store.ErrNotFound, "link after room delete")
	f.is(second(f.s.GetAccessLink(f.ctx, c, w.permLink.ID)), store.ErrNotFound, "permanent link after room delete")
	f.must(second(f.s.GetSpace(f.ctx, c, w.space.ID)), "space stays")
	f.must(second(f.s.GetWebhook(f.ctx, c, w.space.ID)), "webhook stays")
	f.must(second(f.s.GetInvite(f.ctx, c, w.space.ID, w.invite.ID)), "invite stays")
}

func testCascadeUser(f *fx) {
	w := f.world()
	c := w.client.ID
	other := f.token(c, w.owner.ID)
	f.must(f.s.DeleteUser(f.ctx, c, w.member.ID), "delete user")
	f.is(second(f.s.GetSpaceMember(f.ctx, c, w.space.ID, w.member.ID)), store.ErrNotFound, "membership after user delete")
	f.is(second(f.s.GetRoomMember(f.ctx, c, w.room.ID, w.member.ID)), store.ErrNotFound, "room role after user delete")
	f.is(second(f.s.GetPersonalTokenByHash(f.ctx, w.token.TokenHash)), store.ErrNotFound, "token after user delete")
	f.is(second(f.s.ListPersonalTokens(f.ctx, c, w.member.ID)), store.ErrNotFound, "token list after user delete")
	_, _, err := f.s.ListSpacesForUser(f.ctx, c, w.member.ID, store.Page{})
	f.is(err, store.ErrNotFound, "space list after user delete")
	f.must(second(f.s.GetPersonalTokenByHash(f.ctx, other.TokenHash)), "other user's token stays")
	f.must(second(f.s.GetSpace(f.ctx, c, w.space.ID)), "space stays")
	f.must(second(f.s.GetRoom(f.ctx, c, w.space.ID, w.room.ID)), "room stays")
	members, err := f.s.ListSpaceMembers(f.ctx, c, w.space.ID)
	f.must(err, "list members")
	if len(members) != 1 || members[0].UserID != w.owner.ID {
		f.t.Fatalf("members after user delete: %+v", members)
	}
}

func testCascadeClient(f *fx) {
	w, keep := f.world(), f.world()
	key := store.SigningKey{ID: newID("kid"), Secret: []byte("k"), CreatedAt: f.at()}
	f.must(f.s.AddSigningKey(f.ctx, key), "add signing key")
	before := f.snapshot(keep)

	f.must(f.s.DeleteClient(f.ctx, w.client.ID), "delete client")
	f.gone(w, "after client delete")
	f.is(second(f.s.GetClient(f.ctx, w.client.ID)), store.ErrNotFound, "deleted client")
	f.eq(f.snapshot(keep), before, "other client after delete")
	keys, err := f.s.ListSigningKeys(f.ctx)
	f.must(err, "list keys")
	if len(keys) != 1 {
		f.t.Fatalf("%d signing keys after client delete, want 1", len(keys))
	}
}

// testTenantIsolation calls every client-scoped method with another client's
// id on an existing entity (and every create with a parent of another
// client): each answers ErrNotFound, and nothing changes on either side.
func testTenantIsolation(f *fx) {
	a, b := f.world(), f.world()
	B := b.client.ID
	A := a.client.ID
	stranger := b.member.ID // a user of B
	beforeA, beforeB := f.snapshot(a), f.snapshot(b)
	at := f.at()

	calls := []struct {
		name string
		call func() error
	}{
		{"GetUser", func() error { return second(f.s.GetUser(f.ctx, B, a.owner.ID)) }},
		{"GetUserByEmail", func() error { return second(f.s.GetUserByEmail(f.ctx, B, a.owner.Email)) }},
		{"DeleteUser", func() error { return f.s.DeleteUser(f.ctx, B, a.owner.ID) }},
		{"CreatePersonalToken", func() error {
			return f.s.CreatePersonalToken(f.ctx, store.PersonalToken{ID: newID("pt"), ClientID: B, UserID: a.member.ID, TokenHash: newID("h"), CreatedAt: at})
		}},
		{"CreatePersonalToken for a foreign user", func() error {
			return f.s.CreatePersonalToken(f.ctx, store.PersonalToken{ID: newID("pt"), ClientID: A, UserID: stranger, TokenHash: newID("h"), CreatedAt: at})
		}},
		{"ListPersonalTokens", func() error { return second(f.s.ListPersonalTokens(f.ctx, B, a.member.ID)) }},
		{"DeletePersonalToken", func() error { return f.s.DeletePersonalToken(f.ctx, B, a.member.ID, a.token.ID) }},

		{"CreateSpace with a foreign owner", func() error {
			sp := a.space
			sp.ID, sp.ClientID, sp.OwnerID = store.SpaceID(newID("sp")), B, a.owner.ID
			return f.s.CreateSpace(f.ctx, sp)
		}},
		{"CreateSpace in A with B's user", func() error {
			sp := a.space
			sp.ID, sp.OwnerID = store.SpaceID(newID("sp")), stranger
			return f.s.CreateSpace(f.ctx, sp)
		}},
		{"GetSpace", func() error { return second(f.s.GetSpace(f.ctx, B, a.space.ID)) }},
		{"ListSpacesForUser", func() error {
			_, _, err := f.s.ListSpacesForUser(f.ctx, B, a.owner.ID, store.Page{})
			return err
		}},
		{"UpdateSpace", func() error {
			sp := a.space
			sp.ClientID, sp.Name, sp.UpdatedAt = B, "hijacked", at
			return f.s.UpdateSpace(f.ctx, sp)
		}},
		{"DeleteSpace", func() error { return f.s.DeleteSpace(f.ctx, B, a.space.ID) }},
		{"GetSpaceMember", func() error { return second(f.s.GetSpaceMember(f.ctx, B, a.space.ID, a.member.ID)) }},
		{"ListSpaceMembers", func() error { return second(f.s.ListSpaceMembers(f.ctx, B, a.space.ID)) }},
		{"CreateInvite", func() error {
			return f.s.CreateInvite(f.ctx, store.Invite{ID: newID("inv"), ClientID: B, SpaceID: a.space.ID, Role: store.SpaceRoleModerator, CreatedBy: stranger, CreatedAt: at})
		}},
		{"GetInvite", func() error { return second(f.s.GetInvite(f.ctx, B, a.space.ID, a.invite.ID)) }},
		{"ActivateInvite", func() error { return second(f.s.ActivateInvite(f.ctx, B, a.space.ID, a.invite.ID, stranger, at)) }},
		{"ActivateInvite by a foreign user", func() error {
			return second(f.s.ActivateInvite(f.ctx, A, a.space.ID, a.invite.ID, stranger, at))
		}},

		{"CreateRoom", func() error {
			r := a.room
			r.ID, r.Alias, r.ClientID, r.OwnerID = store.RoomID(newID("rm")), newID("a"), B, stranger
			return f.s.CreateRoom(f.ctx, r)
		}},
		{"CreateRoom in A with B's owner", func() error {
			r := a.room
			r.ID, r.Alias, r.OwnerID = store.RoomID(newID("rm")), newID("a"), stranger
			return f.s.CreateRoom(f.ctx, r)
		}},
		{"GetRoom", func() error { return second(f.s.GetRoom(f.ctx, B, a.space.ID, a.room.ID)) }},
		{"ListRooms", func() error {
			_, _, err := f.s.ListRooms(f.ctx, B, a.space.ID, store.Page{})
			return err
		}},
		{"UpdateRoom", func() error {
			r := a.room
			r.ClientID, r.Name, r.UpdatedAt = B, "hijacked", at
			return f.s.UpdateRoom(f.ctx, r)
		}},
		{"DeleteRoom", func() error { return f.s.DeleteRoom(f.ctx, B, a.space.ID, a.room.ID) }},
		{"SetRoomMember", func() error {
			return f.s.SetRoomMember(f.ctx, B, store.RoomMember{RoomID: a.room.ID, UserID: stranger, Role: store.RoomRoleModerator, CreatedAt: at})
		}},
		{"SetRoomMember with A's user", func() error {
			return f.s.SetRoomMember(f.ctx, B, store.RoomMember{RoomID: a.room.ID, UserID: a.member.ID, Role: store.RoomRoleUser, CreatedAt: at})
		}},
		{"SetRoomMember in A with B's user", func() error {
			return f.s.SetRoomMember(f.ctx, A, store.RoomMember{RoomID: a.room.ID, UserID: stranger, Role: store.RoomRoleModerator, CreatedAt: at})
		}},
		{"GetRoomMember", func() error { return second(f.s.GetRoomMember(f.ctx, B, a.room.ID, a.member.ID)) }},
		{"ListRoomMembers", func() error { _, _, err := f.s.ListRoomMembers(f.ctx, B, a.room.ID, store.Page{}); return err }},

		{"CreateAccessLink", func() error {
			l := a.link
			l.ID, l.ClientID = newID("lk"), B
			return f.s.CreateAccessLink(f.ctx, l)
		}},
		{"CreateAccessLink in A to B's room", func() error {
			l := a.link
			l.ID, l.SpaceID, l.RoomID = newID("lk"), b.space.ID, b.room.ID
			return f.s.CreateAccessLink(f.ctx, l)
		}},
		{"GetAccessLink", func() error { return second(f.s.GetAccessLink(f.ctx, B, a.link.ID)) }},
		{"RedeemAccessLink", func() error { return second(f.s.RedeemAccessLink(f.ctx, B, a.link.ID, at)) }},
		{"RedeemAccessLink permanent", func() error { return second(f.s.RedeemAccessLink(f.ctx, B, a.permLink.ID, at)) }},

		{"PutWebhook", func() error {
			w := a.webhook
			w.ClientID, w.URL = B, "https://evil.example/"
			return f.s.PutWebhook(f.ctx, w)
		}},
		{"GetWebhook", func() error { return second(f.s.GetWebhook(f.ctx, B, a.space.ID)) }},
		{"DeleteWebhook", func() error { return f.s.DeleteWebhook(f.ctx, B, a.space.ID) }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, store.ErrNotFound) {
			f.t.Errorf("%s with another client's entity: got %v, want ErrNotFound", c.name, err)
		}
	}
	f.eq(f.snapshot(a), beforeA, "client A after the foreign calls")
	f.eq(f.snapshot(b), beforeB, "client B after the foreign calls")

	// The two unscoped lookups name the owning client, so callers can check.
	r, err := f.s.GetRoomByAlias(f.ctx, a.room.Alias)
	f.must(err, "room by alias")
	if r.ClientID != A {
		f.t.Fatalf("room by alias names client %s, want %s", r.ClientID, A)
	}
	t, err := f.s.GetPersonalTokenByHash(f.ctx, a.token.TokenHash)
	f.must(err, "token by hash")
	if t.ClientID != A {
		f.t.Fatalf("token by hash names client %s, want %s", t.ClientID, A)
	}
}
