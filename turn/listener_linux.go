package turn

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spacecast/spacecast/internal/udpbatch"
)

// route is where a channel's data goes, with the peer's sockaddr ready.
type route struct {
	relay *relayConn
	sock  *fdRelay
	peer  netip.AddrPort
	sa    udpbatch.Sockaddr
}

// udpListener is one of the server's UDP sockets as pion/turn sees it, on
// Linux. Its poller reads the socket: channel data from clients (the bulk
// of the traffic) is relayed to peers there, with no allocation and
// without entering pion; STUN messages come out of ReadFrom, screened
// (credentials against every secret, relay policy for ChannelBind).
type udpListener struct {
	s    *Server
	conn *net.UDPConn
	p    *poller
	t    traffic

	mu     sync.RWMutex
	routes map[routeKey]*route

	started   atomic.Bool
	closeOnce sync.Once
}

// newFastSock serves c with this package's own poller.
func newFastSock(s *Server, c *net.UDPConn) (clientSock, error) {
	l := &udpListener{s: s, conn: c, routes: map[routeKey]*route{}}
	p, err := newPoller(l)
	if err != nil {
		return nil, err
	}
	l.p = p
	s.m.track(&l.t)
	return l, nil
}

// start runs the poller; wg waits for it.
func (l *udpListener) start(wg *sync.WaitGroup) {
	l.started.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.p.run()
	}()
}

// ReadFrom returns the next STUN message for pion.
func (l *udpListener) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		select {
		case pkt := <-l.p.stun:
			from := pkt.from
			if !l.s.screen(pkt.data, pkt.from, func(b []byte) {
				_, _ = l.conn.WriteToUDPAddrPort(b, from)
			}) {
				continue
			}
			return copy(b, pkt.data), net.UDPAddrFromAddrPort(pkt.from), nil
		case <-l.p.done:
			return 0, nil, net.ErrClosed
		}
	}
}

// channelData relays one ChannelData message (RFC 8656 §12.4) from the
// poller; anything on an unbound channel is dropped, as pion would.
func (l *udpListener) channelData(b []byte, from netip.AddrPort) {
	ch := binary.BigEndian.Uint16(b[0:2])
	size := int(binary.BigEndian.Uint16(b[2:4]))
	if channelHeader+size > len(b) {
		return
	}
	l.mu.RLock()
	r := l.routes[routeKey{from, ch}]
	l.mu.RUnlock()
	if r == nil {
		return
	}
	p := b[channelHeader : channelHeader+size]
	if send, _ := r.relay.admit(p, r.peer, &l.t); !send {
		return
	}
	if r.sock.sendTo(p, &r.sa) == nil {
		l.t.sentToPeer(len(p))
	}
}

// addRoute relays channel ch of client to peer through r in the poller.
func (l *udpListener) addRoute(k routeKey, r *relayConn, peer netip.AddrPort) {
	f, ok := r.sock.(*fdRelay)
	if !ok {
		return
	}
	rt := &route{relay: r, sock: f, peer: peer, sa: udpbatch.NewSockaddr(peer, f.family)}
	l.mu.Lock()
	l.routes[k] = rt
	l.mu.Unlock()
}

func (l *udpListener) removeRoute(k routeKey) {
	l.mu.Lock()
	delete(l.routes, k)
	l.mu.Unlock()
}

// relay binds a raw non-blocking relay socket that l's poller reads.
func (l *udpListener) relay(r *relayConn, network string, port int) (relaySock, netip.AddrPort, error) {
	fam := unix.AF_INET
	if !l.s.relayBind.Is4() {
		fam = unix.AF_INET6
	}
	fd, local, err := bindRelay(l.s, network, port, func(ap netip.AddrPort) (int, error) { return bindFD(fam, ap) })
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	f := &fdRelay{fd: fd, family: fam, p: l.p, r: r, in: make(chan packet, 64), fdDone: make(chan struct{})}
	if err := l.p.register(f); err != nil {
		_ = unix.Close(fd)
		return nil, netip.AddrPort{}, err
	}
	return f, local, nil
}

// bindFD opens a non-blocking UDP socket of family bound to ap.
func bindFD(family int, ap netip.AddrPort) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (l *udpListener) WriteTo(p []byte, addr net.Addr) (int, error) {
	return l.conn.WriteTo(p, addr)
}

// Close stops the poller, then closes the socket. Safe twice.
func (l *udpListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		if l.started.Load() {
			l.p.stop()
		} else {
			l.p.mu.Lock()
			l.p.stopped = true
			l.p.mu.Unlock()
			l.p.release()
			close(l.p.done)
		}
		err = l.conn.Close()
	})
	return err
}
func (l *udpListener) LocalAddr() net.Addr                { return l.conn.LocalAddr() }
func (l *udpListener) SetDeadline(t time.Time) error      { return nil }
func (l *udpListener) SetReadDeadline(t time.Time) error  { return nil }
func (l *udpListener) SetWriteDeadline(t time.Time) error { return nil }

// fdRelay is a relay socket on Linux: a raw non-blocking UDP socket that
// its poller reads (channel traffic goes straight to the client; the rest
// waits in in for pion) and that only the poller's loop closes.
type fdRelay struct {
	fd     int
	family int
	p      *poller
	r      *relayConn
	in     chan packet   // non-channel peer traffic for pion
	fdDone chan struct{} // closed with the socket

	mu       sync.RWMutex
	fdClosed bool
}

func (f *fdRelay) readFrom(r *relayConn, p []byte) (int, netip.AddrPort, error) {
	select {
	case pkt := <-f.in:
		return copy(p, pkt.data), pkt.from, nil
	case <-r.done:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (f *fdRelay) writeTo(p []byte, peer netip.AddrPort) error {
	sa := udpbatch.NewSockaddr(peer, f.family)
	return f.sendTo(p, &sa)
}

// sendTo writes one payload to a peer whose sockaddr is sa.
func (f *fdRelay) sendTo(p []byte, sa *udpbatch.Sockaddr) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.fdClosed {
		return net.ErrClosed
	}
	if err := udpbatch.SendToFD(f.fd, p, sa); err != nil {
		return fmt.Errorf("turn: relay write: %w", err)
	}
	return nil
}

// close has the poller close the socket and waits for it.
func (f *fdRelay) close() {
	f.p.unregister(f)
	<-f.fdDone
}

// closeFD closes the socket once; the poller calls it from its loop.
func (f *fdRelay) closeFD() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fdClosed {
		f.fdClosed = true
		_ = unix.Close(f.fd)
		close(f.fdDone)
	}
}
