//go:build !linux

package roomsbench

import "syscall"

// dieWithParent: only Linux kills a child when its parent dies; elsewhere
// the child ends with its context or its input.
func dieWithParent() *syscall.SysProcAttr { return nil }
