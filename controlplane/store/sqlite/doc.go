// Package sqlite is the embedded Store: one SQLite file in the data folder,
// on the pure-Go modernc.org/sqlite driver.
//
// The database runs in WAL mode with synchronous=NORMAL, foreign keys on and
// a busy timeout. Writes go through a pool of exactly one connection whose
// transactions begin IMMEDIATE, so writers queue in Go instead of failing
// with SQLITE_BUSY; reads go through a separate pool of read-only
// connections that see each committed write at once and scale with the
// cores. Every statement is prepared once at Open.
//
// Tenant isolation is in the schema as well as in the queries: every tenant
// row's primary key starts with client_id, every query names client_id, and
// rows refer to each other through composite (client_id, id) foreign keys, so
// no row can point at another client's row. Deletes cascade through those
// keys.
//
// The single-use operations are conditional updates: RedeemAccessLink is one
// UPDATE ... RETURNING, ActivateInvite one IMMEDIATE transaction; of any
// number of concurrent callers (in this process or another one on the same
// file) exactly one spends the link or invite.
//
// Token revocations get their seq from AUTOINCREMENT on the single writer,
// so seqs commit in order and a replica that reads what came after the
// highest seq it saw misses nothing. SpendToken is one INSERT ... ON
// CONFLICT DO NOTHING in a transaction that also records the reuse
// revocation when the insert found the token spent.
//
// The schema is versioned: the SQL files under migrations/ are embedded,
// applied in order, each in its own transaction, and recorded in the
// schema_migrations table. Open refuses a database whose schema is newer than
// the binary (ErrSchemaTooNew).
package sqlite
