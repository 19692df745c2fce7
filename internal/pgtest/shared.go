package pgtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/internal/pgserver"
	"github.com/spacecast/spacecast/internal/testenv"
)

// Server is a running server (pgserver.Server).
type Server = pgserver.Server

// Options tune a server (pgserver.Options).
type Options = pgserver.Options

// NewDBName is a fresh database name.
func NewDBName(prefix string) string { return pgserver.NewDBName(prefix) }

// Shared is one server for every test of a test binary, started on first
// use. Declare one in the test package and stop it from TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { code := m.Run(); pg.Stop(); os.Exit(code) }
type Shared struct {
	// Options are the server's; set before first use.
	Options Options

	once sync.Once
	srv  *Server
	err  error

	mu        sync.Mutex
	templates map[string]*template
}

// template is a database prepared once; tests get copies of it, and a
// copy a test is done with is emptied and handed to the next test.
type template struct {
	once sync.Once
	name string
	err  error
	free []string // emptied copies
}

// Server returns the shared server, starting it on first use. Where it
// cannot run the test fails in CI and skips elsewhere.
func (s *Shared) Server(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.srv, s.err = pgserver.Start(ctx, s.Options)
	})
	testenv.Need(t, "PostgreSQL", s.err)
	return s.srv
}

// DB makes a fresh, empty database on the shared server, dropped when the
// test ends, and returns its DSN.
func (s *Shared) DB(t testing.TB) string {
	t.Helper()
	srv := s.Server(t)
	name := NewDBName("t")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := srv.CreateDB(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.DropDB(ctx, name); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return dsn
}

// DBFrom is DB for a database that starts as what setup made of an empty
// one (migrations applied, say): setup runs once per key, on a database of
// its own that it must leave without open connections. The test must not
// change the schema: when it ends, every table but schema_migrations is
// emptied (and every sequence restarted) and the database goes to the
// next test that asks for the same key, which is much faster than making
// and dropping a database per test. The test must have closed its
// connections by then (register their Close after calling DBFrom).
func (s *Shared) DBFrom(t testing.TB, key string, setup func(dsn string) error) string {
	t.Helper()
	srv := s.Server(t)
	s.mu.Lock()
	if s.templates == nil {
		s.templates = map[string]*template{}
	}
	tp := s.templates[key]
	if tp == nil {
		tp = &template{}
		s.templates[key] = tp
	}
	s.mu.Unlock()
	tp.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tp.name = NewDBName("tmpl")
		dsn, err := srv.CreateDB(ctx, tp.name)
		if err == nil {
			err = setup(dsn)
		}
		tp.err = err
	})
	if tp.err != nil {
		t.Fatalf("pgtest: template %s: %v", key, tp.err)
	}
	s.mu.Lock()
	var name string
	if n := len(tp.free); n > 0 {
		name, tp.free = tp.free[n-1], tp.free[:n-1]
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if name == "" {
		name = NewDBName("t")
		if _, err := srv.CreateDBFrom(ctx, name, tp.name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := empty(ctx, srv.DSN(name)); err != nil {
			_ = srv.DropDB(ctx, name)
			return
		}
		s.mu.Lock()
		tp.free = append(tp.free, name)
		s.mu.Unlock()
	})
	return srv.DSN(name)
}

// empty truncates every table of the public schema but schema_migrations
// and restarts every sequence.
func empty(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' LOOP
		EXECUTE format('TRUNCATE TABLE %I CASCADE', r.tablename);
	END LOOP;
	FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
		EXECUTE format('ALTER SEQUENCE %I RESTART', r.sequencename);
	END LOOP;
END $$`)
	return err
}

// Stop stops the server if it was started.
func (s *Shared) Stop() {
	if s.srv != nil {
		_ = s.srv.Stop()
	}
}
