//go:build !linux

package turn

import (
	"errors"
	"net"
)

// newFastSock reports that this system has no fast data path (it is
// Linux's epoll poller): the portable one serves.
func newFastSock(*Server, *net.UDPConn) (clientSock, error) { return nil, errors.ErrUnsupported }
