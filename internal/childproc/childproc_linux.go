package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent has the kernel send sig to cmd's process when this one
// dies. It keeps cmd's other SysProcAttr settings; call it before Start.
func DieWithParent(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
}
