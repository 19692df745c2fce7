package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// fakeRevocations is a store.Tokens holding revocations in memory.
type fakeRevocations struct {
	mu    sync.Mutex
	l     []store.TokenRevocation
	reads int
	fail  error
}

func (f *fakeRevocations) RevokeTokens(_ context.Context, v store.TokenRevocation) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v.Seq = int64(len(f.l) + 1)
	f.l = append(f.l, v)
	return v.Seq, nil
}

func (f *fakeRevocations) ListTokenRevocations(_ context.Context, after int64, now time.Time) ([]store.TokenRevocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.fail != nil {
		return nil, f.fail
	}
	var out []store.TokenRevocation
	for _, v := range f.l {
		if v.Seq > after && v.Until.After(now) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (f *fakeRevocations) SpendToken(context.Context, store.SpentToken, *store.TokenRevocation) error {
	return nil
}

func TestDenylist(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	st := &fakeRevocations{}
	d := NewDenylist(st, clock, time.Second)
	ctx := context.Background()
	issued := now.Add(-time.Minute)
	tok := func(aud, sub, jti, family string) Claims {
		return Claims{Audience: aud, Subject: sub, ClientID: "c1", ID: jti, Family: family, IssuedAt: issued.Unix(), IssuedAtMilli: issued.UnixMilli()}
	}
	revoked := func(c Claims) bool {
		t.Helper()
		bad, err := d.Revoked(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return bad
	}
	userTok := tok(AudUser, "u1", "j1", "f1")
	clientTok := tok(AudClient, "c1", "j2", "f2")
	session := Claims{Audience: AudSession, Subject: "u_u1", User: "u1", ClientID: "c1", ID: "j3", IssuedAtMilli: issued.UnixMilli()}
	if revoked(userTok) || revoked(clientTok) || revoked(session) {
		t.Fatal("revoked before any revocation")
	}
	until := now.Add(time.Hour)
	at := issued.Add(time.Millisecond) // just after the tokens were issued
	for _, v := range []store.TokenRevocation{
		{Kind: store.RevokeClientTokens, ClientID: "c1", Subject: "c1", IssuedBefore: &at, CreatedAt: now, Until: until},
		{Kind: store.RevokeUser, ClientID: "c2", Subject: "u1", CreatedAt: now, Until: until}, // another client's u1
	} {
		if _, err := st.RevokeTokens(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if revoked(clientTok) {
		t.Fatal("the copy was read again before the sync interval passed")
	}
	now = now.Add(time.Second)
	if !revoked(clientTok) {
		t.Fatal("a client token issued before the rotation is not revoked")
	}
	if revoked(userTok) || revoked(session) {
		t.Fatal("the rotation or another client's user revocation barred a user's token")
	}
	later := clientTok
	later.IssuedAtMilli = at.Add(time.Millisecond).UnixMilli() // same second, just after
	if revoked(later) {
		t.Fatal("a client token issued just after the rotation is revoked")
	}

	// Applied at once by Add; a user revocation bars the user's sessions too.
	d.Add(store.TokenRevocation{Kind: store.RevokeUser, ClientID: "c1", Subject: "u1", CreatedAt: now, Until: until})
	if !revoked(userTok) || !revoked(session) {
		t.Fatal("a user revocation does not bar the user's token and session")
	}
	d.Add(store.TokenRevocation{Kind: store.RevokeFamily, ClientID: "c1", Subject: "f9", CreatedAt: now, Until: until})
	if !revoked(tok(AudUser, "u9", "j9", "f9")) || revoked(tok(AudUser, "u9", "j9", "f8")) {
		t.Fatal("family revocation")
	}
	d.Add(store.TokenRevocation{Kind: store.RevokeToken, ClientID: "c1", Subject: "j8", CreatedAt: now, Until: until})
	if !revoked(tok(AudUser, "u8", "j8", "")) {
		t.Fatal("token revocation")
	}

	// Past its Until a revocation is forgotten.
	now = until.Add(time.Second)
	if revoked(userTok) {
		t.Fatal("a revocation past its Until still bars")
	}

	// Reads stay at most one per interval, whatever the number of checks.
	reads := st.reads
	for range 100 {
		revoked(userTok)
	}
	if st.reads != reads {
		t.Fatalf("%d reads for 100 checks within the interval", st.reads-reads)
	}
	// When the store cannot be read, the denylist cannot tell: an error.
	st.fail = errors.New("down")
	now = now.Add(time.Second)
	if _, err := d.Revoked(ctx, userTok); err == nil {
		t.Fatal("Revoked answered without being able to read the revocations")
	}
	var none *Denylist
	if bad, err := none.Revoked(ctx, userTok); bad || err != nil {
		t.Fatal("a nil denylist refuses")
	}
}

// TestDenylistBars: a participant removal read from the store bars that
// identity's credentials issued up to it, and any identity under a
// prefix; later credentials and other rooms pass; it ends at Until.
func TestDenylistBars(t *testing.T) {
	st := &fakeRevocations{}
	now := time.Unix(1_800_000_000, 0)
	at := now.Add(-time.Minute)
	if _, err := st.RevokeTokens(context.Background(), store.TokenRevocation{Kind: store.RevokeParticipant, Subject: "room1/l_abc-2",
		IssuedBefore: &at, CreatedAt: at, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d := NewDenylist(st, func() time.Time { return now }, time.Second)
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		subject string
		prefix  bool
		issued  time.Time
		at      time.Time
		want    bool
	}{
		{"issued before the removal", "room1/l_abc-2", false, at.Add(-time.Second), now, true},
		{"no issue time (a user token)", "room1/l_abc-2", false, time.Time{}, now, true},
		{"issued after the removal", "room1/l_abc-2", false, at.Add(time.Second), now, false},
		{"another identity", "room1/l_abc-3", false, time.Time{}, now, false},
		{"another room", "room2/l_abc-2", false, time.Time{}, now, false},
		{"the link's prefix", "room1/l_abc-", true, at, now, true},
		{"another prefix", "room1/l_abd-", true, at, now, false},
		{"past Until", "room1/l_abc-2", false, time.Time{}, now.Add(2 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bars := d.Bars
			if tc.prefix {
				bars = d.BarsPrefix
			}
			if got := bars(store.RevokeParticipant, "", tc.subject, tc.issued, tc.at); got != tc.want {
				t.Fatalf("bars = %v, want %v", got, tc.want)
			}
		})
	}
	var nilList *Denylist
	if nilList.Bars(store.RevokeParticipant, "", "room1/l_abc-2", time.Time{}, now) {
		t.Fatal("a nil denylist bars")
	}
}
