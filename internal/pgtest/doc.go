// Package pgtest runs a throwaway PostgreSQL server for tests and benches:
// Debian's postgresql package (.ci/deps installs it), a data directory made
// with initdb in a new temporary folder, the server listening on 127.0.0.1
// only at a port chosen free, no Unix socket, password (SCRAM) sign-in for
// a superuser with a random password. Root cannot run postgres: as root the
// server runs as the `postgres` OS user that the package creates. The
// server is the caller's child and dies with it (a parent-death signal),
// so a killed test leaves no server behind.
//
// Tests share one server per test binary through Shared, which starts it
// on first use and gives each test a fresh database, dropped at its end.
// Where PostgreSQL is missing a test fails in CI and skips elsewhere
// (internal/testenv).
package pgtest
