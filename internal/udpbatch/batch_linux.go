package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const batched = true

// cmsgSpace is the room of one UDP_SEGMENT control message.
var cmsgSpace = unix.CmsgSpace(2)

// sysConn is a Conn's socket as the kernel sees it.
type sysConn struct {
	rc     syscall.RawConn
	family int // AF_INET or AF_INET6: how destinations are encoded
}

func (s *sysConn) init(uc *net.UDPConn) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { s.family, ferr = SocketFamily(int(fd)) }); err != nil { //nolint:gosec // an fd
		return err
	}
	if ferr != nil {
		return ferr
	}
	s.rc = rc
	return nil
}

// canSegment reports whether the kernel knows UDP_SEGMENT (Linux 4.18+).
func (s *sysConn) canSegment() bool {
	ok := false
	_ = s.rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT) //nolint:gosec // an fd
		ok = err == nil
	})
	return ok
}

// SocketFamily is the address family of socket fd: unix.AF_INET or
// unix.AF_INET6.
func SocketFamily(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	if _, ok := sa.(*unix.SockaddrInet4); ok {
		return unix.AF_INET, nil
	}
	return unix.AF_INET6, nil
}

// sysBatch is a Batch as sendmmsg(2) reads it: one header, name and
// control message per message, one iovec per slot (a segmented message's
// iovecs are its run of slots).
type sysBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oob   []byte // cmsgSpace per message, the UDP_SEGMENT header written once

	// The sendmmsg call that write makes, and what it returned.
	fn       func(fd uintptr) bool
	from, to int
	sent     int
	errno    syscall.Errno
}

func (s *sysBatch) init(slots int) {
	s.hdrs = make([]unix.Mmsghdr, slots)
	s.iovs = make([]unix.Iovec, slots)
	s.names = make([]unix.RawSockaddrInet6, slots)
	s.oob = make([]byte, slots*cmsgSpace)
	for k := range slots {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&s.oob[k*cmsgSpace]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	s.fn = s.write
}

// build fills the headers of b's messages for a socket of family.
func (s *sysBatch) build(b *Batch, family int) {
	for k, m := range b.msgs {
		for i := m.first; i < m.first+m.count; i++ {
			s.iovs[i].Base = &b.slots[i][0]
			s.iovs[i].SetLen(b.lens[i])
		}
		h := &s.hdrs[k].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.names[k]))
		h.Namelen = encode(&s.names[k], b.to[m.first], family)
		h.Iov = &s.iovs[m.first]
		h.SetIovlen(m.count)
		if m.seg > 0 {
			o := s.oob[k*cmsgSpace : (k+1)*cmsgSpace]
			binary.NativeEndian.PutUint16(o[unix.CmsgLen(0):], uint16(m.seg)) //nolint:gosec // <= MaxSegmentSize
			h.Control = &o[0]
			h.SetControllen(cmsgSpace)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		h.Flags = 0
		s.hdrs[k].Len = 0
	}
}

// write is the RawConn.Write callback: one sendmmsg of headers [from,to).
// It asks to wait while the socket buffer is full.
func (s *sysBatch) write(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.from])), uintptr(s.to-s.from), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.sent, s.errno = int(r), e
		return true
	}
}

// Send sends what b holds, with as few sendmmsg calls as the kernel
// allows, and empties b. A datagram the kernel refuses is counted and
// does not stop the rest.
func (c *Conn) Send(b *Batch) Result {
	if c.each {
		return c.sendEach(b)
	}
	var r Result
	b.coalesce(c.gso.Load())
	s := &b.sys
	s.build(b, c.sys.family)
	for i := 0; i < len(b.msgs); {
		s.from, s.to, s.sent, s.errno = i, len(b.msgs), 0, 0
		err := c.sys.rc.Write(s.fn)
		r.Calls++
		if err != nil {
			// The socket is closed or past its write deadline: nothing
			// more leaves.
			for _, m := range b.msgs[i:] {
				r.Failed += uint64(m.count) //nolint:gosec
			}
			break
		}
		if s.errno == 0 && s.sent > 0 {
			for _, m := range b.msgs[i : i+s.sent] {
				r.sent(b, m)
			}
			i += s.sent
			continue
		}
		// Message i failed (a bad address, a full buffer, or a device
		// that cannot segment): count it and go on with the rest.
		m := b.msgs[i]
		if m.count > 1 && (s.errno == unix.EIO || s.errno == unix.EINVAL) {
			// The path cannot take segmented writes: stop making them and
			// send this run packet by packet.
			c.gso.Store(false)
			r.GSOOff = true
			c.sendRun(b, m, &r)
		} else {
			r.Failed += uint64(m.count) //nolint:gosec
		}
		i++
	}
	b.Reset()
	return r
}

// encode writes ap into sa for a socket of family and returns the
// sockaddr's size. An IPv6 destination on an IPv4 socket is encoded as
// IPv6 for the kernel to refuse.
func encode(sa *unix.RawSockaddrInet6, ap netip.AddrPort, family int) uint32 {
	port := ap.Port()
	addr := ap.Addr()
	if family == unix.AF_INET && addr.Unmap().Is4() {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		s4.Addr = addr.Unmap().As4()
		s4.Zero = [8]byte{}
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.Flowinfo = 0
	sa.Addr = addr.As16()
	sa.Scope_id = scope(addr.Zone())
	return unix.SizeofSockaddrInet6
}

// scope is the interface index of an IPv6 zone (a link-local
// destination's), 0 for none.
func scope(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index) //nolint:gosec // an interface index
	}
	return 0
}

// decode reads a sockaddr the kernel filled (IPv4-mapped addresses
// unmapped).
func decode(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	if sa.Family == unix.AF_INET {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
}

// The file-descriptor calls below are for a caller's own poll loop on raw
// non-blocking sockets. They never block (MSG_DONTWAIT), so they are made
// with RawSyscall: no scheduler hand-off, no sysmon wake-up.

// Recv is a set of receive slots for recvmmsg(2): each reads one datagram
// into the buffer its Set gave it. Not safe for concurrent use.
type Recv struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
}

// NewRecv returns n receive slots.
func NewRecv(n int) *Recv {
	return &Recv{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
	}
}

// Set makes slot i read into buf (which must not be empty).
func (r *Recv) Set(i int, buf []byte) {
	r.iovs[i].Base = &buf[0]
	r.iovs[i].SetLen(len(buf))
	h := &r.hdrs[i].Hdr
	h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	h.Namelen = unix.SizeofSockaddrInet6
	h.Iov = &r.iovs[i]
	h.SetIovlen(1)
	h.Control = nil
	h.SetControllen(0)
	h.Flags = 0
	r.hdrs[i].Len = 0
}

// ReadFD reads up to n datagrams from fd into slots [0,n) without
// blocking, and returns how many it read (0 with unix.EAGAIN when there
// were none).
func (r *Recv) ReadFD(fd, n int) (int, error) {
	got, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0) //nolint:gosec // an fd
	if e != 0 {
		return 0, e
	}
	return int(got), nil
}

// Size is the length of the datagram slot i read.
func (r *Recv) Size(i int) int { return int(r.hdrs[i].Len) }

// Truncated reports whether slot i's datagram was longer than its buffer.
func (r *Recv) Truncated(i int) bool { return r.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 }

// From is the sender of slot i's datagram.
func (r *Recv) From(i int) netip.AddrPort { return decode(&r.names[i]) }

// SendFD sends what b holds on fd (a socket of family, unix.AF_INET or
// AF_INET6) without blocking or segmenting, and empties b. A datagram the
// kernel refuses is counted and does not stop the rest; when the socket
// buffer is full, the rest are counted as failed.
func SendFD(fd, family int, b *Batch) Result {
	var r Result
	b.coalesce(false)
	s := &b.sys
	s.build(b, family)
	for i := 0; i < len(b.msgs); {
		sent, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&s.hdrs[i])), uintptr(len(b.msgs)-i), unix.MSG_DONTWAIT, 0, 0) //nolint:gosec // an fd
		r.Calls++
		switch {
		case e == unix.EINTR:
			continue
		case e == 0 && sent > 0:
			for _, m := range b.msgs[i : i+int(sent)] {
				r.sent(b, m)
			}
			i += int(sent)
		case e == unix.EAGAIN:
			r.Failed += uint64(len(b.msgs) - i) //nolint:gosec
			i = len(b.msgs)
		default:
			r.Failed++
			i++
		}
	}
	b.Reset()
	return r
}

// Sockaddr is a destination encoded once for SendToFD.
type Sockaddr struct {
	raw unix.RawSockaddrInet6
	n   uint32
}

// NewSockaddr encodes ap for a socket of family (unix.AF_INET or AF_INET6).
func NewSockaddr(ap netip.AddrPort, family int) Sockaddr {
	var sa Sockaddr
	sa.n = encode(&sa.raw, ap, family)
	return sa
}

// SendToFD sends p to sa on fd without blocking or allocating.
func SendToFD(fd int, p []byte, sa *Sockaddr) error {
	if len(p) == 0 {
		return nil
	}
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), //nolint:gosec // an fd
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa.raw)), uintptr(sa.n))
	if e != 0 {
		return e
	}
	return nil
}
