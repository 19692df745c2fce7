package join_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
)

// lobby is a public lesson of the public space whose waiting room takes
// audience.
func (w *world) lobby(audience string) store.Room {
	return w.Room(w.pubSpace, w.owner, func(r *store.Room) { r.Flags.WaitingRoomAudience = audience })
}

// moderate is the room as its owner moderates it.
func (w *world) moderate(t *testing.T, r store.Room) access.ModeratedRoom {
	t.Helper()
	m, err := w.acc.Moderate(w.Ctx, w.owner, servicetest.Ref(r))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waits joins with req and tells whether the answer is a place in the
// waiting room; a waiting answer carries no media token, session or edge.
func (w *world) waits(t *testing.T, req join.Request) (join.Answer, bool) {
	t.Helper()
	ans, err := w.joins.Join(w.Ctx, req)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if ans.Waiting == nil {
		return ans, false
	}
	if ans.Waiting.Ticket == "" || ans.Waiting.ID == "" || ans.MediaToken != "" || ans.SessionToken != "" || ans.Edge.SignalURL != "" {
		t.Fatalf("a waiting answer: %+v", ans)
	}
	return ans, true
}

// TestWhoWaits: for each waitingRoomAudience, who a join makes wait:
// owners and moderators never (by user token or by link), signed-in
// participants only when everyone waits, guests (links, anonymous) unless
// nobody waits, and never a reconnect.
func TestWhoWaits(t *testing.T) {
	w := newWorld(t)
	type joiner struct {
		name string
		req  func(r store.Room) join.Request
	}
	embed := func(r store.Room) string {
		v, err := w.acc.SeeRoom(w.Ctx, w.member, servicetest.Ref(r))
		if err != nil {
			t.Fatal(err)
		}
		e, err := w.spaces.EmbedToken(w.Ctx, v, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return e.Token
	}
	joiners := []joiner{
		{"room owner", func(store.Room) join.Request { return join.Request{Bearer: w.userToken(t, w.owner)} }},
		{"space moderator", func(store.Room) join.Request { return join.Request{Bearer: w.userToken(t, w.mod)} }},
		{"moderator link", func(r store.Room) join.Request {
			return join.Request{AccessToken: w.link(t, r, space.LinkSpec{Role: store.LinkRoleModerator}).Token}
		}},
		{"signed-in participant", func(store.Room) join.Request { return join.Request{Bearer: w.userToken(t, w.member)} }},
		{"signed-in participant by embed token", func(r store.Room) join.Request { return join.Request{EmbedToken: embed(r)} }},
		{"guest link", func(r store.Room) join.Request {
			return join.Request{AccessToken: w.link(t, r, space.LinkSpec{}).Token}
		}},
		{"permanent guest link", func(r store.Room) join.Request {
			return join.Request{AccessToken: w.link(t, r, space.LinkSpec{IsPermanent: true}).Token}
		}},
		{"anonymous guest", func(store.Room) join.Request { return join.Request{} }},
	}
	want := map[string][]bool{ // in the order of joiners
		waiting.Nobody:   {false, false, false, false, false, false, false, false},
		waiting.Guests:   {false, false, false, false, false, true, true, true},
		waiting.Everyone: {false, false, false, true, true, true, true, true},
	}
	for _, audience := range waiting.Audiences() {
		r := w.lobby(audience)
		for i, j := range joiners {
			t.Run(audience+"/"+j.name, func(t *testing.T) {
				req := j.req(r)
				req.Alias = r.Alias
				if _, got := w.waits(t, req); got != want[audience][i] {
					t.Fatalf("waits %v, want %v", got, want[audience][i])
				}
			})
		}
	}

	// A reconnect never waits, even when the room came to make its
	// participant wait after the first join.
	r := w.lobby(waiting.Nobody)
	first, _ := w.waits(t, join.Request{Alias: r.Alias, AccessToken: w.link(t, r, space.LinkSpec{}).Token})
	r.Flags.WaitingRoomAudience = waiting.Everyone
	if err := w.Store.UpdateRoom(w.Ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, waits := w.waits(t, join.Request{Alias: r.Alias, SessionToken: first.SessionToken}); waits {
		t.Fatal("a reconnect was made to wait")
	}
	if _, waits := w.waits(t, join.Request{Alias: r.Alias}); !waits {
		t.Fatal("a new guest did not wait")
	}
}

// TestAdmitted: a guest's link is spent when it starts waiting; once a
// moderator admits it, its ticket buys the join answer it would have had
// (again if the answer is lost), and its session reconnects without
// waiting.
func TestAdmitted(t *testing.T) {
	w := newWorld(t)
	r := w.lobby(waiting.Guests)
	link := w.link(t, r, space.LinkSpec{Username: "Lee"})
	req := join.Request{Alias: r.Alias, AccessToken: link.Token}
	waited, _ := w.waits(t, req)
	if !strings.HasPrefix(waited.Identity, "l_") || waited.Name != "Lee" {
		t.Fatalf("waiting as %s %q", waited.Identity, waited.Name)
	}
	if _, err := w.joins.Join(w.Ctx, req); !errors.Is(err, store.ErrUsed) {
		t.Fatalf("the link again while its holder waits: %v", err)
	}
	ticket := waited.Waiting.Ticket
	still, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: r.Alias, Ticket: ticket})
	if err != nil || still.Waiting == nil || still.Waiting.ID != waited.Waiting.ID || still.MediaToken != "" {
		t.Fatalf("a poll before the admission: %+v %v", still, err)
	}
	if _, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: w.lesson.Alias, Ticket: ticket}); !matches(err, &join.WrongRoomError{}) {
		t.Fatalf("the ticket in another room: %v", err)
	}

	if _, err := w.waiting.Admit(w.Ctx, w.moderate(t, r), waited.Waiting.ID); err != nil {
		t.Fatal(err)
	}
	in, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: r.Alias, Ticket: ticket})
	if err != nil || in.Waiting != nil {
		t.Fatalf("a poll after the admission: %+v %v", in, err)
	}
	if in.Identity != waited.Identity || in.Role != grant.RoleParticipant || in.MediaToken == "" || in.SessionToken == "" ||
		in.Edge.SignalURL != testEdge.SignalURL || !in.SessionExpiresAt.Equal(link.ExpiresAt) {
		t.Fatalf("admitted: %+v", in)
	}
	again, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: r.Alias, Ticket: ticket})
	if err != nil || again.Identity != in.Identity || again.MediaToken == "" {
		t.Fatalf("the ticket again (a lost answer): %+v %v", again, err)
	}
	back, err := w.joins.Join(w.Ctx, join.Request{Alias: r.Alias, SessionToken: in.SessionToken})
	if err != nil || back.Waiting != nil || back.Identity != in.Identity {
		t.Fatalf("a reconnect of the admitted guest: %+v %v", back, err)
	}
	w.Clock.Advance(waiting.DefaultAdmitHold + time.Second)
	if _, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: r.Alias, Ticket: ticket}); !errors.Is(err, waiting.ErrGone) {
		t.Fatalf("the ticket after the admission expired: %v", err)
	}
}

// TestRefused: a refused guest hears why, and the same link (single-use
// or permanent) and the same user are refused again; an anonymous guest,
// whom nothing identifies, may come back and wait again.
func TestRefused(t *testing.T) {
	w := newWorld(t)
	r := w.lobby(waiting.Everyone)
	m := w.moderate(t, r)
	single := join.Request{Alias: r.Alias, AccessToken: w.link(t, r, space.LinkSpec{}).Token}
	permanent := join.Request{Alias: r.Alias, AccessToken: w.link(t, r, space.LinkSpec{IsPermanent: true}).Token}
	user := join.Request{Alias: r.Alias, Bearer: w.userToken(t, w.member)}
	anonymous := join.Request{Alias: r.Alias}
	for _, req := range []join.Request{single, permanent, user, anonymous} {
		ans, _ := w.waits(t, req)
		if _, err := w.waiting.Refuse(w.Ctx, m, ans.Waiting.ID, "the room is full"); err != nil {
			t.Fatal(err)
		}
		var refused *waiting.RefusedError
		if _, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: r.Alias, Ticket: ans.Waiting.Ticket}); !errors.As(err, &refused) ||
			refused.Reason != "the room is full" {
			t.Fatalf("the poll of a refused %s: %v", ans.Identity, err)
		}
	}
	for name, req := range map[string]join.Request{"single-use link": single, "permanent link": permanent, "user": user} {
		var refused *waiting.RefusedError
		if _, err := w.joins.Join(w.Ctx, req); !errors.As(err, &refused) || refused.Reason != "the room is full" {
			t.Errorf("the refused %s again: %v", name, err)
		}
	}
	if _, waits := w.waits(t, anonymous); !waits {
		t.Error("an anonymous guest was not let wait again")
	}
	// Another user is not refused for them.
	if _, waits := w.waits(t, join.Request{Alias: r.Alias, Bearer: w.userToken(t, w.outsider)}); !waits {
		t.Error("another user was not let wait")
	}
}

// TestAudienceLifted: a waiter whose room stops making it wait is let in
// at its next poll.
func TestAudienceLifted(t *testing.T) {
	w := newWorld(t)
	r := w.lobby(waiting.Guests)
	ans, _ := w.waits(t, join.Request{Alias: r.Alias, ParticipantName: "Gus"})
	r.Flags.WaitingRoomAudience = waiting.Nobody
	if err := w.Store.UpdateRoom(w.Ctx, r); err != nil {
		t.Fatal(err)
	}
	in, err := w.joins.Wait(w.Ctx, join.WaitRequest{Alias: r.Alias, Ticket: ans.Waiting.Ticket})
	if err != nil || in.Waiting != nil || in.MediaToken == "" || in.Name != "Gus" || in.Identity != ans.Identity {
		t.Fatalf("after the audience was lifted: %+v %v", in, err)
	}
}

// TestModeratorBySession: the room page's moderators act on the waiting
// room with their session credential; a participant's, another room's or
// a removed moderator's session does not.
func TestModeratorBySession(t *testing.T) {
	w := newWorld(t)
	r := w.lobby(waiting.Guests)
	ref := servicetest.Ref(r)
	mod, _ := w.waits(t, join.Request{Alias: r.Alias, AccessToken: w.link(t, r, space.LinkSpec{Role: store.LinkRoleModerator}).Token})
	m, err := w.joins.Moderator(w.Ctx, mod.SessionToken, ref)
	if err != nil || m.Room().ID != r.ID {
		t.Fatalf("a moderator's session: %v", err)
	}
	user, _ := w.waits(t, join.Request{Alias: r.Alias, Bearer: w.userToken(t, w.member)})
	if _, err := w.joins.Moderator(w.Ctx, user.SessionToken, ref); !matches(err, &access.DeniedError{}) {
		t.Fatalf("a participant's session: %v", err)
	}
	if _, err := w.joins.Moderator(w.Ctx, mod.SessionToken, servicetest.Ref(w.lesson)); !matches(err, &join.WrongRoomError{}) {
		t.Fatalf("a session for another room: %v", err)
	}
	if _, err := w.joins.Moderator(w.Ctx, w.userToken(t, w.owner), ref); err == nil {
		t.Fatal("a user token taken for a session")
	}
	w.Clock.Advance(time.Second)
	if err := w.removals.RevokeParticipant(string(r.ID), mod.Identity, w.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.joins.Moderator(w.Ctx, mod.SessionToken, ref); !errors.Is(err, join.ErrRemoved) {
		t.Fatalf("a removed moderator's session: %v", err)
	}
}
