package turn

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// clientSock is one of the server's UDP sockets as pion/turn sees it, with
// the data path that serves it and its allocations: on Linux this
// package's own poller (listener_linux.go, poller_linux.go), elsewhere, or
// when asked, pion's own loops (portable.go).
type clientSock interface {
	net.PacketConn
	// start starts what reads the socket besides pion, if anything; wg
	// waits for it.
	start(wg *sync.WaitGroup)
	// relay binds a relay socket for r on this data path (network and
	// port as the client asked: port 0 is any in the relay range).
	relay(r *relayConn, network string, port int) (relaySock, netip.AddrPort, error)
	// addRoute and removeRoute follow the channel bindings of this
	// socket's clients, for a data path that relays channel data itself.
	addRoute(k routeKey, r *relayConn, peer netip.AddrPort)
	removeRoute(k routeKey)
}

// routeKey names a channel of a client on one UDP socket.
type routeKey struct {
	client netip.AddrPort
	ch     uint16
}

// withPortablePath serves every UDP socket through pion's loops, as off
// Linux (tests of that path on Linux).
func withPortablePath() Option { return func(s *Server) { s.portable = true } }

// newClientSock serves c on the fast data path where there is one, else on
// the portable one.
func (s *Server) newClientSock(c *net.UDPConn) (clientSock, error) {
	if !s.portable {
		l, err := newFastSock(s, c)
		if !errors.Is(err, errors.ErrUnsupported) {
			return l, err
		}
	}
	return &plainListener{s: s, conn: c}, nil
}
