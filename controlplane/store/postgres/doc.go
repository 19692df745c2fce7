// Package postgres is the Store of a control plane with several replicas:
// PostgreSQL through pgx/v5, one database shared by every replica.
//
// Open takes a Config (DSN, pool bound, statement timeout; the password
// apart from the DSN, from the environment) and opens a bounded pgxpool:
// a request that finds every connection busy waits for one up to its
// context, never opens more. Every session gets a statement_timeout, a
// lock_timeout and an idle_in_transaction_session_timeout, so a stuck
// query or a forgotten transaction cannot hold a connection or a lock for
// ever. A statement cut by them, or a connection that cannot be had, is
// store.ErrUnavailable (HTTP 503, retry).
//
// The schema is versioned like SQLite's: the SQL files under migrations/
// are embedded and applied in order, each in its own transaction, and
// recorded in schema_migrations. Replicas that start at the same moment
// take a session-level advisory lock first: one applies the migrations,
// the others wait for the lock and then find nothing left to do. Open
// refuses a database whose schema is newer than the binary
// (ErrSchemaTooNew).
//
// Tenant isolation is in the schema as in SQLite's: every tenant row's
// primary key starts with client_id and rows refer to each other through
// composite (client_id, id) foreign keys that cascade on delete.
//
// The single-use operations are conditional updates under READ COMMITTED:
// RedeemAccessLink is one UPDATE ... WHERE used_at IS NULL ... RETURNING;
// concurrent redeemers queue on the row lock and each re-checks the
// condition on the committed row, so exactly one of them, whatever replica
// it runs on, gets the row. ActivateInvite and SpendToken likewise.
//
// Token revocations get their seq from a sequence drawn under a
// transaction-level advisory lock that is held until commit, so seqs commit
// in order: a replica that reads what came after the highest seq it saw
// misses nothing (store.Tokens). Transactions that fail on a deadlock or a
// serialization failure are retried.
package postgres
