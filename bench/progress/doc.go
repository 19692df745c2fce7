// Package progress is the live display of a bench run: on a terminal one
// status line rewritten in place; elsewhere (CI logs, pipes) plain lines,
// at most one per interval, so logs stay readable.
package progress
