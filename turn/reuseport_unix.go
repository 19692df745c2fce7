//go:build unix

package turn

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// canReusePort: several sockets may share one port (SO_REUSEPORT).
const canReusePort = true

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) //nolint:gosec
	}); err != nil {
		return err
	}
	return serr
}
