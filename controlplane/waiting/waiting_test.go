package waiting_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWaits: who waits, for each audience.
func TestWaits(t *testing.T) {
	type who struct {
		name    string
		role    grant.Role
		account bool
	}
	people := []who{
		{"owner", grant.RoleOwner, true},
		{"moderator", grant.RoleModerator, true},
		{"moderator by link", grant.RoleModerator, false},
		{"signed-in participant", grant.RoleParticipant, true},
		{"guest by link", grant.RoleParticipant, false},
		{"anonymous guest", grant.RoleParticipant, false},
	}
	want := map[string][]bool{ // in the order of people
		waiting.Nobody:   {false, false, false, false, false, false},
		"":               {false, false, false, false, false, false},
		waiting.Guests:   {false, false, false, false, true, true},
		waiting.Everyone: {false, false, false, true, true, true},
	}
	for audience, waits := range want {
		for i, p := range people {
			if got := waiting.Waits(audience, p.role, p.account); got != waits[i] {
				t.Errorf("audience %q, %s: waits %v, want %v", audience, p.name, got, waits[i])
			}
		}
	}
	for _, a := range waiting.Audiences() {
		if !waiting.ValidAudience(a) {
			t.Errorf("%q is not valid", a)
		}
	}
	for _, a := range []string{"", "Guests", "all", "moderators"} {
		if waiting.ValidAudience(a) {
			t.Errorf("%q is valid", a)
		}
	}
}

type world struct {
	*servicetest.World
	wait  *waiting.Service
	room  store.Room
	other store.Room
	mod   access.ModeratedRoom
}

func newWorld(t *testing.T) *world {
	w := &world{World: servicetest.New(t)}
	var err error
	if w.wait, err = waiting.New(waiting.Options{Store: w.Store, Now: w.Clock.Now}); err != nil {
		t.Fatal(err)
	}
	owner := w.User("owner")
	sp := w.Space(owner, true)
	w.room = w.Room(sp, owner, func(r *store.Room) { r.Flags.WaitingRoomAudience = waiting.Guests })
	w.other = w.Room(sp, owner, nil)
	if w.mod, err = w.Access().Moderate(w.Ctx, owner, servicetest.Ref(w.room)); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) enter(t *testing.T, name string) (store.WaitingEntry, string) {
	t.Helper()
	e, ticket, err := w.wait.Enter(w.Ctx, waiting.Newcomer{Room: w.room, Identity: "g_" + name, Name: name, Role: grant.RoleParticipant})
	if err != nil {
		t.Fatal(err)
	}
	return e, ticket
}

func (w *world) listed(t *testing.T) []string {
	t.Helper()
	es, err := w.wait.List(w.Ctx, w.mod)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name
	}
	return names
}

func eq(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPresence: a waiter is listed while its page asks, goes at once when
// it leaves for good, and after the reconnect grace when its page closes;
// a page that comes back within the grace keeps its place.
func TestPresence(t *testing.T) {
	w := newWorld(t)
	_, ann := w.enter(t, "Ann")
	w.Clock.Advance(time.Second)
	_, ben := w.enter(t, "Ben")
	w.Clock.Advance(time.Second)
	_, cat := w.enter(t, "Cat")
	if got := w.listed(t); !eq(got, []string{"Ann", "Ben", "Cat"}) {
		t.Fatalf("listed %v", got)
	}

	// Ann leaves for good; Ben's page closes; Cat's reloads and asks
	// again within the grace.
	if err := w.wait.Leave(w.Ctx, ann, false); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []string{ben, cat} {
		if err := w.wait.Leave(w.Ctx, tk, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.listed(t); !eq(got, []string{"Ben", "Cat"}) {
		t.Fatalf("after Ann left: %v", got)
	}
	if _, err := w.wait.Await(w.Ctx, nil, ann, 0); !errors.Is(err, waiting.ErrGone) {
		t.Fatalf("Ann's ticket after leaving: %v", err)
	}
	w.Clock.Advance(waiting.DefaultReconnect / 2)
	if e, err := w.wait.Await(w.Ctx, nil, cat, 0); err != nil || e.State != store.WaitingStateWaiting {
		t.Fatalf("Cat back within the grace: %+v %v", e, err)
	}
	w.Clock.Advance(waiting.DefaultReconnect)
	if got := w.listed(t); !eq(got, []string{"Cat"}) {
		t.Fatalf("after the grace: %v", got)
	}
	if _, err := w.wait.Await(w.Ctx, nil, ben, 0); !errors.Is(err, waiting.ErrGone) {
		t.Fatalf("Ben's ticket after the grace: %v", err)
	}

	// A page that stops asking goes after Presence; one that asks stays.
	_, dan := w.enter(t, "Dan")
	w.Clock.Advance(waiting.DefaultPresence - time.Second)
	if _, err := w.wait.Await(w.Ctx, nil, dan, 0); err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(2 * time.Second)
	if got := w.listed(t); !eq(got, []string{"Dan"}) {
		t.Fatalf("after Cat's page stopped asking: %v", got)
	}
	if n, err := w.wait.Prune(w.Ctx); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want Ben's and Cat's expired entries (Ann's was deleted)", n, err)
	}
}

// TestDecisions: admit and refuse one, twice, the other way, unknown
// entries, another room's, all at once.
func TestDecisions(t *testing.T) {
	w := newWorld(t)
	ann, annTicket := w.enter(t, "Ann")
	ben, benTicket := w.enter(t, "Ben")

	e, err := w.wait.Admit(w.Ctx, w.mod, ann.ID)
	if err != nil || e.State != store.WaitingStateAdmitted {
		t.Fatalf("admit: %+v %v", e, err)
	}
	if e, err = w.wait.Admit(w.Ctx, w.mod, ann.ID); err != nil || e.State != store.WaitingStateAdmitted {
		t.Fatalf("admit again: %+v %v", e, err)
	}
	if _, err = w.wait.Refuse(w.Ctx, w.mod, ann.ID, "no"); !errors.Is(err, waiting.ErrDecided) {
		t.Fatalf("refuse an admitted entry: %v", err)
	}
	if e, err = w.wait.Refuse(w.Ctx, w.mod, ben.ID, "full today"); err != nil || e.State != store.WaitingStateRefused || e.Reason != "full today" {
		t.Fatalf("refuse: %+v %v", e, err)
	}
	if _, err = w.wait.Admit(w.Ctx, w.mod, ben.ID); !errors.Is(err, waiting.ErrDecided) {
		t.Fatalf("admit a refused entry: %v", err)
	}
	if _, err = w.wait.Admit(w.Ctx, w.mod, "0123456789abcdef01234567"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("admit an unknown entry: %v", err)
	}

	// The waiters hear of it: an admitted ticket, a refusal with its reason.
	if e, err := w.wait.Await(w.Ctx, nil, annTicket, 0); err != nil || e.State != store.WaitingStateAdmitted {
		t.Fatalf("Ann's poll: %+v %v", e, err)
	}
	var refused *waiting.RefusedError
	if _, err := w.wait.Await(w.Ctx, nil, benTicket, 0); !errors.As(err, &refused) || refused.Reason != "full today" {
		t.Fatalf("Ben's poll: %v", err)
	}
	// Leaving does not undo a refusal.
	if err := w.wait.Leave(w.Ctx, benTicket, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.wait.Await(w.Ctx, nil, benTicket, 0); !errors.As(err, &refused) {
		t.Fatalf("Ben's poll after leaving: %v", err)
	}

	// An entry whose page is gone cannot be decided; another room's
	// moderator does not see this room's entries.
	gone, goneTicket := w.enter(t, "Gone")
	if err := w.wait.Leave(w.Ctx, goneTicket, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.wait.Admit(w.Ctx, w.mod, gone.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("admit a gone entry: %v", err)
	}
	cat, _ := w.enter(t, "Cat")
	otherMod, err := w.Access().ModerateWaiting(w.Ctx, w.ClientCaller(), servicetest.Ref(w.other))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.wait.Admit(w.Ctx, otherMod, cat.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("admit from another room: %v", err)
	}

	// All at once, oldest first.
	w.Clock.Advance(time.Second)
	w.enter(t, "Dan")
	all, err := w.wait.RefuseAll(w.Ctx, w.mod, "")
	if err != nil || len(all) != 2 || all[0].Name != "Cat" || all[1].Name != "Dan" {
		t.Fatalf("refuse all: %+v %v", all, err)
	}
	if all, err = w.wait.AdmitAll(w.Ctx, w.mod); err != nil || len(all) != 0 {
		t.Fatalf("admit all of nobody: %+v %v", all, err)
	}
	if got := w.listed(t); len(got) != 0 {
		t.Fatalf("still listed: %v", got)
	}
}

// TestRefusalKept: a refusal is found by link until the link expires, by
// user for RefusalHold at most the user's sign-in, and an admitted ticket
// buys a join for AdmitHold only.
func TestRefusalKept(t *testing.T) {
	w := newWorld(t)
	now := w.Clock.Now()
	enter := func(n waiting.Newcomer) store.WaitingEntry {
		n.Room, n.Role = w.room, grant.RoleParticipant
		e, _, err := w.wait.Enter(w.Ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	byLink := enter(waiting.Newcomer{Identity: "l_link1", Name: "L", Link: "link1", Until: now.Add(48 * time.Hour)})
	byUser := enter(waiting.Newcomer{Identity: "u_user1", Name: "U", User: "user1", Until: now.Add(time.Hour)})
	admitted, ticket, err := w.wait.Enter(w.Ctx, waiting.Newcomer{Room: w.room, Identity: "g_x", Name: "G", Role: grant.RoleParticipant})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.WaitingEntry{byLink, byUser} {
		if _, err := w.wait.Refuse(w.Ctx, w.mod, e.ID, "no"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.wait.Admit(w.Ctx, w.mod, admitted.ID); err != nil {
		t.Fatal(err)
	}
	refused := func(link string, user store.UserID) bool {
		err := w.wait.Refused(w.Ctx, w.room, link, user)
		var re *waiting.RefusedError
		if err != nil && !errors.As(err, &re) {
			t.Fatal(err)
		}
		return err != nil
	}
	if !refused("link1", "") || !refused("", "user1") || refused("link2", "") || refused("", "user2") {
		t.Fatal("refusals by link and by user")
	}
	if err := w.wait.Refused(w.Ctx, w.other, "link1", "user1"); err != nil {
		t.Fatalf("refused in another room: %v", err)
	}
	w.Clock.Advance(waiting.DefaultAdmitHold + time.Second)
	if _, err := w.wait.Await(w.Ctx, nil, ticket, 0); !errors.Is(err, waiting.ErrGone) {
		t.Fatalf("an admitted ticket after AdmitHold: %v", err)
	}
	w.Clock.Advance(time.Hour)
	if !refused("link1", "") || refused("", "user1") {
		t.Fatal("after the user's sign-in ended: the link's refusal stays, the user's goes")
	}
	w.Clock.Advance(48 * time.Hour)
	if refused("link1", "") {
		t.Fatal("the link's refusal outlived the link")
	}
}

// TestPollsWake: a waiter's poll and a moderator's list poll return as
// soon as something changes, well before their wait runs out; Changed
// (another replica's write) wakes them too.
func TestPollsWake(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(w.Ctx, 30*time.Second)
	defer cancel()
	first, v, err := w.wait.Watch(ctx, nil, w.mod, "", time.Second)
	if err != nil || len(first) != 0 {
		t.Fatalf("first watch: %+v %v", first, err)
	}

	// A moderator's poll wakes when someone enters.
	type watched struct {
		es  []store.WaitingEntry
		err error
	}
	wc := make(chan watched, 1)
	go func() {
		es, _, err := w.wait.Watch(ctx, nil, w.mod, v, waiting.MaxPoll)
		wc <- watched{es, err}
	}()
	e, ticket := w.enter(t, "Ann")
	got := <-wc
	if got.err != nil || len(got.es) != 1 || got.es[0].ID != e.ID {
		t.Fatalf("watch after an entry: %+v %v", got.es, got.err)
	}

	// A waiter's poll wakes when admitted.
	type awaited struct {
		e   store.WaitingEntry
		err error
	}
	ac := make(chan awaited, 1)
	go func() {
		e, err := w.wait.Await(ctx, nil, ticket, waiting.MaxPoll)
		ac <- awaited{e, err}
	}()
	if _, err := w.wait.Admit(w.Ctx, w.mod, e.ID); err != nil {
		t.Fatal(err)
	}
	if a := <-ac; a.err != nil || a.e.State != store.WaitingStateAdmitted {
		t.Fatalf("the waiter's poll after the admission: %+v %v (a poll that was not woken answers waiting)", a.e, a.err)
	}

	// Another replica's change: the store changes behind the polling
	// service's back, once the poll has read the entry waiting (its
	// second read: the first comes before it records the page's visit);
	// only Changed can wake it then.
	reads := make(chan store.WaitingState, 16)
	polling, err := waiting.New(waiting.Options{Store: spy{w.Store, reads}, Now: w.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, ben := w.enter(t, "Ben")
	go func() {
		e, err := polling.Await(ctx, nil, ben, 5*time.Second)
		ac <- awaited{e, err}
	}()
	for range 2 {
		if st := <-reads; st != store.WaitingStateWaiting {
			t.Fatalf("the poll read %s", st)
		}
	}
	if _, err := w.wait.AdmitAll(w.Ctx, w.mod); err != nil {
		t.Fatal(err)
	}
	polling.Changed()
	if a := <-ac; a.err != nil || a.e.State != store.WaitingStateAdmitted {
		t.Fatalf("the waiter's poll after another replica's admission: %+v %v (a poll that was not woken answers waiting)", a.e, a.err)
	}
}

// spy tells each entry state that GetWaitingByTicket reads.
type spy struct {
	store.WaitingRooms
	reads chan<- store.WaitingState
}

func (s spy) GetWaitingByTicket(ctx context.Context, hash string) (store.WaitingEntry, error) {
	e, err := s.WaitingRooms.GetWaitingByTicket(ctx, hash)
	if err == nil {
		s.reads <- e.State
	}
	return e, err
}
