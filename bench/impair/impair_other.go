//go:build !linux

package impair

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// errNoTPROXY: the delay relay needs Linux's transparent sockets.
var errNoTPROXY = errors.New("impair: the delay relay needs Linux (IP_TRANSPARENT)")

// transparent fails off Linux: the delay relay is Linux-only, like
// its network namespaces.
func transparent(bool) *net.ListenConfig {
	return &net.ListenConfig{Control: func(_, _ string, _ syscall.RawConn) error { return errNoTPROXY }}
}

// origDst has nothing to read off Linux.
func origDst([]byte) (netip.AddrPort, bool) { return netip.AddrPort{}, false }
