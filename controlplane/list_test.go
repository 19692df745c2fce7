package controlplane

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// TestListRoomsComplete: a space with more rooms than the page cap lists
// every room the caller may see, page by page, with the right total and
// a stable order; private rooms without a role of the caller are left out
// of both; a page over the cap is refused.
func TestListRoomsComplete(t *testing.T) {
	e := start(t, envOpts{})
	ctx := ctxT(t)
	tn := e.newClient(t, "lists")
	owner := e.newUser(t, tn, "owner@example.com")
	viewer := e.newUser(t, tn, "viewer@example.com")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "big", "isPublic": true}).str(t, "id")
	const rooms = 1203
	base := time.Now().Add(-time.Hour)
	wantViewer := map[string]bool{}
	for i := range rooms {
		id := fmt.Sprintf("room%05d", i)
		r := store.Room{ID: store.RoomID(id), ClientID: store.ClientID(tn.clientID), SpaceID: store.SpaceID(sp), OwnerID: store.UserID(owner.userID),
			Alias: fmt.Sprintf("alias%05d", i), ChannelID: id, Name: id, Type: store.RoomTypeLesson, IsPublic: i%10 != 0,
			Flags: store.RoomFlags{WaitingRoomAudience: "nobody"}, CreatedAt: base.Add(time.Duration(i/7) * time.Millisecond)}
		r.UpdatedAt = r.CreatedAt
		if err := e.st.CreateRoom(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.IsPublic {
			wantViewer[id] = true
		}
		if i%100 == 0 { // a private room the viewer was given a role in
			if err := e.st.SetRoomMember(ctx, r.ClientID, store.RoomMember{RoomID: r.ID, UserID: store.UserID(viewer.userID), Role: store.RoomRoleUser, CreatedAt: base}); err != nil {
				t.Fatal(err)
			}
			wantViewer[id] = true
		}
	}
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{{"owner", owner.userToken, rooms}, {"viewer", viewer.userToken, len(wantViewer)}} {
		seen := map[string]bool{}
		var lastAt time.Time
		var lastID string
		for off := 0; ; off += 500 {
			var page struct {
				Items []struct {
					ID, Role  string
					CreatedAt time.Time
				}
				Total int
			}
			r := e.must(t, 200, "GET", fmt.Sprintf("/v1/spaces/%s/rooms?offset=%d&limit=500", sp, off), tc.token, nil)
			if err := json.Unmarshal(r.body, &page); err != nil {
				t.Fatal(err)
			}
			if page.Total != tc.want {
				t.Fatalf("%s: total %d, want %d", tc.name, page.Total, tc.want)
			}
			for _, it := range page.Items {
				if seen[it.ID] {
					t.Fatalf("%s: %s listed twice", tc.name, it.ID)
				}
				seen[it.ID] = true
				if lastID != "" && (it.CreatedAt.After(lastAt) || (it.CreatedAt.Equal(lastAt) && it.ID > lastID)) {
					t.Fatalf("%s: %s out of order", tc.name, it.ID)
				}
				lastAt, lastID = it.CreatedAt, it.ID
				if tc.name == "viewer" && !wantViewer[it.ID] {
					t.Fatalf("viewer sees private room %s", it.ID)
				}
				if tc.name == "owner" && it.Role != "role_room_owner" {
					t.Fatalf("owner's role in %s: %q", it.ID, it.Role)
				}
			}
			if len(page.Items) < 500 {
				break
			}
		}
		if len(seen) != tc.want {
			t.Fatalf("%s paged through %d rooms, want %d", tc.name, len(seen), tc.want)
		}
	}
	e.must(t, 400, "GET", "/v1/spaces/"+sp+"/rooms?limit=501", owner.userToken, nil)
}

// TestListRoomRolesPaged: a room's roles page with a total and a stable
// order, every role reached.
func TestListRoomRolesPaged(t *testing.T) {
	e := start(t, envOpts{})
	ctx := ctxT(t)
	tn := e.newClient(t, "roles")
	owner := e.newUser(t, tn, "owner@example.com")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S"}).str(t, "id")
	rm := e.must(t, 201, "POST", "/v1/spaces/"+sp+"/rooms", owner.userToken, map[string]any{"name": "R"}).str(t, "id")
	base := time.Now()
	for i := range 7 {
		u := store.User{ID: store.UserID(fmt.Sprintf("%024d", i)), ClientID: store.ClientID(tn.clientID), Email: fmt.Sprintf("u%d@example.com", i), CreatedAt: base}
		if err := e.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := e.st.SetRoomMember(ctx, u.ClientID, store.RoomMember{RoomID: store.RoomID(rm), UserID: u.ID, Role: store.RoomRoleUser, CreatedAt: base.Add(time.Duration(i) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for off := 0; off < 9; off += 3 {
		var page struct {
			Items []struct{ UserID string }
			Total int
		}
		r := e.must(t, 200, "GET", fmt.Sprintf("/v1/spaces/%s/rooms/%s/roles?offset=%d&limit=3", sp, rm, off), owner.userToken, nil)
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		if page.Total != 8 {
			t.Fatalf("total %d, want 8", page.Total)
		}
		for _, it := range page.Items {
			if seen[it.UserID] {
				t.Fatalf("%s listed twice", it.UserID)
			}
			seen[it.UserID] = true
		}
	}
	if len(seen) != 8 {
		t.Fatalf("paged through %d roles, want 8", len(seen))
	}
}
