// Package childproc starts this program's child processes so that none
// outlives it: on Linux the kernel signals a child when the thread that
// started it dies (PR_SET_PDEATHSIG), so a bench or test killed mid-run
// leaves no server behind. Other systems have no such thing; there a
// child ends with its context or its input, as the caller arranges.
package childproc
