package controlplane

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
)

// slowRevocations is a store whose revocation reads take delay, as a
// database across the network does when it stalls.
type slowRevocations struct {
	store.Store
	delay time.Duration
}

func (s slowRevocations) ListTokenRevocations(ctx context.Context, after int64, now time.Time) ([]store.TokenRevocation, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.ListTokenRevocations(ctx, after, now)
}

// TestRevocationsReadInTheBackground: a replica re-reads the revocations in
// the background, so requests do not wait for the store to answer: with
// reads that take 250 ms, no authenticated request takes that long.
func TestRevocationsReadInTheBackground(t *testing.T) {
	ctx := ctxT(t)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := start(t, envOpts{store: slowRevocations{Store: st, delay: 250 * time.Millisecond},
		mutate: func(c *Config) { c.RevocationSync = 900 * time.Millisecond }})
	tn := e.newUser(t, e.newClient(t, "acme"), "ann@example.com")
	var slowest time.Duration
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		start := time.Now()
		e.must(t, 200, "GET", "/v1/users/me", tn.userToken, nil)
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	if slowest >= 200*time.Millisecond {
		t.Fatalf("a request waited %s: it read the revocations itself", slowest)
	}
}
