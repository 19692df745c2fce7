package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// Concurrent is how many goroutines race for one single-use invite or link.
const Concurrent = 200

// Run runs the contract suite. open must return a fresh, empty store and
// register its Close with t.Cleanup; it is called once per subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(f *fx)
	}{
		{"Clients", testClients},
		{"Users", testUsers},
		{"UserEmailConflict", testUserEmailConflict},
		{"PersonalTokens", testPersonalTokens},
		{"Spaces", testSpaces},
		{"SpaceList", testSpaceList},
		{"Rooms", testRooms},
		{"RoomList", testRoomList},
		{"RoomMembers", testRoomMembers},
		{"VisibleRooms", testVisibleRooms},
		{"Invites", testInvites},
		{"InviteNeverLowersRole", testInviteNeverLowersRole},
		{"InviteConcurrent", testInviteConcurrent},
		{"AccessLinks", testAccessLinks},
		{"AccessLinkPermanent", testAccessLinkPermanent},
		{"AccessLinkExpired", testAccessLinkExpired},
		{"AccessLinkConcurrent", testAccessLinkConcurrent},
		{"Webhooks", testWebhooks},
		{"SigningKeys", testSigningKeys},
		{"TokenRevocations", testTokenRevocations},
		{"TokenRevocationsCommitOrder", testTokenRevocationsCommitOrder},
		{"RevocationsOfDeletionsAndRotation", testRevocationsOfDeletionsAndRotation},
		{"SpendToken", testSpendToken},
		{"SpendTokenConcurrent", testSpendTokenConcurrent},
		{"RateLimits", testRateLimits},
		{"Changes", testChanges},
		{"Calls", testCalls},
		{"CallsSilentEdge", testCallsSilentEdge},
		{"CallsConcurrent", testCallsConcurrent},
		{"CallsWithoutWebhook", testCallsWithoutWebhook},
		{"Records", testRecords},
		{"RecordsLost", testRecordsLost},
		{"Deliveries", testDeliveries},
		{"DeliveriesConcurrentClaims", testDeliveriesConcurrentClaims},
		{"Waiting", testWaiting},
		{"WaitingConcurrentDecisions", testWaitingConcurrentDecisions},
		{"WaitingChanges", testWaitingChanges},
		{"CascadeSpace", testCascadeSpace},
		{"CascadeRoom", testCascadeRoom},
		{"CascadeUser", testCascadeUser},
		{"CascadeClient", testCascadeClient},
		{"TenantIsolation", testTenantIsolation},
		{"CanceledContext", testCanceledContext},
		{"PingClose", testPingClose},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			f := &fx{t: t, ctx: ctx, s: open(t), now: time.Now().UTC().Truncate(time.Millisecond)}
			tc.fn(f)
		})
	}
}

// fx is one subtest's fixture: the store, a context with a deadline, and a
// clock that hands out distinct, increasing creation times.
type fx struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
	now time.Time
	seq int
}

// at returns a creation time 1 ms after the previous one, so that
// newest-first order never depends on ties.
func (f *fx) at() time.Time {
	f.seq++
	return f.now.Add(time.Duration(f.seq) * time.Millisecond)
}

func newID(prefix string) string { return prefix + "_" + strings.ToLower(rand.Text()) }

func ptr[T any](v T) *T { return &v }

// must fails the test on err.
func (f *fx) must(err error, what string) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

// is fails the test unless errors.Is(err, want).
func (f *fx) is(err, want error, what string) {
	f.t.Helper()
	if !errors.Is(err, want) {
		f.t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// eq compares after normalising times to UTC milliseconds and empty slices
// to nil.
func (f *fx) eq(got, want any, what string) {
	f.t.Helper()
	g, w := normalize(got), normalize(want)
	if !reflect.DeepEqual(g, w) {
		f.t.Fatalf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func normalize(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	cp := reflect.New(rv.Type()).Elem()
	cp.Set(rv)
	normValue(cp)
	return cp.Interface()
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			v.Set(reflect.ValueOf(time.UnixMilli(t.UnixMilli()).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				normValue(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			n := reflect.New(v.Type().Elem())
			n.Elem().Set(v.Elem())
			normValue(n.Elem())
			v.Set(n)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		for i := range n.Len() {
			normValue(n.Index(i))
		}
		v.Set(n)
	}
}

// Entity makers: each stores a complete entity and returns it.

func (f *fx) client() store.Client {
	f.t.Helper()
	c := store.Client{ID: store.ClientID(newID("cl")), Name: "client " + newID("n"), SecretHash: "hash-" + newID("s"), CreatedAt: f.at()}
	f.must(f.s.CreateClient(f.ctx, c), "create client")
	return c
}

func (f *fx) user(c store.ClientID) store.User {
	f.t.Helper()
	id := newID("u")
	u := store.User{ID: store.UserID(id), ClientID: c, Email: id + "@Example.com", Username: "name " + id,
		Phone: "+15550100", PasswordHash: "$argon2id$" + id, CreatedAt: f.at()}
	f.must(f.s.CreateUser(f.ctx, u), "create user")
	return u
}

func (f *fx) token(c store.ClientID, u store.UserID) store.PersonalToken {
	f.t.Helper()
	t := store.PersonalToken{ID: newID("pt"), ClientID: c, UserID: u, Name: "app", TokenHash: newID("sha"), CreatedAt: f.at()}
	f.must(f.s.CreatePersonalToken(f.ctx, t), "create personal token")
	return t
}

func (f *fx) space(c store.ClientID, owner store.UserID) store.Space {
	f.t.Helper()
	at := f.at()
	sp := store.Space{ID: store.SpaceID(newID("sp")), ClientID: c, OwnerID: owner, Name: "space", Description: "about",
		Logo: "https://logo.example/x.png", IsPublic: true, AllowedOrigins: []string{"https://app.example"},
		CreatedAt: at, UpdatedAt: at}
	f.must(f.s.CreateSpace(f.ctx, sp), "create space")
	return sp
}

func (f *fx) room(c store.ClientID, space store.SpaceID, owner store.UserID) store.Room {
	f.t.Helper()
	at := f.at()
	r := store.Room{ID: store.RoomID(newID("rm")), ClientID: c, SpaceID: space, OwnerID: owner,
		Alias: newID("a"), ChannelID: newID("ch"), Name: "room", Type: store.RoomTypeLesson, IsPublic: true,
		MaxParticipants: 12,
		Flags: store.RoomFlags{IsChatAllowed: true, IsScreensharingAllowed: true, IsCameraPublishingAllowed: true,
			IsMicrophonePublishingAllowed: true, IsHandRaisingAllowed: true, WaitingRoomAudience: "nobody",
			RedirectURL: "https://after.example/"},
		CreatedAt: at, UpdatedAt: at}
	f.must(f.s.CreateRoom(f.ctx, r), "create room")
	return r
}

func (f *fx) invite(c store.ClientID, space store.SpaceID, by store.UserID, role store.SpaceRole, expires *time.Time) store.Invite {
	f.t.Helper()
	inv := store.Invite{ID: newID("inv"), ClientID: c, SpaceID: space, Role: role, CreatedBy: by, CreatedAt: f.at(), ExpiresAt: expires}
	f.must(f.s.CreateInvite(f.ctx, inv), "create invite")
	return inv
}

func (f *fx) link(r store.Room, permanent bool, expires time.Time) store.AccessLink {
	f.t.Helper()
	l := store.AccessLink{ID: newID("lk"), ClientID: r.ClientID, SpaceID: r.SpaceID, RoomID: r.ID, Username: "Guest",
		Role: store.LinkRoleUser, ExternalUserID: "ext-u", ExternalMeetingID: "ext-m", Email: "g@example.com",
		Phone: "+15550101", IsPermanent: permanent, CreatedBy: r.OwnerID, CreatedAt: f.at(), ExpiresAt: expires}
	f.must(f.s.CreateAccessLink(f.ctx, l), "create access link")
	return l
}

func (f *fx) webhook(c store.ClientID, space store.SpaceID) store.Webhook {
	f.t.Helper()
	at := f.at()
	w := store.Webhook{ClientID: c, SpaceID: space, URL: "https://hooks.example/" + newID("h"), Secret: newID("sec"),
		IsActive: true, CreatedAt: at, UpdatedAt: at}
	f.must(f.s.PutWebhook(f.ctx, w), "put webhook")
	return w
}

// race runs fn from n goroutines released together and returns their
// errors, indexed by goroutine.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors and errors matching want; anything else fails.
func (f *fx) tally(errs []error, want error) (wins, losses int) {
	f.t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, want):
			losses++
		default:
			f.t.Fatalf("caller %d: unexpected error %v", i, err)
		}
	}
	return wins, losses
}

func ids[T any](items []T, id func(T) string) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = id(it)
	}
	return fmt.Sprint(s)
}
