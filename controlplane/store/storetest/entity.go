package storetest

import (
	"slices"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func testClients(f *fx) {
	c1, c2 := f.client(), f.client()

	got, err := f.s.GetClient(f.ctx, c1.ID)
	f.must(err, "get client")
	f.eq(got, c1, "get client")
	if got.CreatedAt.Location() != time.UTC {
		f.t.Fatalf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}

	list, err := f.s.ListClients(f.ctx)
	f.must(err, "list clients")
	f.eq(list, []store.Client{c2, c1}, "list clients, newest first")

	f.is(f.s.CreateClient(f.ctx, c1), store.ErrConflict, "create client with a used id")

	f.must(f.s.SetClientSecret(f.ctx, c1.ID, "rotated", f.at()), "set client secret")
	got, err = f.s.GetClient(f.ctx, c1.ID)
	f.must(err, "get client after rotation")
	if got.SecretHash != "rotated" {
		f.t.Fatalf("secret hash %q after rotation", got.SecretHash)
	}
	f.is(f.s.SetClientSecret(f.ctx, "missing", "x", f.at()), store.ErrNotFound, "set secret of a missing client")

	f.must(f.s.DeleteClient(f.ctx, c1.ID), "delete client")
	_, err = f.s.GetClient(f.ctx, c1.ID)
	f.is(err, store.ErrNotFound, "get deleted client")
	f.is(f.s.DeleteClient(f.ctx, c1.ID), store.ErrNotFound, "delete client twice")
	list, err = f.s.ListClients(f.ctx)
	f.must(err, "list clients after delete")
	f.eq(list, []store.Client{c2}, "list clients after delete")
}

func testUsers(f *fx) {
	c := f.client()
	u := f.user(c.ID)

	got, err := f.s.GetUser(f.ctx, c.ID, u.ID)
	f.must(err, "get user")
	f.eq(got, u, "get user")

	for _, email := range []string{u.Email, strings.ToLower(u.Email), strings.ToUpper(u.Email)} {
		got, err = f.s.GetUserByEmail(f.ctx, c.ID, email)
		f.must(err, "get user by e-mail "+email)
		f.eq(got, u, "get user by e-mail "+email)
	}
	_, err = f.s.GetUserByEmail(f.ctx, c.ID, "nobody@example.com")
	f.is(err, store.ErrNotFound, "get user by unknown e-mail")
	_, err = f.s.GetUserByEmail(f.ctx, c.ID, "")
	f.is(err, store.ErrNotFound, "get user by empty e-mail")
	_, err = f.s.GetUser(f.ctx, c.ID, "missing")
	f.is(err, store.ErrNotFound, "get missing user")

	dup := u
	dup.Email = "other@example.com"
	f.is(f.s.CreateUser(f.ctx, dup), store.ErrConflict, "create user with a used id")

	orphan := store.User{ID: "u_orphan", ClientID: "missing", Email: "o@example.com", CreatedAt: f.at()}
	f.is(f.s.CreateUser(f.ctx, orphan), store.ErrNotFound, "create user of a missing client")

	// Users without an e-mail do not collide with each other.
	for i := range 2 {
		n := store.User{ID: store.UserID(newID("u")), ClientID: c.ID, Username: "no mail", CreatedAt: f.at()}
		f.must(f.s.CreateUser(f.ctx, n), "create user without e-mail "+string(rune('0'+i)))
	}

	f.must(f.s.DeleteUser(f.ctx, c.ID, u.ID), "delete user")
	_, err = f.s.GetUser(f.ctx, c.ID, u.ID)
	f.is(err, store.ErrNotFound, "get deleted user")
	_, err = f.s.GetUserByEmail(f.ctx, c.ID, u.Email)
	f.is(err, store.ErrNotFound, "get deleted user by e-mail")
	f.is(f.s.DeleteUser(f.ctx, c.ID, u.ID), store.ErrNotFound, "delete user twice")

	again := u
	again.ID = store.UserID(newID("u"))
	f.must(f.s.CreateUser(f.ctx, again), "reuse the e-mail of a deleted user")
}

func testUserEmailConflict(f *fx) {
	c, other := f.client(), f.client()
	base := store.User{ID: store.UserID(newID("u")), ClientID: c.ID, Email: "Ann.Lee@Example.com", CreatedAt: f.at()}
	f.must(f.s.CreateUser(f.ctx, base), "create user")
	uni := store.User{ID: store.UserID(newID("u")), ClientID: c.ID, Email: "ÄNNE@example.com", CreatedAt: f.at()}
	f.must(f.s.CreateUser(f.ctx, uni), "create user with a non-ASCII e-mail")

	cases := []struct {
		name   string
		client store.ClientID
		email  string
		want   error
	}{
		{"same", c.ID, "Ann.Lee@Example.com", store.ErrConflict},
		{"lower", c.ID, "ann.lee@example.com", store.ErrConflict},
		{"upper", c.ID, "ANN.LEE@EXAMPLE.COM", store.ErrConflict},
		{"non-ASCII folded", c.ID, "änne@EXAMPLE.com", store.ErrConflict},
		{"other address", c.ID, "ann.lee2@example.com", nil},
		{"other client", other.ID, "ann.lee@example.com", nil},
	}
	for _, tc := range cases {
		u := store.User{ID: store.UserID(newID("u")), ClientID: tc.client, Email: tc.email, CreatedAt: f.at()}
		err := f.s.CreateUser(f.ctx, u)
		if tc.want == nil {
			f.must(err, tc.name)
		} else {
			f.is(err, tc.want, tc.name)
		}
	}
}

func testPersonalTokens(f *fx) {
	c := f.client()
	u, u2 := f.user(c.ID), f.user(c.ID)
	t1 := f.token(c.ID, u.ID)
	t2 := store.PersonalToken{ID: newID("pt"), ClientID: c.ID, UserID: u.ID, Name: "ci", TokenHash: newID("sha"),
		CreatedAt: f.at(), ExpiresAt: ptr(f.now.Add(time.Hour))}
	f.must(f.s.CreatePersonalToken(f.ctx, t2), "create expiring token")

	list, err := f.s.ListPersonalTokens(f.ctx, c.ID, u.ID)
	f.must(err, "list tokens")
	f.eq(list, []store.PersonalToken{t2, t1}, "list tokens, newest first")
	list, err = f.s.ListPersonalTokens(f.ctx, c.ID, u2.ID)
	f.must(err, "list tokens of a user without any")
	f.eq(len(list), 0, "tokens of a user without any")
	_, err = f.s.ListPersonalTokens(f.ctx, c.ID, "missing")
	f.is(err, store.ErrNotFound, "list tokens of a missing user")

	got, err := f.s.GetPersonalTokenByHash(f.ctx, t1.TokenHash)
	f.must(err, "get token by hash")
	f.eq(got, t1, "get token by hash")
	_, err = f.s.GetPersonalTokenByHash(f.ctx, "nope")
	f.is(err, store.ErrNotFound, "get token by unknown hash")

	dup := t1
	dup.ID = newID("pt")
	f.is(f.s.CreatePersonalToken(f.ctx, dup), store.ErrConflict, "create token with a used hash")
	orphan := store.PersonalToken{ID: newID("pt"), ClientID: c.ID, UserID: "missing", TokenHash: newID("sha"), CreatedAt: f.at()}
	f.is(f.s.CreatePersonalToken(f.ctx, orphan), store.ErrNotFound, "create token of a missing user")

	f.is(f.s.DeletePersonalToken(f.ctx, c.ID, u2.ID, t1.ID), store.ErrNotFound, "delete a token through another user")
	f.must(f.s.DeletePersonalToken(f.ctx, c.ID, u.ID, t1.ID), "delete token")
	f.is(f.s.DeletePersonalToken(f.ctx, c.ID, u.ID, t1.ID), store.ErrNotFound, "delete token twice")
	_, err = f.s.GetPersonalTokenByHash(f.ctx, t1.TokenHash)
	f.is(err, store.ErrNotFound, "get deleted token")
	list, err = f.s.ListPersonalTokens(f.ctx, c.ID, u.ID)
	f.must(err, "list tokens after delete")
	f.eq(list, []store.PersonalToken{t2}, "list tokens after delete")
}

func testSpaces(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	at := f.at()
	sp := store.Space{ID: store.SpaceID(newID("sp")), ClientID: c.ID, OwnerID: owner.ID, Name: "Physics",
		Description: "Year 2", Logo: "https://logo.example/p.png", IsPublic: true,
		AllowedOrigins: []string{"https://a.example", "https://b.example:8443"}, CreatedAt: at, UpdatedAt: at}
	f.must(f.s.CreateSpace(f.ctx, sp), "create space")

	got, err := f.s.GetSpace(f.ctx, c.ID, sp.ID)
	f.must(err, "get space")
	f.eq(got, sp, "get space")

	m, err := f.s.GetSpaceMember(f.ctx, c.ID, sp.ID, owner.ID)
	f.must(err, "owner membership")
	f.eq(m, store.SpaceMember{SpaceID: sp.ID, UserID: owner.ID, Role: store.SpaceRoleOwner, CreatedAt: sp.CreatedAt}, "owner membership")
	members, err := f.s.ListSpaceMembers(f.ctx, c.ID, sp.ID)
	f.must(err, "list members")
	f.eq(members, []store.SpaceMember{m}, "members of a new space")
	_, err = f.s.ListSpaceMembers(f.ctx, c.ID, "missing")
	f.is(err, store.ErrNotFound, "list members of a missing space")
	_, err = f.s.GetSpaceMember(f.ctx, c.ID, sp.ID, "missing")
	f.is(err, store.ErrNotFound, "get missing member")

	f.is(f.s.CreateSpace(f.ctx, sp), store.ErrConflict, "create space with a used id")

	// The owner must be a user of the client, and a failed create leaves
	// nothing behind.
	bad := sp
	bad.ID, bad.OwnerID = store.SpaceID(newID("sp")), "missing"
	f.is(f.s.CreateSpace(f.ctx, bad), store.ErrNotFound, "create space with a missing owner")
	_, err = f.s.GetSpace(f.ctx, c.ID, bad.ID)
	f.is(err, store.ErrNotFound, "space of a failed create")

	upd := sp
	upd.Name, upd.Description, upd.Logo, upd.IsPublic, upd.AllowedOrigins = "Chemistry", "", "", false, nil
	upd.UpdatedAt = f.at()
	upd.OwnerID, upd.CreatedAt = "someone-else", f.now.Add(-time.Hour) // immutable: ignored
	f.must(f.s.UpdateSpace(f.ctx, upd), "update space")
	got, err = f.s.GetSpace(f.ctx, c.ID, sp.ID)
	f.must(err, "get updated space")
	want := upd
	want.OwnerID, want.CreatedAt = sp.OwnerID, sp.CreatedAt
	f.eq(got, want, "updated space")

	missing := upd
	missing.ID = "missing"
	f.is(f.s.UpdateSpace(f.ctx, missing), store.ErrNotFound, "update missing space")

	f.must(f.s.DeleteSpace(f.ctx, c.ID, sp.ID), "delete space")
	_, err = f.s.GetSpace(f.ctx, c.ID, sp.ID)
	f.is(err, store.ErrNotFound, "get deleted space")
	f.is(f.s.DeleteSpace(f.ctx, c.ID, sp.ID), store.ErrNotFound, "delete space twice")
}

func testSpaceList(f *fx) {
	c := f.client()
	u, other, loner := f.user(c.ID), f.user(c.ID), f.user(c.ID)

	var want []store.Space // newest first
	for range 7 {
		want = slices.Insert(want, 0, f.space(c.ID, u.ID))
	}
	for range 2 { // spaces of another user that u joined
		sp := f.space(c.ID, other.ID)
		inv := f.invite(c.ID, sp.ID, other.ID, store.SpaceRoleUser, nil)
		_, err := f.s.ActivateInvite(f.ctx, c.ID, sp.ID, inv.ID, u.ID, f.at())
		f.must(err, "activate invite")
		want = slices.Insert(want, 0, sp)
	}
	f.space(c.ID, other.ID) // not u's

	id := func(s store.Space) string { return string(s.ID) }
	cases := []struct {
		name  string
		page  store.Page
		want  []store.Space
		total int
	}{
		{"default page", store.Page{}, want, 9},
		{"first page", store.Page{Limit: 4}, want[:4], 9},
		{"second page", store.Page{Offset: 4, Limit: 4}, want[4:8], 9},
		{"last page", store.Page{Offset: 8, Limit: 4}, want[8:], 9},
		{"past the end", store.Page{Offset: 20, Limit: 4}, nil, 9},
		{"negative offset", store.Page{Offset: -3, Limit: 2}, want[:2], 9},
	}
	for _, tc := range cases {
		got, total, err := f.s.ListSpacesForUser(f.ctx, c.ID, u.ID, tc.page)
		f.must(err, tc.name)
		if total != tc.total || ids(got, id) != ids(tc.want, id) {
			f.t.Fatalf("%s: got %s (total %d), want %s (total %d)", tc.name, ids(got, id), total, ids(tc.want, id), tc.total)
		}
	}
	got, _, err := f.s.ListSpacesForUser(f.ctx, c.ID, u.ID, store.Page{Limit: 1})
	f.must(err, "list one")
	f.eq(got, want[:1], "listed space is complete")

	got, total, err := f.s.ListSpacesForUser(f.ctx, c.ID, loner.ID, store.Page{})
	f.must(err, "list spaces of a user without any")
	if len(got) != 0 || total != 0 {
		f.t.Fatalf("user without spaces: %d items, total %d", len(got), total)
	}
	_, _, err = f.s.ListSpacesForUser(f.ctx, c.ID, "missing", store.Page{})
	f.is(err, store.ErrNotFound, "list spaces of a missing user")
}

func testWebhooks(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	sp, bare := f.space(c.ID, owner.ID), f.space(c.ID, owner.ID)
	w := f.webhook(c.ID, sp.ID)

	got, err := f.s.GetWebhook(f.ctx, c.ID, sp.ID)
	f.must(err, "get webhook")
	f.eq(got, w, "get webhook")

	w2 := w
	w2.URL, w2.Secret, w2.IsActive, w2.UpdatedAt = "https://hooks.example/new", "new-secret", false, f.at()
	f.must(f.s.PutWebhook(f.ctx, w2), "replace webhook")
	got, err = f.s.GetWebhook(f.ctx, c.ID, sp.ID)
	f.must(err, "get replaced webhook")
	f.eq(got, w2, "replaced webhook")

	_, err = f.s.GetWebhook(f.ctx, c.ID, bare.ID)
	f.is(err, store.ErrNotFound, "get webhook of a space without one")
	orphan := w
	orphan.SpaceID = "missing"
	f.is(f.s.PutWebhook(f.ctx, orphan), store.ErrNotFound, "put webhook on a missing space")

	f.must(f.s.DeleteWebhook(f.ctx, c.ID, sp.ID), "delete webhook")
	_, err = f.s.GetWebhook(f.ctx, c.ID, sp.ID)
	f.is(err, store.ErrNotFound, "get deleted webhook")
	f.is(f.s.DeleteWebhook(f.ctx, c.ID, sp.ID), store.ErrNotFound, "delete webhook twice")
}

func testSigningKeys(f *fx) {
	k1 := store.SigningKey{ID: newID("kid"), Secret: []byte("secret-one-0123456789abcdef"), CreatedAt: f.at()}
	k2 := store.SigningKey{ID: newID("kid"), Secret: []byte{0, 1, 2, 255}, CreatedAt: f.at()}
	f.must(f.s.AddSigningKey(f.ctx, k1), "add key 1")
	f.must(f.s.AddSigningKey(f.ctx, k2), "add key 2")
	f.is(f.s.AddSigningKey(f.ctx, k1), store.ErrConflict, "add key with a used id")

	list, err := f.s.ListSigningKeys(f.ctx)
	f.must(err, "list keys")
	f.eq(list, []store.SigningKey{k2, k1}, "keys, newest first")

	retired, expires := f.at(), f.now.Add(time.Hour)
	f.must(f.s.RetireSigningKey(f.ctx, k1.ID, retired, expires), "retire key 1")
	f.is(f.s.RetireSigningKey(f.ctx, "missing", retired, expires), store.ErrNotFound, "retire missing key")
	k1.RetiredAt, k1.ExpiresAt = &retired, &expires
	list, err = f.s.ListSigningKeys(f.ctx)
	f.must(err, "list keys after retire")
	f.eq(list, []store.SigningKey{k2, k1}, "keys after retire")

	steps := []struct {
		name string
		now  time.Time
		want []store.SigningKey
	}{
		{"before expiry", f.now.Add(30 * time.Minute), []store.SigningKey{k2, k1}},
		{"at expiry", expires, []store.SigningKey{k2, k1}},
		{"after expiry", expires.Add(time.Millisecond), []store.SigningKey{k2}},
	}
	for _, st := range steps {
		f.must(f.s.DeleteExpiredSigningKeys(f.ctx, st.now), st.name)
		list, err = f.s.ListSigningKeys(f.ctx)
		f.must(err, st.name)
		f.eq(list, st.want, st.name)
	}
}

func testPingClose(f *fx) {
	f.must(f.s.Ping(f.ctx), "ping")
	f.must(f.s.Close(), "close")
	f.must(f.s.Close(), "close twice")
}
