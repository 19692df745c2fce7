// Package pgserver runs a throwaway PostgreSQL server on this machine, for
// tests (through internal/pgtest) and benches: Debian's postgresql package
// (.ci/deps installs it), a data directory made with initdb in a new
// temporary folder, the server listening on 127.0.0.1 only at a port
// chosen free, no Unix socket, password (SCRAM) sign-in for a superuser
// with a random password. Root cannot run postgres: as root the server
// runs as the `postgres` OS user that the package creates. The server is
// the caller's child and dies with it (a parent-death signal), so a killed
// test or bench leaves no server behind; Stop removes its folder.
package pgserver
