package storetest

import (
	"slices"
	"strings"

	"github.com/spacecast/spacecast/controlplane/store"
)

func testRooms(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	sp, sp2 := f.space(c.ID, owner.ID), f.space(c.ID, owner.ID)
	at := f.at()
	r := store.Room{ID: store.RoomID(newID("rm")), ClientID: c.ID, SpaceID: sp.ID, OwnerID: owner.ID,
		Alias: newID("a"), ChannelID: newID("ch"), Name: "Lecture", Type: store.RoomTypeWebinar, IsPublic: false,
		MaxParticipants: 25,
		Flags: store.RoomFlags{IsChatAllowed: true, IsScreensharingAllowed: false, IsCameraPublishingAllowed: true,
			IsMicrophonePublishingAllowed: false, IsScreenMediaPublishingAllowed: true, IsRecordAllowed: true,
			IsAutoRecordingAllowed: false, IsHandRaisingAllowed: true, IsSelfRenamingAllowed: true,
			WaitingRoomAudience: "guests", RedirectURL: "https://bye.example/"},
		CreatedAt: at, UpdatedAt: at}
	f.must(f.s.CreateRoom(f.ctx, r), "create room")

	got, err := f.s.GetRoom(f.ctx, c.ID, sp.ID, r.ID)
	f.must(err, "get room")
	f.eq(got, r, "get room")
	got, err = f.s.GetRoomByAlias(f.ctx, r.Alias)
	f.must(err, "get room by alias")
	f.eq(got, r, "get room by alias")
	got, err = f.s.GetRoomByID(f.ctx, r.ID)
	f.must(err, "get room by id")
	f.eq(got, r, "get room by id")
	_, err = f.s.GetRoomByID(f.ctx, "missing")
	f.is(err, store.ErrNotFound, "get room by unknown id")
	m, err := f.s.GetRoomMember(f.ctx, c.ID, r.ID, owner.ID)
	f.must(err, "owner role")
	if m.Role != store.RoomRoleOwner || m.RoomID != r.ID || m.UserID != owner.ID {
		f.t.Fatalf("owner role: %+v", m)
	}

	_, err = f.s.GetRoom(f.ctx, c.ID, sp2.ID, r.ID)
	f.is(err, store.ErrNotFound, "get room through another space")
	_, err = f.s.GetRoomByAlias(f.ctx, "missing")
	f.is(err, store.ErrNotFound, "get room by unknown alias")
	_, err = f.s.GetRoom(f.ctx, c.ID, sp.ID, "missing")
	f.is(err, store.ErrNotFound, "get missing room")

	dupAlias := r
	dupAlias.ID = store.RoomID(newID("rm"))
	f.is(f.s.CreateRoom(f.ctx, dupAlias), store.ErrConflict, "create room with a used alias")
	dupID := r
	dupID.Alias = newID("a")
	f.is(f.s.CreateRoom(f.ctx, dupID), store.ErrConflict, "create room with a used id")

	for _, tc := range []struct {
		name string
		edit func(*store.Room)
	}{
		{"missing space", func(x *store.Room) { x.SpaceID = "missing" }},
		{"missing owner", func(x *store.Room) { x.OwnerID = "missing" }},
		{"missing client", func(x *store.Room) { x.ClientID = "missing" }},
	} {
		bad := r
		bad.ID, bad.Alias = store.RoomID(newID("rm")), newID("a")
		tc.edit(&bad)
		f.is(f.s.CreateRoom(f.ctx, bad), store.ErrNotFound, "create room with a "+tc.name)
		_, err = f.s.GetRoomByAlias(f.ctx, bad.Alias)
		f.is(err, store.ErrNotFound, "room of a failed create with a "+tc.name)
	}

	// Every boolean survives on its own (no two share storage).
	for _, tc := range []struct {
		name string
		set  func(*store.Room)
	}{
		{"isPublic", func(x *store.Room) { x.IsPublic = true }},
		{"isChatAllowed", func(x *store.Room) { x.Flags.IsChatAllowed = true }},
		{"isScreensharingAllowed", func(x *store.Room) { x.Flags.IsScreensharingAllowed = true }},
		{"isCameraPublishingAllowed", func(x *store.Room) { x.Flags.IsCameraPublishingAllowed = true }},
		{"isMicrophonePublishingAllowed", func(x *store.Room) { x.Flags.IsMicrophonePublishingAllowed = true }},
		{"isScreenMediaPublishingAllowed", func(x *store.Room) { x.Flags.IsScreenMediaPublishingAllowed = true }},
		{"isRecordAllowed", func(x *store.Room) { x.Flags.IsRecordAllowed = true }},
		{"isAutoRecordingAllowed", func(x *store.Room) { x.Flags.IsAutoRecordingAllowed = true }},
		{"isHandRaisingAllowed", func(x *store.Room) { x.Flags.IsHandRaisingAllowed = true }},
		{"isSelfRenamingAllowed", func(x *store.Room) { x.Flags.IsSelfRenamingAllowed = true }},
	} {
		one := r
		one.ID, one.Alias, one.IsPublic, one.Flags = store.RoomID(newID("rm")), newID("a"), false, store.RoomFlags{}
		tc.set(&one)
		f.must(f.s.CreateRoom(f.ctx, one), "create room with only "+tc.name)
		got, err := f.s.GetRoom(f.ctx, c.ID, sp.ID, one.ID)
		f.must(err, "get room with only "+tc.name)
		f.eq(got, one, "room with only "+tc.name)
		only := one
		only.IsPublic, only.Flags = false, store.RoomFlags{}
		only.UpdatedAt = f.at()
		f.must(f.s.UpdateRoom(f.ctx, only), "clear "+tc.name)
		tc.set(&only) // and back on through an update
		f.must(f.s.UpdateRoom(f.ctx, only), "set "+tc.name)
		got, err = f.s.GetRoom(f.ctx, c.ID, sp.ID, one.ID)
		f.must(err, "get updated room with only "+tc.name)
		f.eq(got, only, "updated room with only "+tc.name)
	}

	upd := r
	upd.Name, upd.Type, upd.IsPublic, upd.MaxParticipants = "Seminar", store.RoomTypeLesson, true, 0
	upd.Flags = store.RoomFlags{IsScreensharingAllowed: true, IsMicrophonePublishingAllowed: true,
		IsAutoRecordingAllowed: true, WaitingRoomAudience: "everyone"}
	upd.UpdatedAt = f.at()
	upd.Alias, upd.ChannelID, upd.OwnerID, upd.CreatedAt = "changed", "changed", "changed", f.now // immutable: ignored
	f.must(f.s.UpdateRoom(f.ctx, upd), "update room")
	got, err = f.s.GetRoom(f.ctx, c.ID, sp.ID, r.ID)
	f.must(err, "get updated room")
	want := upd
	want.Alias, want.ChannelID, want.OwnerID, want.CreatedAt = r.Alias, r.ChannelID, r.OwnerID, r.CreatedAt
	f.eq(got, want, "updated room")

	wrongSpace := upd
	wrongSpace.SpaceID = sp2.ID
	f.is(f.s.UpdateRoom(f.ctx, wrongSpace), store.ErrNotFound, "update room through another space")
	f.is(f.s.DeleteRoom(f.ctx, c.ID, sp2.ID, r.ID), store.ErrNotFound, "delete room through another space")

	f.must(f.s.DeleteRoom(f.ctx, c.ID, sp.ID, r.ID), "delete room")
	_, err = f.s.GetRoom(f.ctx, c.ID, sp.ID, r.ID)
	f.is(err, store.ErrNotFound, "get deleted room")
	_, err = f.s.GetRoomByAlias(f.ctx, r.Alias)
	f.is(err, store.ErrNotFound, "get deleted room by alias")
	f.is(f.s.DeleteRoom(f.ctx, c.ID, sp.ID, r.ID), store.ErrNotFound, "delete room twice")
	f.is(f.s.UpdateRoom(f.ctx, upd), store.ErrNotFound, "update deleted room")
}

func testRoomList(f *fx) {
	c := f.client()
	owner := f.user(c.ID)
	sp, other, empty := f.space(c.ID, owner.ID), f.space(c.ID, owner.ID), f.space(c.ID, owner.ID)
	var want []store.Room
	for i := range 7 {
		want = slices.Insert(want, 0, f.room(c.ID, sp.ID, owner.ID))
		if i < 2 {
			f.room(c.ID, other.ID, owner.ID)
		}
	}
	id := func(r store.Room) string { return string(r.ID) }
	cases := []struct {
		name  string
		page  store.Page
		want  []store.Room
		total int
	}{
		{"default page", store.Page{}, want, 7},
		{"first page", store.Page{Limit: 3}, want[:3], 7},
		{"middle page", store.Page{Offset: 3, Limit: 3}, want[3:6], 7},
		{"last page", store.Page{Offset: 6, Limit: 3}, want[6:], 7},
		{"past the end", store.Page{Offset: 7, Limit: 3}, nil, 7},
		{"over the cap", store.Page{Limit: store.MaxPageLimit + 100}, want, 7},
	}
	for _, tc := range cases {
		got, total, err := f.s.ListRooms(f.ctx, c.ID, sp.ID, tc.page)
		f.must(err, tc.name)
		if total != tc.total || ids(got, id) != ids(tc.want, id) {
			f.t.Fatalf("%s: got %s (total %d), want %s (total %d)", tc.name, ids(got, id), total, ids(tc.want, id), tc.total)
		}
	}
	got, _, err := f.s.ListRooms(f.ctx, c.ID, sp.ID, store.Page{Limit: 1})
	f.must(err, "list one")
	f.eq(got, want[:1], "listed room is complete")

	got, total, err := f.s.ListRooms(f.ctx, c.ID, empty.ID, store.Page{})
	f.must(err, "list rooms of an empty space")
	if len(got) != 0 || total != 0 {
		f.t.Fatalf("empty space: %d rooms, total %d", len(got), total)
	}
	_, _, err = f.s.ListRooms(f.ctx, c.ID, "missing", store.Page{})
	f.is(err, store.ErrNotFound, "list rooms of a missing space")
}

func testRoomMembers(f *fx) {
	c := f.client()
	owner, u2, u3 := f.user(c.ID), f.user(c.ID), f.user(c.ID)
	sp := f.space(c.ID, owner.ID)
	r, r2 := f.room(c.ID, sp.ID, owner.ID), f.room(c.ID, sp.ID, owner.ID)

	m2 := store.RoomMember{RoomID: r.ID, UserID: u2.ID, Role: store.RoomRoleModerator, CreatedAt: f.at()}
	m3 := store.RoomMember{RoomID: r.ID, UserID: u3.ID, Role: store.RoomRoleUser, CreatedAt: f.at()}
	f.must(f.s.SetRoomMember(f.ctx, c.ID, m2), "set moderator")
	f.must(f.s.SetRoomMember(f.ctx, c.ID, m3), "set user")
	got, err := f.s.GetRoomMember(f.ctx, c.ID, r.ID, u2.ID)
	f.must(err, "get moderator")
	f.eq(got, m2, "get moderator")

	f.must(f.s.SetRoomMember(f.ctx, c.ID, store.RoomMember{RoomID: r.ID, UserID: u2.ID, Role: store.RoomRoleUser, CreatedAt: f.at()}), "replace role")
	got, err = f.s.GetRoomMember(f.ctx, c.ID, r.ID, u2.ID)
	f.must(err, "get replaced role")
	if got.Role != store.RoomRoleUser {
		f.t.Fatalf("replaced role: %s", got.Role)
	}

	list, total, err := f.s.ListRoomMembers(f.ctx, c.ID, r.ID, store.Page{})
	f.must(err, "list room members")
	if total != 3 {
		f.t.Fatalf("room members total %d, want 3", total)
	}
	page, total, err := f.s.ListRoomMembers(f.ctx, c.ID, r.ID, store.Page{Offset: 1, Limit: 1})
	f.must(err, "a page of room members")
	if total != 3 || len(page) != 1 || page[0].UserID != u2.ID {
		f.t.Fatalf("second page of one: %+v (total %d)", page, total)
	}
	if len(list) == 3 && (list[0].UserID != owner.ID || list[1].UserID != u2.ID || list[2].UserID != u3.ID) {
		f.t.Fatalf("room members not oldest first: %+v", list)
	}
	roles := map[store.UserID]store.RoomRole{}
	for _, m := range list {
		if m.RoomID != r.ID {
			f.t.Fatalf("member of room %s listed for %s", m.RoomID, r.ID)
		}
		roles[m.UserID] = m.Role
	}
	wantRoles := map[store.UserID]store.RoomRole{owner.ID: store.RoomRoleOwner, u2.ID: store.RoomRoleUser, u3.ID: store.RoomRoleUser}
	f.eq(roles, wantRoles, "room roles")
	if len(list) != len(wantRoles) {
		f.t.Fatalf("%d members listed, want %d", len(list), len(wantRoles))
	}

	_, err = f.s.GetRoomMember(f.ctx, c.ID, r2.ID, u2.ID)
	f.is(err, store.ErrNotFound, "role in another room")
	_, _, err = f.s.ListRoomMembers(f.ctx, c.ID, "missing", store.Page{})
	f.is(err, store.ErrNotFound, "list members of a missing room")
	f.is(f.s.SetRoomMember(f.ctx, c.ID, store.RoomMember{RoomID: r.ID, UserID: "missing", Role: store.RoomRoleUser, CreatedAt: f.at()}),
		store.ErrNotFound, "set role of a missing user")
	f.is(f.s.SetRoomMember(f.ctx, c.ID, store.RoomMember{RoomID: "missing", UserID: u2.ID, Role: store.RoomRoleUser, CreatedAt: f.at()}),
		store.ErrNotFound, "set role in a missing room")
}

// testVisibleRooms: a user sees the public rooms of a space and the
// private ones where it holds a role, with that role, paged in the query
// with a total over all of them; ties in creation time are broken by id.
func testVisibleRooms(f *fx) {
	c := f.client()
	owner, viewer := f.user(c.ID), f.user(c.ID)
	sp, other := f.space(c.ID, owner.ID), f.space(c.ID, owner.ID)
	type want struct {
		id   store.RoomID
		role store.RoomRole
	}
	var ownerSees, viewerSees []want // newest first
	same := f.at()                   // several rooms share one creation time
	for i := range 12 {
		r := store.Room{ID: store.RoomID(newID("rm")), ClientID: c.ID, SpaceID: sp.ID, OwnerID: owner.ID,
			Alias: newID("a"), ChannelID: newID("ch"), Name: "room", Type: store.RoomTypeLesson, IsPublic: i%3 != 0,
			Flags: store.RoomFlags{WaitingRoomAudience: "nobody"}, CreatedAt: f.at()}
		if i >= 9 {
			r.CreatedAt = same
		}
		r.UpdatedAt = r.CreatedAt
		f.must(f.s.CreateRoom(f.ctx, r), "create room")
		role := store.RoomRole("")
		if i%4 == 0 {
			role = store.RoomRoleModerator
			f.must(f.s.SetRoomMember(f.ctx, c.ID, store.RoomMember{RoomID: r.ID, UserID: viewer.ID, Role: role, CreatedAt: f.at()}), "role")
		}
		ownerSees = append(ownerSees, want{r.ID, store.RoomRoleOwner})
		if r.IsPublic || role != "" {
			viewerSees = append(viewerSees, want{r.ID, role})
		}
	}
	f.room(c.ID, other.ID, owner.ID) // another space's room is never listed
	order := func(ws []want, created func(store.RoomID) int64) []want {
		out := slices.Clone(ws)
		slices.SortStableFunc(out, func(a, b want) int {
			if ca, cb := created(a.id), created(b.id); ca != cb {
				return int(cb - ca)
			}
			return strings.Compare(string(b.id), string(a.id))
		})
		return out
	}
	created := map[store.RoomID]int64{}
	all, _, err := f.s.ListRooms(f.ctx, c.ID, sp.ID, store.Page{Limit: 100})
	f.must(err, "list rooms")
	for _, r := range all {
		created[r.ID] = r.CreatedAt.UnixMilli()
	}
	at := func(id store.RoomID) int64 { return created[id] }
	ownerSees, viewerSees = order(ownerSees, at), order(viewerSees, at)

	for _, tc := range []struct {
		name string
		user store.UserID
		want []want
	}{{"owner", owner.ID, ownerSees}, {"viewer", viewer.ID, viewerSees}} {
		var got []want
		for off := 0; ; off += 5 {
			page, total, err := f.s.ListVisibleRooms(f.ctx, c.ID, sp.ID, tc.user, store.Page{Offset: off, Limit: 5})
			f.must(err, "list visible rooms")
			if total != len(tc.want) {
				f.t.Fatalf("%s: total %d, want %d", tc.name, total, len(tc.want))
			}
			for _, r := range page {
				if r.SpaceID != sp.ID || r.ClientID != c.ID || r.Alias == "" {
					f.t.Fatalf("%s: incomplete or foreign room %+v", tc.name, r)
				}
				got = append(got, want{r.ID, r.Role})
			}
			if len(page) < 5 {
				break
			}
		}
		if !slices.Equal(got, tc.want) {
			f.t.Fatalf("%s pages through %v, want %v", tc.name, got, tc.want)
		}
	}
	page, total, err := f.s.ListVisibleRooms(f.ctx, c.ID, sp.ID, viewer.ID, store.Page{Limit: store.MaxPageLimit + 1})
	f.must(err, "over the cap")
	if len(page) != len(viewerSees) || total != len(viewerSees) {
		f.t.Fatalf("over the cap: %d of %d", len(page), total)
	}
	_, _, err = f.s.ListVisibleRooms(f.ctx, c.ID, "missing", viewer.ID, store.Page{})
	f.is(err, store.ErrNotFound, "list visible rooms of a missing space")
	c2 := f.client()
	_, _, err = f.s.ListVisibleRooms(f.ctx, c2.ID, sp.ID, viewer.ID, store.Page{})
	f.is(err, store.ErrNotFound, "list visible rooms of another client's space")
}
