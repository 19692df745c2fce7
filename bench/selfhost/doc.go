// Package selfhost starts what a self-contained bench run needs on this
// machine: a control plane on a fresh SQLite store, or one of several
// replicas on a PostgreSQL database, with an API client made for the run.
// Serve runs it in the calling process; Start runs it in a child process
// (a hidden mode of the bench command that calls Serve), so the server's
// CPU and memory are measured apart from the load generator's.
package selfhost
