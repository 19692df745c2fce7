package impair

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// transparent is a ListenConfig whose sockets may bind any address and
// receive TPROXY'd datagrams with their original destination.
func transparent(recvOrigDst bool) *net.ListenConfig {
	return &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if recvOrigDst {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_RECVORIGDSTADDR, 1)
			}
		})
		return errors.Join(err, serr)
	}}
}

// origDst reads IP_ORIGDSTADDR (a struct sockaddr_in) from a datagram's
// control messages.
func origDst(oob []byte) (netip.AddrPort, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.AddrPort{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_IP || m.Header.Type != unix.IP_ORIGDSTADDR || len(m.Data) < 8 {
			continue
		}
		if binary.NativeEndian.Uint16(m.Data[0:2]) != unix.AF_INET {
			continue
		}
		port := binary.BigEndian.Uint16(m.Data[2:4])
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(m.Data[4:8])), port), true
	}
	return netip.AddrPort{}, false
}
