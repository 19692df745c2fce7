package browserbench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// htons turns a protocol number into the byte order AF_PACKET wants.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openTap binds a packet socket to iface, for the wires of every
// subscriber. It does not read yet.
func openTap(iface string, ws []*wire) (*tap, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("browserbench: tap: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("browserbench: tap: packet socket: %w", err)
	}
	fail := func(what string, err error) (*tap, error) {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("browserbench: tap: %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) // root; best effort
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind "+iface, err)
	}
	return &tap{fd: fd, ws: ws, origins: make([]time.Time, len(ws))}, nil
}

// run reads frames until ctx ends, then closes the socket.
func (t *tap) run(ctx context.Context) error {
	defer func() {
		d := t.readDrops()
		_ = unix.Close(t.fd)
		t.mu.Lock()
		t.dropped += d
		t.mu.Unlock()
	}()
	buf := make([]byte, vnetHeaderLen+65536+ethHeaderLen+64)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(t.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("browserbench: tap: %w", err)
		}
		if n <= vnetHeaderLen {
			continue
		}
		now := time.Now()
		t.mu.Lock()
		for i, w := range t.ws {
			sec := -1 // before T = 0
			if o := t.origins[i]; !o.IsZero() {
				sec = int(math.Floor(now.Sub(o).Seconds()))
			}
			w.frame(buf[vnetHeaderLen:n], vnetGSOSize(buf[:vnetHeaderLen]), sec)
		}
		t.mu.Unlock()
	}
	return nil
}

// readDrops is how many frames the kernel dropped for want of room in the
// socket's buffer since the last call (PACKET_STATISTICS resets it).
func (t *tap) readDrops() uint64 {
	var st unix.TpacketStats
	l := uint32(unsafe.Sizeof(st))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(t.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return 0
	}
	return uint64(st.Drops)
}
