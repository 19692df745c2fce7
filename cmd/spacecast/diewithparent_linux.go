package main

import "syscall"

// dieWithParent is what a child process of the bench is started with: it
// is killed when this process dies (PR_SET_PDEATHSIG), so that no child
// outlives a bench killed mid-run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
