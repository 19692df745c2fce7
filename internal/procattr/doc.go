// Package procattr is how a child process (a test's PostgreSQL, ffmpeg, a
// bench's server) is made to die with its parent: Linux's parent-death
// signal, and nothing elsewhere (the caller then relies on its own cleanup).
package procattr
