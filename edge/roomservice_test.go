package edge

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
)

// twirpCall posts a JSON RoomService request with token and returns the
// HTTP status and body.
func (f *fixture) twirpCall(method, token, body string) (int, string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.httpURL+"/twirp/livekit.RoomService/"+method, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRoomServiceRefusesRevokedModerator: a moderator whose removal was
// gossiped (Deps.Revoked), or who was removed on this edge by another
// moderator, keeps a media token with roomAdmin; RoomService refuses it as
// /rtc does, so it can no longer remove, mute or update others.
func TestRoomServiceRefusesRevokedModerator(t *testing.T) {
	var mu sync.Mutex
	revoked := map[string]bool{}
	f := newFixture(t, fixtureOpts{revoked: func(room, identity string, issued time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		return revoked[identity]
	}})
	c, _ := f.join("alice", "r", nil)
	admin := func(id string) string {
		return f.token(id, &auth.VideoGrant{RoomJoin: true, Room: "r", RoomAdmin: true}, time.Minute)
	}
	calls := []struct{ method, body string }{
		{"MutePublishedTrack", `{"room":"r","identity":"alice","track_sid":"TR_x","muted":true}`},
		{"UpdateParticipant", `{"room":"r","identity":"alice","name":"pwned"}`},
		{"RemoveParticipant", `{"room":"r","identity":"alice"}`},
	}

	// Cluster-wide: the revocation arrived by gossip.
	mu.Lock()
	revoked["rogue"] = true
	mu.Unlock()
	for _, call := range calls {
		if code, body := f.twirpCall(call.method, admin("rogue"), call.body); code != http.StatusForbidden {
			t.Errorf("%s by a revoked moderator: HTTP %d %s, want 403", call.method, code, body)
		}
	}

	// Locally: another moderator removed "ex" from the room.
	ex := admin("ex")
	f.join("ex", "r", &auth.VideoGrant{RoomJoin: true, Room: "r", RoomAdmin: true})
	if code, body := f.twirpCall("RemoveParticipant", admin("boss"), `{"room":"r","identity":"ex"}`); code != http.StatusOK {
		t.Fatalf("boss removes ex: HTTP %d %s", code, body)
	}
	for _, call := range calls {
		if code, body := f.twirpCall(call.method, ex, call.body); code != http.StatusForbidden {
			t.Errorf("%s by a removed moderator: HTTP %d %s, want 403", call.method, code, body)
		}
	}
	if p := f.edge.Rooms().Room("r").Participant("alice"); p == nil || p.Info().Name == "pwned" {
		t.Fatal("alice was removed or renamed by a revoked moderator")
	}
	// A moderator in good standing still can.
	if code, body := f.twirpCall("RemoveParticipant", admin("boss"), `{"room":"r","identity":"alice"}`); code != http.StatusOK {
		t.Fatalf("boss removes alice: HTTP %d %s", code, body)
	}
	c.expect("leave", isLeave(livekit.DisconnectReason_PARTICIPANT_REMOVED))
}
