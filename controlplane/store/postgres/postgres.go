package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spacecast/spacecast/controlplane/store"
)

// ErrInvalidConfig marks an unusable Config.
var ErrInvalidConfig = errors.New("postgres: invalid config")

// Config says how to reach the database and how to use it.
type Config struct {
	// DSN is a postgres:// URL or a key=value string, without the
	// password (which comes in Password).
	DSN string
	// Password is the database password (from the environment; never a
	// file or a flag). Empty: the DSN's own, if any, or none.
	Password string
	// MaxConns bounds the pool (16): requests beyond it wait for a
	// connection up to their context.
	MaxConns int32
	// MinConns are kept open when idle (2).
	MinConns int32
	// StatementTimeout cuts any one statement (5 s).
	StatementTimeout time.Duration
	// LockTimeout cuts a wait for a row or table lock (2 s).
	LockTimeout time.Duration
	// ConnectTimeout bounds opening one connection (5 s).
	ConnectTimeout time.Duration
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 16
	}
	if c.MinConns == 0 {
		c.MinConns = 2
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = 5 * time.Second
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = 2 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	return c
}

// Validate checks c (after WithDefaults).
func (c Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, fmt.Errorf("%w: dsn is required", ErrInvalidConfig))
	} else if _, err := pgxpool.ParseConfig(c.DSN); err != nil {
		// pgx quotes the DSN in its error: keep the password out.
		errs = append(errs, fmt.Errorf("%w: dsn cannot be parsed", ErrInvalidConfig))
	}
	if c.MaxConns < 1 || c.MaxConns > 1000 {
		errs = append(errs, fmt.Errorf("%w: maxConns must be 1 to 1000", ErrInvalidConfig))
	}
	if c.MinConns < 0 || c.MinConns > c.MaxConns {
		errs = append(errs, fmt.Errorf("%w: minConns must be 0 to maxConns", ErrInvalidConfig))
	}
	for name, d := range map[string]time.Duration{"statementTimeout": c.StatementTimeout, "lockTimeout": c.LockTimeout, "connectTimeout": c.ConnectTimeout} {
		if d < time.Millisecond || d > 10*time.Minute {
			errs = append(errs, fmt.Errorf("%w: %s must be 1ms to 10m", ErrInvalidConfig, name))
		}
	}
	return errors.Join(errs...)
}

// DSNHasPassword reports whether dsn carries a password of its own.
func DSNHasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		_, ok := u.User.Password()
		return ok
	}
	cfg, err := pgconn.ParseConfig(dsn)
	return err == nil && cfg.Password != ""
}

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	log  *slog.Logger
	pool *pgxpool.Pool
	cfg  Config

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database, applies the pending migrations (one
// replica at a time) and returns the store. logger may be nil.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "store")
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w: dsn cannot be parsed", ErrInvalidConfig)
	}
	if cfg.Password != "" {
		pc.ConnConfig.Password = cfg.Password
	}
	pc.MaxConns, pc.MinConns = cfg.MaxConns, cfg.MinConns
	pc.MaxConnLifetime = 30 * time.Minute
	pc.MaxConnLifetimeJitter = 5 * time.Minute
	pc.MaxConnIdleTime = 5 * time.Minute
	pc.HealthCheckPeriod = 15 * time.Second
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	rp := pc.ConnConfig.RuntimeParams
	rp["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	rp["lock_timeout"] = strconv.FormatInt(cfg.LockTimeout.Milliseconds(), 10)
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(max(10*cfg.StatementTimeout, 30*time.Second).Milliseconds(), 10)
	rp["application_name"] = "spacecast"
	rp["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{log: logger, pool: pool, cfg: cfg}
	if err := s.migrate(ctx, migrationFiles); err != nil {
		pool.Close()
		return nil, err
	}
	logger.Info("store opened", "driver", "postgres", "host", pc.ConnConfig.Host, "database", pc.ConnConfig.Database, "maxConns", cfg.MaxConns)
	return s, nil
}

// Ping reports whether the store can serve requests.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return translate("ping", err)
	}
	return nil
}

// Close closes the pool; safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// Pool is the connection pool (tests and benches).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// PostgreSQL error codes the store tells apart.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeQueryCanceled        = "57014" // statement_timeout (or a cancel)
	codeLockNotAvailable     = "55P03" // lock_timeout
	codeAdminShutdown        = "57P01"
	codeCannotConnectNow     = "57P03"
	codeTooManyConnections   = "53300"
)

// translate maps pgx and PostgreSQL errors to the store's sentinels: no row
// is ErrNotFound, a taken unique key ErrConflict, a missing (or foreign)
// parent row ErrNotFound; timeouts, shutdowns and unreachable servers
// ErrUnavailable. op names the operation.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("postgres: %s: %w (%s)", op, store.ErrConflict, pe.ConstraintName)
		case codeForeignKeyViolation:
			return fmt.Errorf("postgres: %s: %w: parent entity (%s)", op, store.ErrNotFound, pe.ConstraintName)
		case codeQueryCanceled, codeLockNotAvailable, codeAdminShutdown, codeCannotConnectNow, codeTooManyConnections,
			codeSerializationFailure, codeDeadlockDetected:
			return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// one turns a command tag into ErrNotFound when it touched no row.
func one(op string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return translate(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// retryable reports whether a transaction failed in a way that running it
// again can fix.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected)
}

// inTx runs fn in a READ COMMITTED transaction and commits it when fn
// returns nil. A deadlock or serialization failure runs fn again (up to
// five times), so fn must not have effects outside tx.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = s.tryTx(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err == nil || isStoreErr(err) {
		return err
	}
	return translate(op, err)
}

func isStoreErr(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUsed, store.ErrExpired, store.ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Store) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

// readTx runs fn in a read-only REPEATABLE READ transaction: one
// consistent snapshot for a list and its total.
func (s *Store) readTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return translate(op, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		if isStoreErr(err) {
			return err
		}
		return translate(op, err)
	}
	return nil
}

// Time helpers: times are UTC unix milliseconds.

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func msPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func fromPtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMS(*v)
	return &t
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
