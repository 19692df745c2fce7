package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openTemp(t testing.TB) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "spacecast.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	cases := []struct {
		name   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer journal", s.writer, "journal_mode", "wal"},
		{"writer synchronous", s.writer, "synchronous", "1"},
		{"writer foreign keys", s.writer, "foreign_keys", "1"},
		{"writer busy timeout", s.writer, "busy_timeout", "10000"},
		{"writer journal size limit", s.writer, "journal_size_limit", "67108864"},
		{"reader journal", s.reader, "journal_mode", "wal"},
		{"reader query only", s.reader, "query_only", "1"},
		{"reader busy timeout", s.reader, "busy_timeout", "10000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
	if _, err := s.reader.ExecContext(ctx, "DELETE FROM clients"); err == nil {
		t.Fatal("the reader pool accepted a write")
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "sub", "spacecast.db") // Open creates the folder
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := store.Client{ID: "c1", Name: "one", SecretHash: "h", CreatedAt: time.UnixMilli(1_700_000_000_123).UTC()}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read the signing keys", filepath.Base(p), mode)
		}
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if v != len(want) || v < 1 {
		t.Fatalf("schema version %d, want %d", v, len(want))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetClient(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Fatalf("after reopen: %+v, want %+v", got, c)
	}
	var n int
	if err := s.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("%d migrations recorded after reopen, want %d (one per file, never twice)", n, len(want))
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "spacecast.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A newer binary applied a migration this one does not have.
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, nil)
	if !errors.Is(err, ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrate(t *testing.T) {
	good1 := &fstest.MapFile{Data: []byte("CREATE TABLE a (x INTEGER);")}
	good2 := &fstest.MapFile{Data: []byte("CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);")}
	bad := &fstest.MapFile{Data: []byte("CREATE TABLE c (z INTEGER); THIS IS NOT SQL;")}
	cases := []struct {
		name        string
		steps       []fstest.MapFS // applied one after the other to one database
		wantVersion int
		wantErr     bool
		wantTables  []string
		noTables    []string
	}{
		{"in order", []fstest.MapFS{{"migrations/0002_b.sql": good2, "migrations/0001_a.sql": good1}}, 2, false, []string{"a", "b"}, nil},
		{"incremental", []fstest.MapFS{{"migrations/0001_a.sql": good1}, {"migrations/0001_a.sql": good1, "migrations/0002_b.sql": good2}}, 2, false, []string{"a", "b"}, nil},
		{"failed migration rolls back", []fstest.MapFS{{"migrations/0001_a.sql": good1, "migrations/0002_c.sql": bad}}, 1, true, []string{"a"}, []string{"c"}},
		{"gap", []fstest.MapFS{{"migrations/0001_a.sql": good1, "migrations/0003_b.sql": good2}}, 0, true, nil, []string{"a"}},
		{"bad name", []fstest.MapFS{{"migrations/first.sql": good1}}, 0, true, nil, []string{"a"}},
		{"too new", []fstest.MapFS{{"migrations/0001_a.sql": good1, "migrations/0002_b.sql": good2}, {"migrations/0001_a.sql": good1}}, 2, true, []string{"a", "b"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			db, err := openDB(filepath.Join(t.TempDir(), "m.db"), []string{"journal_mode(WAL)"}, "&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			var lastErr error
			for _, fsys := range tc.steps {
				lastErr = migrate(ctx, db, fsys, discard())
			}
			if (lastErr != nil) != tc.wantErr {
				t.Fatalf("migrate: %v, want error %v", lastErr, tc.wantErr)
			}
			if tc.name == "too new" && !errors.Is(lastErr, ErrSchemaTooNew) {
				t.Fatalf("migrate: %v, want ErrSchemaTooNew", lastErr)
			}
			v := 0 // invalid migration sets are refused before anything is created
			if hasTable(t, db, "schema_migrations") {
				if v, err = schemaVersion(ctx, db); err != nil {
					t.Fatal(err)
				}
			}
			if v != tc.wantVersion {
				t.Fatalf("version %d, want %d", v, tc.wantVersion)
			}
			for _, name := range tc.wantTables {
				if !hasTable(t, db, name) {
					t.Errorf("table %s missing", name)
				}
			}
			for _, name := range tc.noTables {
				if hasTable(t, db, name) {
					t.Errorf("table %s exists", name)
				}
			}
		})
	}
}

func hasTable(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestTwoStoresOneFile is the admin CLI writing while the server runs: two
// stores (two writer connections) on one file. Writes wait for each other
// instead of failing with SQLITE_BUSY, and a single-use link is still spent
// exactly once.
func TestTwoStoresOneFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "spacecast.db")
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	now := time.Now().UTC()
	a := stores[0]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.CreateClient(ctx, store.Client{ID: "c", Name: "c", SecretHash: "h", CreatedAt: now}))
	must(a.CreateUser(ctx, store.User{ID: "u", ClientID: "c", Email: "u@example.com", CreatedAt: now}))
	must(a.CreateSpace(ctx, store.Space{ID: "s", ClientID: "c", OwnerID: "u", CreatedAt: now, UpdatedAt: now}))
	must(a.CreateRoom(ctx, store.Room{ID: "r", ClientID: "c", SpaceID: "s", OwnerID: "u", Alias: "al", CreatedAt: now, UpdatedAt: now}))
	must(a.CreateAccessLink(ctx, store.AccessLink{ID: "l", ClientID: "c", SpaceID: "s", RoomID: "r", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

	const n = 100
	errs := make(chan error, 2*n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 * n {
		s := stores[i%2]
		wg.Go(func() {
			<-start
			if i%10 == 0 { // meanwhile, unrelated writes through both files
				if err := s.SetClientSecret(ctx, "c", fmt.Sprint(i), now); err != nil {
					errs <- err
					return
				}
			}
			_, err := s.RedeemAccessLink(ctx, "c", "l", now)
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrUsed):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d redemptions won across two stores, want 1", wins)
	}
}

// TestObservedContract: store.Observed passes the contract suite (every
// call reaches the store it wraps, with its results), and every Store
// method but Listen and Close is told to the observer by its name.
func TestObservedContract(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	obs := func(op string, took time.Duration, _ error) {
		if took < 0 {
			t.Errorf("%s took %v", op, took)
		}
		mu.Lock()
		seen[op] = true
		mu.Unlock()
	}
	storetest.Run(t, func(t *testing.T) store.Store { return store.Observed(openTemp(t), obs) })
	st := reflect.TypeFor[store.Store]()
	for i := range st.NumMethod() {
		name := st.Method(i).Name
		if name == "Listen" || name == "Close" {
			continue
		}
		if !seen[name] {
			t.Errorf("%s was not observed", name)
		}
	}
}
