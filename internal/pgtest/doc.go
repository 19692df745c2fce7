// Package pgtest gives tests a PostgreSQL server (internal/pgserver): one
// per test binary through Shared, started on first use, with a fresh
// database per test. Where PostgreSQL is missing a test fails in CI and
// skips elsewhere (internal/testenv).
package pgtest
