//go:build !linux

package procattr

import "syscall"

// DieWithParent: only Linux kills a child when its parent dies; elsewhere
// it is an empty SysProcAttr and the caller's cleanup stops the child.
func DieWithParent(syscall.Signal) *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
