package turn

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The portable data path: pion/turn's own loops read the client sockets
// and every relay socket, one goroutine wake-up and one datagram per read.
// It serves where the Linux poller does not exist, with the same policy,
// quotas, caps and counters; it is slower, as every ChannelData message
// goes through pion.

// plainListener is a UDP client socket on the portable path. Its ReadFrom
// screens STUN messages as the poller's does (credentials against every
// secret, relay policy for ChannelBind) and hands everything else to pion.
type plainListener struct {
	s    *Server
	conn *net.UDPConn
}

// ReadFrom returns the next message for pion.
func (l *plainListener) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		isChannelData := n >= channelHeader && b[0]&0xc0 == 0x40
		if !isChannelData && !l.s.screen(b[:n], from, func(resp []byte) {
			_, _ = l.conn.WriteToUDPAddrPort(resp, from)
		}) {
			continue
		}
		return n, net.UDPAddrFromAddrPort(from), nil
	}
}

func (l *plainListener) WriteTo(p []byte, addr net.Addr) (int, error) { return l.conn.WriteTo(p, addr) }
func (l *plainListener) Close() error                                 { return l.conn.Close() }
func (l *plainListener) LocalAddr() net.Addr                          { return l.conn.LocalAddr() }
func (l *plainListener) SetDeadline(t time.Time) error                { return l.conn.SetDeadline(t) }
func (l *plainListener) SetReadDeadline(t time.Time) error            { return l.conn.SetReadDeadline(t) }
func (l *plainListener) SetWriteDeadline(t time.Time) error           { return l.conn.SetWriteDeadline(t) }

// start: pion reads the socket.
func (l *plainListener) start(*sync.WaitGroup) {}

// Channel data goes through pion: no routes.
func (l *plainListener) addRoute(routeKey, *relayConn, netip.AddrPort) {}
func (l *plainListener) removeRoute(routeKey)                          {}

// relay binds a relay socket that pion's allocation loop reads.
func (l *plainListener) relay(_ *relayConn, network string, port int) (relaySock, netip.AddrPort, error) {
	udp := "udp4"
	if !l.s.relayBind.Is4() {
		udp = "udp6"
	}
	c, local, err := bindRelay(l.s, network, port, func(ap netip.AddrPort) (*net.UDPConn, error) {
		return net.ListenUDP(udp, net.UDPAddrFromAddrPort(ap))
	})
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return netRelay{c}, local, nil
}

// netRelay is a relay socket on the portable path.
type netRelay struct{ conn *net.UDPConn }

// readFrom reads the socket for pion, dropping what the client may not
// receive.
func (n netRelay) readFrom(r *relayConn, p []byte) (int, netip.AddrPort, error) {
	for {
		k, from, err := n.conn.ReadFromUDPAddrPort(p)
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if r.fromPeer(k, from) {
			return k, from, nil
		}
	}
}

func (n netRelay) writeTo(p []byte, peer netip.AddrPort) error {
	if _, err := n.conn.WriteToUDPAddrPort(p, peer); err != nil {
		return fmt.Errorf("turn: relay write: %w", err)
	}
	return nil
}

func (n netRelay) close() { _ = n.conn.Close() }
