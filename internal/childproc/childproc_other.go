//go:build !linux

package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent does nothing: only Linux signals a child when its parent
// dies.
func DieWithParent(*exec.Cmd, syscall.Signal) {}
