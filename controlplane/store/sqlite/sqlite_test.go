package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
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
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := loadMigrations(migrationFiles)
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
