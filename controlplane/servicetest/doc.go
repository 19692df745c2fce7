// Package servicetest builds what the tests of the control plane's
// services (access, space, join, moderation) run against, without HTTP: a
// SQLite store in a test's temporary folder, the REST token machinery over
// it, a clock the test moves, and a client with its users, spaces and
// rooms made straight in the store.
package servicetest
