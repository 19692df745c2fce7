package procattr

import "syscall"

// DieWithParent is a SysProcAttr under which the child gets sig when this
// process dies.
func DieWithParent(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: sig}
}
