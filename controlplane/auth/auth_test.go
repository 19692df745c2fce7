package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memKeys is an in-memory store.SigningKeys for these tests.
type memKeys struct {
	mu    sync.Mutex
	keys  []store.SigningKey
	lists int
}

func (m *memKeys) AddSigningKey(_ context.Context, k store.SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.keys {
		if o.ID == k.ID {
			return store.ErrConflict
		}
	}
	m.keys = append([]store.SigningKey{k}, m.keys...)
	return nil
}

func (m *memKeys) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	return append([]store.SigningKey(nil), m.keys...), nil
}

func (m *memKeys) RetireSigningKey(_ context.Context, id string, r, e time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id {
			m.keys[i].RetiredAt, m.keys[i].ExpiresAt = &r, &e
			return nil
		}
	}
	return store.ErrNotFound
}

func (m *memKeys) DeleteExpiredSigningKeys(_ context.Context, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.keys[:0]
	for _, k := range m.keys {
		if k.ExpiresAt == nil || !k.ExpiresAt.Before(now) {
			out = append(out, k)
		}
	}
	m.keys = out
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Unix(1_800_000_000, 0)} }
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash form %q", h)
	}
	tests := []struct {
		name, hash, pw string
		ok             bool
		err            error
	}{
		{"right", h, "correct horse", true, nil},
		{"wrong", h, "correct horsE", false, nil},
		{"empty", h, "", false, nil},
		{"not argon", "sha256:abc", "x", false, ErrBadHash},
		{"bad params", "$argon2id$v=19$m=0,t=2,p=1$c2FsdA$aGFzaA", "x", false, ErrBadHash},
		{"bad base64", "$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA", "x", false, ErrBadHash},
		{"huge memory", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA", "x", false, ErrBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, tt.pw)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Fatalf("VerifyPassword = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
	if _, err := VerifyPassword(dummyHash, "x"); err != nil {
		t.Fatalf("dummy hash does not parse: %v", err)
	}
}

func TestSecret(t *testing.T) {
	s, err := RandomString("scs_", 32)
	if err != nil {
		t.Fatal(err)
	}
	h := HashSecret(s)
	if strings.Contains(h, s) {
		t.Fatal("hash contains the secret")
	}
	if !VerifySecret(h, s) || VerifySecret(h, s+"x") || VerifySecret("plain", s) {
		t.Fatal("VerifySecret mismatch")
	}
	id, _ := RandomID()
	if len(id) != 24 {
		t.Fatalf("RandomID() = %q", id)
	}
}

func TestTokensRotation(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	st := &memKeys{}
	kr := NewKeyring(st, clk.Now, time.Minute)
	if err := kr.Init(ctx); err != nil {
		t.Fatal(err)
	}
	tk := NewTokens(kr, clk.Now)
	claims := Claims{Subject: "u1", Audience: AudUser, Type: TypeAccess, ClientID: "c1"}
	oldTok, _, err := tk.Issue(ctx, claims, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Verify(ctx, oldTok, TypeAccess, AudClient, AudUser)
	if err != nil || got.Subject != "u1" || got.ClientID != "c1" || got.ID == "" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}

	// Rotate: the old key keeps verifying for one hour.
	if _, err := kr.Rotate(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	newTok, _, err := tk.Issue(ctx, claims, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, newTok) == kidOf(t, oldTok) {
		t.Fatal("rotation did not change the signing key")
	}
	if _, err := tk.Verify(ctx, oldTok, TypeAccess, AudUser); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	clk.Add(61 * time.Minute)
	if _, err := tk.Verify(ctx, oldTok, TypeAccess, AudUser); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of the expired key: %v, want ErrInvalidToken", err)
	}
	if _, err := tk.Verify(ctx, newTok, TypeAccess, AudUser); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	clk.Add(time.Hour)
	if _, err := tk.Verify(ctx, newTok, TypeAccess, AudUser); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestTokensPickUpForeignRotation(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	st := &memKeys{}
	a := NewKeyring(st, clk.Now, time.Minute)
	b := NewKeyring(st, clk.Now, time.Minute)
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	tok, _, err := NewTokens(a, clk.Now).Issue(ctx, Claims{Subject: "c", Audience: AudClient, Type: TypeAccess, ClientID: "c"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// b has never seen the new kid: it reloads once.
	if _, err := NewTokens(b, clk.Now).Verify(ctx, tok, TypeAccess, AudClient); err != nil {
		t.Fatalf("replica b: %v", err)
	}
	// A flood of unknown kids reloads at most once a second.
	before := st.lists
	bad := forge(t, "nope", []byte("secret"))
	for range 100 {
		if _, err := NewTokens(b, clk.Now).Verify(ctx, bad, TypeAccess, AudClient); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if st.lists-before > 1 {
		t.Fatalf("%d reloads for unknown kids within one second", st.lists-before)
	}
}

func TestVerifyRejects(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	st := &memKeys{}
	kr := NewKeyring(st, clk.Now, time.Minute)
	if err := kr.Init(ctx); err != nil {
		t.Fatal(err)
	}
	tk := NewTokens(kr, clk.Now)
	good, _, err := tk.Issue(ctx, Claims{Subject: "u", Audience: AudUser, Type: TypeAccess, ClientID: "c"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	refresh, _, _ := tk.Issue(ctx, Claims{Subject: "u", Audience: AudUser, Type: TypeRefresh, ClientID: "c"}, time.Hour)
	kid := kidOf(t, good)
	secret, _, _ := kr.verifyKey(ctx, kid)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, &Claims{Subject: "u", Audience: AudUser, Type: TypeAccess, ClientID: "c", ExpiresAt: clk.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = kid
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	tests := []struct{ name, tok, typ, aud string }{
		{"garbage", "abc", TypeAccess, AudUser},
		{"tampered", good[:len(good)-2] + "xx", TypeAccess, AudUser},
		{"alg none", noneTok, TypeAccess, AudUser},
		{"unknown kid", forge(t, "zzz", secret), TypeAccess, AudUser},
		{"no kid", forge(t, "", secret), TypeAccess, AudUser},
		{"wrong audience", good, TypeAccess, AudClient},
		{"refresh as access", refresh, TypeAccess, AudUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tk.Verify(ctx, tt.tok, tt.typ, tt.aud); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, &Claims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

func forge(t *testing.T, kid string, secret []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, &Claims{Subject: "u", Audience: AudClient, Type: TypeAccess, ClientID: "c", ExpiresAt: time.Unix(1_900_000_000, 0).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	kr := NewKeyring(&memKeys{}, nil, time.Minute)
	if err := kr.Init(ctx); err != nil {
		b.Fatal(err)
	}
	tk := NewTokens(kr, nil)
	tok, _, _ := tk.Issue(ctx, Claims{Subject: "u", Audience: AudUser, Type: TypeAccess, ClientID: "c"}, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(ctx, tok, TypeAccess, AudUser); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCacheHonoursForeignRetirement: a token cached as verified stops
// verifying once another replica retires its key and the grace ends.
func TestCacheHonoursForeignRetirement(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	st := &memKeys{}
	a := NewKeyring(st, clk.Now, time.Minute)
	b := NewKeyring(st, clk.Now, time.Minute)
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	tb := NewTokens(b, clk.Now)
	tok, _, err := NewTokens(a, clk.Now).Issue(ctx, Claims{Subject: "u", Audience: AudUser, Type: TypeAccess, ClientID: "c"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Verify(ctx, tok, TypeAccess, AudUser); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Minute) // b reloads (refresh 1 min); the grace holds
	if _, err := tb.Verify(ctx, tok, TypeAccess, AudUser); err != nil {
		t.Fatalf("within the grace: %v", err)
	}
	clk.Add(6 * time.Minute)
	if _, err := tb.Verify(ctx, tok, TypeAccess, AudUser); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after the grace: %v", err)
	}
}
