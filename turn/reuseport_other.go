//go:build !unix

package turn

import "syscall"

// canReusePort: this system has no SO_REUSEPORT, so Listen opens one UDP
// socket whatever Config.UDPSockets says.
const canReusePort = false

func reusePort(string, string, syscall.RawConn) error { return nil }
