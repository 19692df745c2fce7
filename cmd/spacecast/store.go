package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/postgres"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
)

// Environment variables of the store section (secrets and deploy-time
// values belong there, not in the file).
const (
	// envStorePassword is the PostgreSQL password; a DSN must not carry
	// one of its own.
	envStorePassword = "SPACECAST_STORE_PASSWORD"
	// envStoreDSN replaces store.dsn.
	envStoreDSN = "SPACECAST_STORE_DSN"
)

// storeSection is the `store:` section.
type storeSection struct {
	// Driver is "sqlite" (one replica, a file in DataDir) or "postgres"
	// (several replicas on one database).
	Driver string `yaml:"driver"`
	// DataDir holds the SQLite file spacecast.db.
	DataDir string `yaml:"dataDir"`
	// DSN is the PostgreSQL database (postgres://user@host:5432/db?sslmode=verify-full),
	// without its password: that comes from SPACECAST_STORE_PASSWORD.
	// SPACECAST_STORE_DSN replaces it.
	DSN string `yaml:"dsn"`
	// MaxConns bounds each replica's pool of PostgreSQL connections (16).
	MaxConns int32 `yaml:"maxConns"`
	// StatementTimeout cuts any one PostgreSQL statement (5s).
	StatementTimeout time.Duration `yaml:"statementTimeout"`

	// password comes from the environment (applyEnv).
	password string
}

// applyEnv takes the DSN and the password from the environment.
func (s *storeSection) applyEnv(getenv func(string) string) {
	if v := getenv(envStoreDSN); v != "" {
		s.DSN = v
	}
	s.password = getenv(envStorePassword)
}

// validate checks the section.
func (s storeSection) validate() error {
	switch s.Driver {
	case "", "sqlite":
		if s.DataDir == "" {
			return errors.New("store.dataDir is required for the sqlite driver")
		}
	case "postgres":
		if s.DSN == "" {
			return fmt.Errorf("store.dsn (or %s) is required for the postgres driver", envStoreDSN)
		}
		if postgres.DSNHasPassword(s.DSN) {
			return fmt.Errorf("store.dsn must not carry a password: put it in %s", envStorePassword)
		}
		return s.postgresConfig().Validate()
	default:
		return fmt.Errorf("store.driver %q: want sqlite or postgres", s.Driver)
	}
	return nil
}

func (s storeSection) postgresConfig() postgres.Config {
	return postgres.Config{DSN: s.DSN, Password: s.password, MaxConns: s.MaxConns, StatementTimeout: s.StatementTimeout}.WithDefaults()
}

// open opens the configured store (applying pending migrations).
func (s storeSection) open(ctx context.Context, log *slog.Logger) (store.Store, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.Driver == "postgres" {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return postgres.Open(ctx, s.postgresConfig(), log)
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, filepath.Join(s.DataDir, "spacecast.db"), log)
}
