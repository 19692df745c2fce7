// Package store owns the control plane's persistent model: API clients,
// users, personal tokens, spaces and their members, rooms and their roles,
// space invites, room access links, webhooks and JWT signing keys.
//
// The Store interface is what every backend implements (SQLite in
// store/sqlite, PostgreSQL later); store/storetest holds the contract suite
// that every implementation must pass. Every method is one atomic storage
// operation, every read and write is scoped by the API client that owns the
// row (tenant isolation lives here, not in the handlers), and the single-use
// operations (invite activation, access-link redemption) are conditional
// updates so that of any number of concurrent callers exactly one wins.
package store
