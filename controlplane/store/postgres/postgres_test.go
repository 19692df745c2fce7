package postgres

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/storetest"
	"github.com/spacecast/spacecast/internal/pgtest"
)

// pg is the one server of this package's tests; each test gets a
// database of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// openFresh opens a store on a new database with the schema (a copy of a
// database migrated once).
func openFresh(t testing.TB) *Store {
	t.Helper()
	return openDSN(t, migratedDB(t), Config{})
}

// migratedDB is a new database with every migration applied.
func migratedDB(t testing.TB) string {
	t.Helper()
	return pg.DBFrom(t, "migrated", func(dsn string) error {
		s, err := Open(context.Background(), Config{DSN: dsn, MinConns: 1, MaxConns: 1}, nil)
		if err != nil {
			return err
		}
		return s.Close()
	})
}

func openDSN(t testing.TB, dsn string, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg.DSN = dsn
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 8
	}
	s, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

// TestConcurrentMigrations: replicas starting at the same moment on an
// empty database all come up, and each migration is applied once.
func TestConcurrentMigrations(t *testing.T) {
	dsn := pg.DB(t)
	const replicas = 4
	errs := make([]error, replicas)
	stores := make([]*Store, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stores[i], errs[i] = Open(ctx, Config{DSN: dsn, MaxConns: 2}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var n, v int
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || v != len(ms) {
		t.Fatalf("%d migrations recorded up to version %d, want %d once each", n, v, len(ms))
	}
	// Every replica works on the one schema.
	for i, s := range stores {
		c := store.Client{ID: store.ClientID("c" + string(rune('0'+i))), Name: "n", SecretHash: "h", CreatedAt: time.Now()}
		if err := s.CreateClient(t.Context(), c); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	l, err := stores[0].ListClients(t.Context())
	if err != nil || len(l) != replicas {
		t.Fatalf("clients %d (%v), want %d", len(l), err, replicas)
	}
}

func TestSchemaTooNew(t *testing.T) {
	dsn := pg.DB(t)
	s := openDSN(t, dsn, Config{})
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), Config{DSN: dsn}, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// TestPasswordApart: the DSN carries no password; Config.Password (from
// the environment) signs in; without it the server refuses.
func TestPasswordApart(t *testing.T) {
	srv := pg.Server(t)
	name := pgtest.NewDBName("pw")
	ctx := t.Context()
	if _, err := srv.CreateDB(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.DropDB(context.Background(), name) })
	bare := srv.DSNWithoutPassword(name)
	if DSNHasPassword(bare) || !DSNHasPassword(srv.DSN(name)) {
		t.Fatal("DSNHasPassword is wrong")
	}
	if !DSNHasPassword("host=x user=u password=p dbname=d") {
		t.Fatal("DSNHasPassword misses a key=value password")
	}
	t.Setenv("PGPASSWORD", "")
	if s, err := Open(ctx, Config{DSN: bare}, nil); err == nil {
		_ = s.Close()
		t.Fatal("opened without a password")
	}
	s := openDSN(t, bare, Config{Password: srv.Password})
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestStatementTimeout: a statement over the timeout is cut and answers
// store.ErrUnavailable, and the connection is usable after it.
func TestStatementTimeout(t *testing.T) {
	s := openDSN(t, migratedDB(t), Config{StatementTimeout: 100 * time.Millisecond, MaxConns: 1, MinConns: 1})
	start := time.Now()
	_, err := s.pool.Exec(t.Context(), `SELECT pg_sleep(5)`)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("pg_sleep(5) ran %s: %v", time.Since(start), err)
	}
	if !errors.Is(translate("sleep", err), store.ErrUnavailable) {
		t.Fatalf("timeout maps to %v", translate("sleep", err))
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestPoolBounded: the pool never opens more than MaxConns; a call that
// finds every connection busy waits up to its context.
func TestPoolBounded(t *testing.T) {
	s := openDSN(t, migratedDB(t), Config{MaxConns: 2, MinConns: 1})
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = s.pool.Exec(ctx, `SELECT pg_sleep(0.5)`) })
	}
	time.Sleep(100 * time.Millisecond) // let both take their connection
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := s.Ping(cctx)
	cancel()
	if err == nil {
		t.Fatal("a third call got a connection from a pool of two")
	}
	wg.Wait()
	if st := s.pool.Stat(); st.MaxConns() != 2 || st.TotalConns() > 2 {
		t.Fatalf("pool %d of max %d", st.TotalConns(), st.MaxConns())
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{DSN: "postgres://u@h/db"}, true},
		{"no dsn", Config{}, false},
		{"bad dsn", Config{DSN: "postgres://u@h:notaport/db"}, false},
		{"pool too big", Config{DSN: "postgres://u@h/db", MaxConns: 5000}, false},
		{"min over max", Config{DSN: "postgres://u@h/db", MaxConns: 2, MinConns: 3}, false},
		{"timeout too short", Config{DSN: "postgres://u@h/db", StatementTimeout: time.Microsecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.WithDefaults().Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%v is not ErrInvalidConfig", err)
			}
		})
	}
}

// TestChangesAcrossReplicas: a change made through one replica's store is
// heard by another's Listen within a second, and a listener whose
// connection is cut reconnects and hears every topic (what it may have
// missed).
func TestChangesAcrossReplicas(t *testing.T) {
	dsn := migratedDB(t)
	a, b := openDSN(t, dsn, Config{}), openDSN(t, dsn, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	heard := map[store.Topic]time.Time{}
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = b.Listen(ctx, func(tp store.Topic) {
			mu.Lock()
			heard[tp] = time.Now()
			mu.Unlock()
		})
	})
	defer func() { cancel(); wg.Wait() }()
	waitFor := func(tp store.Topic, after time.Time) time.Duration {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			mu.Lock()
			at, ok := heard[tp]
			mu.Unlock()
			if ok && !at.Before(after) {
				return at.Sub(after)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s change heard", tp)
			}
			time.Sleep(5 * time.Millisecond) // polling
		}
	}
	waitFor(store.TopicRooms, time.Time{}) // connected: every topic once
	now := time.Now()
	if err := a.AddSigningKey(ctx, store.SigningKey{ID: "k1", Secret: []byte("s"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if d := waitFor(store.TopicKeys, now); d > time.Second {
		t.Fatalf("a key added on replica A reached B after %s", d)
	}
	// Cut B's listening connection: it comes back and reports everything.
	cut := time.Now()
	if _, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	waitFor(store.TopicRevocations, cut)
	now = time.Now()
	if _, err := a.RevokeTokens(ctx, store.TokenRevocation{Kind: store.RevokeToken, ClientID: "c", Subject: "j", CreatedAt: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if d := waitFor(store.TopicRevocations, now); d > time.Second {
		t.Fatalf("a revocation on A reached B after %s", d)
	}
}
