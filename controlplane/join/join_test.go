package join_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testEdge = placement.Placement{NodeID: "edge-1", Region: "local", SignalURL: "ws://127.0.0.1:7880",
	TURNURLs: []string{"turn:127.0.0.1:3478?transport=udp"}}

// placer answers testEdge, or err while one is set; it counts its calls.
type placer struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (p *placer) Place(context.Context, placement.Request) (placement.Placement, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return placement.Placement{}, p.err
	}
	return testEdge, nil
}

func (p *placer) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

type world struct {
	*servicetest.World
	acc      *access.Service
	spaces   *space.Service
	joins    *join.Service
	placer   *placer
	removals *removal.Set
	waiting  *waiting.Service

	owner, mod, member, outsider access.Caller
	pubSpace, privSpace          store.Space
	lesson, webinar, private     store.Room // in the public space
	pubRoomPrivSpace             store.Room
}

func newWorld(t *testing.T) *world {
	w := &world{World: servicetest.New(t), placer: &placer{}}
	w.acc = w.Access()
	var err error
	if w.spaces, err = space.New(space.Options{Store: w.Store, Tokens: w.Tokens, PublicURL: "https://meet.example.test", Now: w.Clock.Now}); err != nil {
		t.Fatal(err)
	}
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	w.removals = removal.NewSet(time.Hour, 1000)
	if w.waiting, err = waiting.New(waiting.Options{Store: w.Store, Now: w.Clock.Now}); err != nil {
		t.Fatal(err)
	}
	w.joins, err = join.New(join.Options{Store: w.Store, Access: w.acc, Tokens: w.Tokens, Placer: w.placer, Removals: w.removals, Waiting: w.waiting,
		Cluster: cl, Now: w.Clock.Now, SessionTTL: time.Hour, MediaTTL: 10 * time.Minute, TURNTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.owner, w.mod, w.member, w.outsider = w.User("owner"), w.User("mod"), w.User("member"), w.User("outsider")
	w.pubSpace = w.Space(w.owner, true)
	w.AddMember(w.pubSpace, w.mod, store.SpaceRoleModerator)
	w.lesson = w.Room(w.pubSpace, w.owner, nil)
	w.webinar = w.Room(w.pubSpace, w.owner, func(r *store.Room) { r.Type = store.RoomTypeWebinar })
	w.private = w.Room(w.pubSpace, w.owner, func(r *store.Room) { r.IsPublic = false })
	w.Grant(w.private, w.member, store.RoomRoleUser)
	w.privSpace = w.Space(w.owner, false)
	w.pubRoomPrivSpace = w.Room(w.privSpace, w.owner, nil)
	return w
}

// link generates a guest link into r as its owner would.
func (w *world) link(t *testing.T, r store.Room, spec space.LinkSpec) space.Link {
	t.Helper()
	m, err := w.acc.ManageRoom(w.Ctx, w.owner, servicetest.Ref(r), "generate access links")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Username == "" {
		spec.Username = "Guest Link"
	}
	if spec.Role == "" {
		spec.Role = store.LinkRoleUser
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	l, err := w.spaces.GenerateAccess(w.Ctx, m, spec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// userToken is a REST user access token of c.
func (w *world) userToken(t *testing.T, c access.Caller) string {
	t.Helper()
	tok, _, err := w.Tokens.Issue(w.Ctx, auth.Claims{Subject: string(c.User), Audience: auth.AudUser, Type: auth.TypeAccess,
		ClientID: string(c.Client), Family: "fam"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestWhoJoinsAsWhat: the credential decides who joins and with what role.
func TestWhoJoinsAsWhat(t *testing.T) {
	w := newWorld(t)
	clientTok, _, err := w.Tokens.Issue(w.Ctx, auth.Claims{Subject: string(w.Client), Audience: auth.AudClient, Type: auth.TypeAccess,
		ClientID: string(w.Client)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign := w.UserOf(w.NewClient("other"), "stranger")
	tests := []struct {
		name     string
		room     store.Room
		req      join.Request
		identity string // prefix
		role     grant.Role
		err      error
	}{
		{"guest in a public room of a public space", w.lesson, join.Request{}, "g_", grant.RoleParticipant, nil},
		{"guest in a webinar watches", w.webinar, join.Request{}, "g_", grant.RoleViewer, nil},
		{"guest in a private room", w.private, join.Request{}, "", "", join.ErrRoomPrivate},
		{"guest in a public room of a private space", w.pubRoomPrivSpace, join.Request{}, "", "", join.ErrSpacePrivate},
		{"user link", w.private, join.Request{AccessToken: w.link(t, w.private, space.LinkSpec{}).Token}, "l_", grant.RoleParticipant, nil},
		{"moderator link", w.webinar, join.Request{AccessToken: w.link(t, w.webinar, space.LinkSpec{Role: store.LinkRoleModerator}).Token}, "l_", grant.RoleModerator, nil},
		{"link with an external user id", w.lesson, join.Request{AccessToken: w.link(t, w.lesson, space.LinkSpec{ExternalUserID: "crm-7"}).Token}, "x_crm-7", grant.RoleParticipant, nil},
		{"link for another room", w.lesson, join.Request{AccessToken: w.link(t, w.webinar, space.LinkSpec{}).Token}, "", "", &join.WrongRoomError{}},
		{"garbage link", w.lesson, join.Request{AccessToken: "a.b.c"}, "", "", auth.ErrInvalidToken},
		{"room owner's user token", w.private, join.Request{Bearer: w.userToken(t, w.owner)}, "u_", grant.RoleOwner, nil},
		{"room user's user token", w.private, join.Request{Bearer: w.userToken(t, w.member)}, "u_", grant.RoleParticipant, nil},
		{"space moderator in a public room", w.lesson, join.Request{Bearer: w.userToken(t, w.mod)}, "u_", grant.RoleModerator, nil},
		{"outsider in a private room", w.private, join.Request{Bearer: w.userToken(t, w.outsider)}, "", "", &access.DeniedError{}},
		{"client token", w.lesson, join.Request{Bearer: clientTok}, "", "", access.ErrUserToken},
		{"another client's user", w.lesson, join.Request{Bearer: w.userToken(t, foreign)}, "", "", store.ErrNotFound},
		{"no such room", store.Room{Alias: "nosuchroom"}, join.Request{}, "", "", store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Alias = tt.room.Alias
			ans, err := w.joins.Join(w.Ctx, tt.req)
			if tt.err != nil {
				if !matches(err, tt.err) {
					t.Fatalf("Join = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ans.Identity, tt.identity) || ans.Role != tt.role {
				t.Fatalf("joined as %s (%s), want %s… (%s)", ans.Identity, ans.Role, tt.identity, tt.role)
			}
			if ans.Edge.SignalURL != testEdge.SignalURL || ans.MediaToken == "" || ans.SessionToken == "" || ans.TURNUsername == "" {
				t.Fatalf("answer %+v", ans)
			}
		})
	}
}

// matches reports whether err is want, or of want's type for a typed
// error.
func matches(err, want error) bool {
	var denied *access.DeniedError
	var wrong *join.WrongRoomError
	switch want.(type) {
	case *access.DeniedError:
		return errors.As(err, &denied)
	case *join.WrongRoomError:
		return errors.As(err, &wrong)
	}
	return errors.Is(err, want)
}

// TestGuestsAdmitted: a guest join asks AdmitGuest first (the rate limit),
// and takes the name it asks for.
func TestGuestsAdmitted(t *testing.T) {
	w := newWorld(t)
	refused := errors.New("too many guests")
	_, err := w.joins.Join(w.Ctx, join.Request{Alias: w.private.Alias, AdmitGuest: func() error { return refused }})
	if !errors.Is(err, refused) {
		t.Fatalf("a refused guest: %v", err)
	}
	asked := false
	ans, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, ParticipantName: "Gus", AdmitGuest: func() error { asked = true; return nil }})
	if err != nil || !asked || ans.Name != "Gus" {
		t.Fatalf("guest: %+v, %v (asked %v)", ans, err, asked)
	}
	// A credential is not a guest's: the gate is not asked.
	_, err = w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, Bearer: w.userToken(t, w.member),
		AdmitGuest: func() error { return refused }})
	if err != nil {
		t.Fatalf("a user was taken for a guest: %v", err)
	}
}

// TestPlaceBeforeSpending: a refused placement leaves a single-use link
// and an embed token usable; once spent, they are store.ErrUsed.
func TestPlaceBeforeSpending(t *testing.T) {
	w := newWorld(t)
	link := w.link(t, w.lesson, space.LinkSpec{})
	v, err := w.acc.SeeRoom(w.Ctx, w.member, servicetest.Ref(w.private))
	if err != nil {
		t.Fatal(err)
	}
	embed, err := w.spaces.EmbedToken(w.Ctx, v, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		req   join.Request
		spent string
	}{
		{"link", join.Request{Alias: w.lesson.Alias, AccessToken: link.Token}, "access_link"},
		{"embed token", join.Request{Alias: w.private.Alias, EmbedToken: embed.Token}, "embed_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w.placer.fail(placement.ErrNoEdge)
			if _, err := w.joins.Join(w.Ctx, tt.req); !errors.Is(err, placement.ErrNoEdge) {
				t.Fatalf("with no edge: %v", err)
			}
			w.placer.fail(nil)
			if _, err := w.joins.Join(w.Ctx, tt.req); err != nil {
				t.Fatalf("after a refused placement: %v", err)
			}
			_, err := w.joins.Join(w.Ctx, tt.req)
			var ee *access.EntityError
			if !errors.Is(err, store.ErrUsed) || !errors.As(err, &ee) || ee.Code != tt.spent {
				t.Fatalf("second use: %v", err)
			}
		})
	}
}

// TestOneWinner: of concurrent joins with one single-use link exactly one
// is admitted.
func TestOneWinner(t *testing.T) {
	w := newWorld(t)
	link := w.link(t, w.lesson, space.LinkSpec{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, AccessToken: link.Token})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrUsed):
			t.Fatalf("a loser got %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d winners", won)
	}
}

// TestSessionBounds: a session never outlives what admitted the
// participant, and a rejoin cannot renew it; the media token ends no later
// than the session.
func TestSessionBounds(t *testing.T) {
	w := newWorld(t)
	link := w.link(t, w.lesson, space.LinkSpec{TTL: 10 * time.Minute, IsPermanent: true})
	first, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, AccessToken: link.Token})
	if err != nil {
		t.Fatal(err)
	}
	if !first.SessionExpiresAt.Equal(link.ExpiresAt) {
		t.Fatalf("session ends %v, the link %v", first.SessionExpiresAt, link.ExpiresAt)
	}
	w.Clock.Advance(8 * time.Minute)
	again, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, SessionToken: first.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	if again.Identity != first.Identity || again.SessionExpiresAt.After(first.SessionExpiresAt) || again.MediaTokenExpiresAt.After(again.SessionExpiresAt) {
		t.Fatalf("rejoin: %+v", again)
	}
	w.Clock.Advance(3 * time.Minute)
	if _, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, SessionToken: first.SessionToken}); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("an expired session: %v", err)
	}
}

// TestRejoin derives the role again from what holds now.
func TestRejoin(t *testing.T) {
	w := newWorld(t)
	user, err := w.joins.Join(w.Ctx, join.Request{Alias: w.private.Alias, Bearer: w.userToken(t, w.member)})
	if err != nil {
		t.Fatal(err)
	}
	guest, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, SessionToken: user.SessionToken}); !matches(err, &join.WrongRoomError{}) {
		t.Fatalf("a session in another room: %v", err)
	}
	w.Grant(w.private, w.member, store.RoomRoleModerator)
	if again, err := w.joins.Join(w.Ctx, join.Request{Alias: w.private.Alias, SessionToken: user.SessionToken}); err != nil || again.Role != grant.RoleModerator {
		t.Fatalf("a promoted user rejoins as %v, %v", again.Role, err)
	}
	closed := w.lesson
	closed.IsPublic = false
	if err := w.Store.UpdateRoom(w.Ctx, closed); err != nil {
		t.Fatal(err)
	}
	if _, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, SessionToken: guest.SessionToken}); !errors.Is(err, join.ErrRoomPrivate) {
		t.Fatalf("a guest rejoins a room made private: %v", err)
	}
	link := w.link(t, w.webinar, space.LinkSpec{})
	linked, err := w.joins.Join(w.Ctx, join.Request{Alias: w.webinar.Alias, AccessToken: link.Token})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Store.DeleteUser(w.Ctx, w.Client, w.member.User); err != nil {
		t.Fatal(err)
	}
	if _, err := w.joins.Join(w.Ctx, join.Request{Alias: w.private.Alias, SessionToken: user.SessionToken}); !errors.Is(err, join.ErrAdmissionGone) {
		t.Fatalf("the session of a deleted user: %v", err)
	}
	if again, err := w.joins.Join(w.Ctx, join.Request{Alias: w.webinar.Alias, SessionToken: linked.SessionToken}); err != nil || again.Role != grant.RoleViewer {
		t.Fatalf("a link's session rejoins as %v, %v", again.Role, err)
	}
}

// TestRemoved: a moderator's removal bars the credentials issued before it
// (and a user token) until a new credential is issued; for a permanent
// link, the removal of any identity it admitted bars the link.
func TestRemoved(t *testing.T) {
	w := newWorld(t)
	room := string(w.lesson.ID)
	link := w.link(t, w.lesson, space.LinkSpec{})
	byLink, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, AccessToken: link.Token})
	if err != nil {
		t.Fatal(err)
	}
	userTok := w.userToken(t, w.member)
	byUser, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, Bearer: userTok})
	if err != nil {
		t.Fatal(err)
	}
	perm := w.link(t, w.lesson, space.LinkSpec{IsPermanent: true})
	byPerm, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, AccessToken: perm.Token})
	if err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(time.Second)
	for _, id := range []string{byLink.Identity, byUser.Identity, byPerm.Identity} {
		if err := w.removals.RevokeParticipant(room, id, w.Clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w.Clock.Advance(time.Second)
	for name, req := range map[string]join.Request{
		"the link's session":   {Alias: w.lesson.Alias, SessionToken: byLink.SessionToken},
		"the user token":       {Alias: w.lesson.Alias, Bearer: userTok},
		"the user's session":   {Alias: w.lesson.Alias, SessionToken: byUser.SessionToken},
		"the permanent link":   {Alias: w.lesson.Alias, AccessToken: perm.Token},
		"the permanent link's": {Alias: w.lesson.Alias, SessionToken: byPerm.SessionToken},
	} {
		if _, err := w.joins.Join(w.Ctx, req); !errors.Is(err, join.ErrRemoved) {
			t.Errorf("%s after the removal: %v", name, err)
		}
	}
	// Invited again: a link issued after the removal admits.
	if _, err := w.joins.Join(w.Ctx, join.Request{Alias: w.lesson.Alias, AccessToken: w.link(t, w.lesson, space.LinkSpec{IsPermanent: true}).Token}); err != nil {
		t.Fatalf("a new link after the removal: %v", err)
	}
}

// TestRegions: the placer's region when no region list is given.
func TestRegions(t *testing.T) {
	w := newWorld(t)
	if got := w.joins.Regions(w.Ctx); len(got) != 1 || got[0].Name != "local" {
		t.Fatalf("Regions = %+v", got)
	}
	w.placer.fail(placement.ErrNoEdge)
	if got := w.joins.Regions(w.Ctx); got == nil || len(got) != 0 {
		t.Fatalf("Regions with no edge = %#v", got)
	}
}
