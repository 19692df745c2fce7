// Package tlsconf is the TLS of every listener a client reaches (the
// control plane's HTTPS, the edge's WSS signalling, TURN over TLS): one
// configuration block, certificates read from files and reloaded without a
// restart (on SIGHUP, or when the files change), or obtained by ACME for
// public host names, and modern defaults (TLS 1.2 or newer, AEAD suites
// with forward secrecy only).
//
// A certificate that cannot be used — missing or unreadable files, a key
// that does not match, a certificate already expired — stops the process at
// start (Load returns the error). Later, a reload that fails keeps the
// certificate being served and logs why: a half-written file during a
// rotation must not take a listener down.
package tlsconf
