//go:build !linux

package browserbench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// errNoTPROXY: the delay relay takes its datagrams by TPROXY, which only
// Linux has (as it alone has the network namespaces it runs in).
var errNoTPROXY = fmt.Errorf("browserbench: transparent sockets are Linux-only: %w", errors.ErrUnsupported)

// transparent is a ListenConfig whose sockets refuse to open.
func transparent(bool) *net.ListenConfig {
	return &net.ListenConfig{Control: func(string, string, syscall.RawConn) error { return errNoTPROXY }}
}

// origDst finds no original destination.
func origDst([]byte) (netip.AddrPort, bool) { return netip.AddrPort{}, false }
