package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/spacecast/spacecast/controlplane/store"
)

// busyTimeout bounds how long a connection waits for a lock held by another
// process (within this process writers queue on the single writer
// connection instead).
const busyTimeout = 10 * time.Second

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	log    *slog.Logger
	writer *sql.DB // exactly one connection; transactions BEGIN IMMEDIATE
	reader *sql.DB // read-only connections
	st     statements
	hub    store.Hub // Changes: this process is the only replica

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its folder if needed) the database file at
// path, applies the pending migrations and prepares every statement. logger
// may be nil.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "store")
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: invalid database path %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data folder: %w", err)
	}
	// The file holds signing keys and webhook secrets: create it private
	// (SQLite gives its -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}

	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"foreign_keys(1)",
		"temp_store(memory)",
	}
	writer, err := openDB(path, slices.Concat(pragmas, []string{"journal_mode(WAL)", "synchronous(NORMAL)", "journal_size_limit(67108864)"}), "&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, writer, migrationFiles, logger); err != nil {
		_ = writer.Close()
		return nil, err
	}

	reader, err := openDB(path, slices.Concat(pragmas, []string{"query_only(1)"}), "")
	if err != nil {
		_ = writer.Close()
		return nil, err
	}
	n := max(8, 4*runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)

	s := &Store{log: logger, writer: writer, reader: reader}
	if err := s.st.prepare(ctx, writer, reader); err != nil {
		_ = s.Close()
		return nil, err
	}
	logger.Info("store opened", "path", path, "readers", n)
	return s, nil
}

func openDB(path string, pragmas []string, extra string) (*sql.DB, error) {
	var b strings.Builder
	b.WriteString(path)
	for i, p := range pragmas {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString("_pragma=")
		b.WriteString(p)
	}
	b.WriteString(extra)
	db, err := sql.Open("sqlite", b.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Ping reports whether the store can serve reads and writes.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.st.ping.QueryRowContext(ctx).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	return nil
}

// Close closes the statements and both pools, after asking SQLite to
// refresh its query-planner statistics. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.st.close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.writer.ExecContext(ctx, "PRAGMA optimize"); err != nil {
			s.log.Warn("pragma optimize failed", "err", err)
		}
		s.closeErr = errors.Join(s.reader.Close(), s.writer.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// Listen implements store.Changes: SQLite has one replica, this process,
// so the changes are the ones made through this Store.
func (s *Store) Listen(ctx context.Context, fn func(store.Topic)) error { return s.hub.Listen(ctx, fn) }

// notified returns err, telling the listeners about topics when it is nil.
func (s *Store) notified(err error, topics ...store.Topic) error {
	if err == nil {
		for _, t := range topics {
			s.hub.Notify(t)
		}
	}
	return err
}

// SchemaVersion returns the highest migration recorded in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.reader)
}

// translate maps SQLite constraint errors to the store's sentinels: a taken
// unique key is ErrConflict, a missing (or foreign) parent row ErrNotFound.
// sql.ErrNoRows becomes ErrNotFound. op names the operation.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w (%v)", op, store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w: parent entity (%v)", op, store.ErrNotFound, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// one turns an UPDATE or DELETE result into ErrNotFound when it touched no
// row.
func one(op string, res sql.Result, err error) error {
	if err != nil {
		return translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// inTx runs fn in an IMMEDIATE transaction on the writer and commits it when
// fn returns nil.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", op, err)
	}
	return nil
}

// readTx runs fn in a read transaction (one consistent snapshot) on the
// reader pool.
func (s *Store) readTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", op, err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// Time and nullable helpers. Times are UTC unix milliseconds.

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromNull(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
