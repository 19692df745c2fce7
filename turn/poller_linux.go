package turn

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every syscall here is non-blocking (MSG_DONTWAIT, epoll timeout 0), so
// they are made with RawSyscall: no scheduler hand-off, no sysmon wake-up.
//
// The relay data path runs outside Go's netpoller: one poller per UDP
// server socket (one per core with SO_REUSEPORT) waits in epoll_wait on that
// socket and on the relay sockets of its allocations, reads with recvmmsg,
// and sends ChannelData to clients with sendmmsg. One wake-up then serves
// every socket that became readable, instead of one goroutine park/unpark
// per packet, and nothing is allocated per packet. STUN messages and
// non-channel peer traffic are handed to pion/turn through channels.

const (
	batchSize = 32   // messages per recvmmsg/sendmmsg
	slotSize  = 2048 // bytes per message buffer (UDP TURN traffic is MTU-sized)
	slowQueue = 256  // STUN messages waiting for pion per socket
)

// packet is a datagram for pion's slow path.
type packet struct {
	data []byte
	from netip.AddrPort
}

// mmsgBatch is the preallocated state of one recvmmsg/sendmmsg call.
type mmsgBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
}

func newBatch(n int) *mmsgBatch {
	b := &mmsgBatch{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		bufs:  make([][]byte, n),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, slotSize)
	}
	return b
}

// prepRecv points message i at buffer i from offset off.
func (b *mmsgBatch) prepRecv(i, off int) {
	b.iovs[i].Base = &b.bufs[i][off]
	b.iovs[i].SetLen(slotSize - off)
	h := &b.hdrs[i].Hdr
	h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	h.Namelen = unix.SizeofSockaddrInet6
	h.Iov = &b.iovs[i]
	h.SetIovlen(1)
	h.Flags = 0
	b.hdrs[i].Len = 0
}

// recvmmsg reads up to n messages from fd without blocking.
func (b *mmsgBatch) recvmmsg(fd, n int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// sendmmsg sends messages [0,n) to fd, retrying partial sends.
func (b *mmsgBatch) sendmmsg(fd, n int) (sent int, err error) {
	for sent < n {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[sent])), uintptr(n-sent), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			if e == unix.EINTR {
				continue
			}
			return sent, e
		}
		sent += int(r)
	}
	return sent, nil
}

// sockaddr encodes ap for a socket of family into sa and returns its size.
func sockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, family int) uint32 {
	port := ap.Port()
	if family == unix.AF_INET {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&s4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		s4.Addr = ap.Addr().Unmap().As4()
		s4.Zero = [8]byte{}
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.Flowinfo = 0
	sa.Addr = ap.Addr().As16()
	sa.Scope_id = 0
	return unix.SizeofSockaddrInet6
}

// addrPort decodes a sockaddr filled by the kernel (IPv4-mapped unmapped).
func addrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	if sa.Family == unix.AF_INET {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
}

// sendto sends p to sa (of size n) on fd without blocking or allocating.
func sendto(fd int, p []byte, sa *unix.RawSockaddrInet6, n uint32) error {
	if len(p) == 0 {
		return nil
	}
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(sa)), uintptr(n))
	if e != 0 {
		return e
	}
	return nil
}

func socketFamily(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	if _, ok := sa.(*unix.SockaddrInet4); ok {
		return unix.AF_INET, nil
	}
	return unix.AF_INET6, nil
}

// poller owns one UDP server socket's data path. Its loop goroutine is the
// only one that reads the sockets it watches and the only one that closes
// relay sockets.
type poller struct {
	l       *udpListener
	epfd    int
	evfd    int
	lfd     int // the server socket's fd (owned by l.conn)
	lfamily int

	mu      sync.Mutex
	relays  map[int32]*relayConn
	closing []*relayConn
	stopped bool // the loop has ended (closes are done directly)

	stun chan packet
	done chan struct{}
	quit chan struct{}

	// The epoll fd is itself watched by Go's netpoller: the loop parks like
	// any goroutine waiting for a socket instead of blocking a thread in
	// epoll_wait.
	epFile   *os.File
	epRaw    syscall.RawConn
	stepFn   func(uintptr) bool
	mustPoll bool
	everr    error

	// Owned by the loop goroutine.
	events []unix.EpollEvent
	rx     *mmsgBatch // from clients
	tx     *mmsgBatch // to clients
	ntx    int
	rrx    *mmsgBatch // headers for relay reads into tx slots
}

func newPoller(l *udpListener) (*poller, error) {
	sc, err := l.conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	lfd := -1
	if err := sc.Control(func(fd uintptr) { lfd = int(fd) }); err != nil { //nolint:gosec
		return nil, err
	}
	fam, err := socketFamily(lfd)
	if err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("turn: epoll: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("turn: eventfd: %w", err)
	}
	p := &poller{
		l: l, epfd: epfd, evfd: evfd, lfd: lfd, lfamily: fam,
		relays: map[int32]*relayConn{},
		stun:   make(chan packet, slowQueue),
		done:   make(chan struct{}),
		quit:   make(chan struct{}),
		events: make([]unix.EpollEvent, 128),
		rx:     newBatch(batchSize),
		tx:     newBatch(batchSize),
		rrx:    &mmsgBatch{hdrs: make([]unix.Mmsghdr, batchSize), iovs: make([]unix.Iovec, batchSize), names: make([]unix.RawSockaddrInet6, batchSize)},
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		p.release()
		return nil, fmt.Errorf("turn: epoll: %w", err)
	}
	p.epFile = os.NewFile(uintptr(epfd), "epoll")
	if p.epRaw, err = p.epFile.SyscallConn(); err != nil {
		p.release()
		return nil, fmt.Errorf("turn: epoll: %w", err)
	}
	p.stepFn = p.step
	p.mustPoll = true
	for _, fd := range []int{evfd, lfd} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil { //nolint:gosec
			p.release()
			return nil, fmt.Errorf("turn: epoll add: %w", err)
		}
	}
	return p, nil
}

func (p *poller) release() {
	if p.epFile != nil {
		_ = p.epFile.Close()
	} else {
		_ = unix.Close(p.epfd)
	}
	_ = unix.Close(p.evfd)
}

// step is the loop body, run inside RawConn.Read so that the readiness
// flag Go keeps for the epoll fd is never reset between rounds: it returns
// false to park until the epoll fd signals (at once if it already has), and
// true to end the loop. Every packet queued on a watched socket signals the
// epoll fd, so after a round that drained every socket it waits for that
// signal instead of polling again (one syscall less per wake-up).
func (p *poller) step(uintptr) bool {
	for {
		if !p.mustPoll {
			p.mustPoll = true
			return false
		}
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), uintptr(unsafe.Pointer(&p.events[0])),
			uintptr(len(p.events)), 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			p.everr = e
			return true
		case r == 0:
			return false
		}
		n := int(r)
		drained, quit := p.handle(n)
		p.flush()
		if quit {
			return true
		}
		p.mustPoll = !drained || n == len(p.events)
	}
}

// wake interrupts the loop (the eventfd is closed once the loop has ended).
func (p *poller) wake() {
	one := [8]byte{1}
	p.mu.Lock()
	if !p.stopped {
		_, _ = unix.Write(p.evfd, one[:])
	}
	p.mu.Unlock()
}

// stop ends the loop and waits for it.
func (p *poller) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	p.wake()
	<-p.done
}

// register starts watching a relay socket.
func (p *poller) register(r *relayConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return ErrClosed
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, r.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(r.fd)}); err != nil { //nolint:gosec
		return fmt.Errorf("turn: epoll add: %w", err)
	}
	p.relays[int32(r.fd)] = r //nolint:gosec
	return nil
}

// unregister has the loop close r's socket (or closes it now if the loop
// has ended).
func (p *poller) unregister(r *relayConn) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		r.closeFD()
		return
	}
	p.closing = append(p.closing, r)
	p.mu.Unlock()
	p.wake()
}

// run is the loop; it returns after stop.
func (p *poller) run() {
	defer close(p.done)
	_ = p.epRaw.Read(p.stepFn)
	p.finish()
}

// handle serves n epoll events. drained is false when a socket may still
// hold data (a read limit was hit); quit when stop was asked.
func (p *poller) handle(n int) (drained, quit bool) {
	drained = true
	for i := range n {
		fd := p.events[i].Fd
		switch int(fd) {
		case p.evfd:
			var b [8]byte
			_, _ = unix.Read(p.evfd, b[:])
			p.closeRelays()
			select {
			case <-p.quit:
				return drained, true
			default:
			}
		case p.lfd:
			if !p.readClients() {
				drained = false
			}
		default:
			p.mu.Lock()
			r := p.relays[fd]
			p.mu.Unlock()
			if r != nil && !p.readRelay(r) {
				drained = false
			}
		}
	}
	return drained, false
}

func (p *poller) closeRelays() {
	p.mu.Lock()
	list := p.closing
	p.closing = nil
	for _, r := range list {
		delete(p.relays, int32(r.fd)) //nolint:gosec
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
	}
	p.mu.Unlock()
	for _, r := range list {
		r.closeFD()
	}
}

// finish closes what is left once the loop ends.
func (p *poller) finish() {
	p.mu.Lock()
	p.stopped = true
	list := p.closing
	p.closing = nil
	p.mu.Unlock()
	for _, r := range list {
		r.closeFD()
	}
	p.release()
}

// readClients drains the server socket: ChannelData is relayed to peers
// right away, STUN goes to pion.
func (p *poller) readClients() (drained bool) {
	b := p.rx
	for range 8 { // then let the relay sockets have a turn
		for i := range batchSize {
			b.prepRecv(i, 0)
		}
		n, err := b.recvmmsg(p.lfd, batchSize)
		if err != nil || n == 0 {
			return true
		}
		for i := range n {
			size := int(b.hdrs[i].Len)
			if b.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 || size > slotSize {
				continue
			}
			msg := b.bufs[i][:size]
			from := addrPort(&b.names[i])
			if size >= channelHeader && msg[0]&0xc0 == 0x40 {
				p.l.channelData(msg, from)
				continue
			}
			select {
			case p.stun <- packet{data: append([]byte(nil), msg...), from: from}:
			default: // pion is behind: drop, the client retransmits
			}
		}
		if n < batchSize {
			return true
		}
	}
	return false
}

// readRelay drains one relay socket into the outgoing batch: payloads land
// 4 bytes into a tx slot, so the ChannelData header goes in front in place.
func (p *poller) readRelay(r *relayConn) (drained bool) {
	for range 4 {
		free := batchSize - p.ntx
		if free == 0 {
			p.flush()
			free = batchSize
		}
		rb := p.rrx
		for i := range free {
			slot := p.ntx + i
			rb.iovs[i].Base = &p.tx.bufs[slot][channelHeader]
			rb.iovs[i].SetLen(slotSize - channelHeader)
			h := &rb.hdrs[i].Hdr
			h.Name = (*byte)(unsafe.Pointer(&rb.names[i]))
			h.Namelen = unix.SizeofSockaddrInet6
			h.Iov = &rb.iovs[i]
			h.SetIovlen(1)
			h.Flags = 0
		}
		n, err := rb.recvmmsg(r.fd, free)
		if err != nil || n == 0 {
			return true
		}
		base := p.ntx
		for i := range n {
			size := int(rb.hdrs[i].Len)
			from := addrPort(&rb.names[i])
			slot := p.ntx
			// Packet i landed in slot base+i; a packet dropped before it
			// leaves a gap, closed by swapping the buffers (no copy).
			if base+i != slot {
				p.tx.bufs[slot], p.tx.bufs[base+i] = p.tx.bufs[base+i], p.tx.bufs[slot]
			}
			buf := p.tx.bufs[slot]
			if !r.bucket.take(size) {
				r.t.dropped.Add(1)
				continue
			}
			r.mu.RLock()
			ch, ok := r.peers[from]
			client := r.client
			permitted := r.perms[from.Addr()] > 0
			r.mu.RUnlock()
			if ok && r.turn != nil {
				buf[0], buf[1] = byte(ch>>8), byte(ch)
				buf[2], buf[3] = byte(size>>8), byte(size)
				p.tx.iovs[slot].Base = &buf[0]
				p.tx.iovs[slot].SetLen(channelHeader + size)
				h := &p.tx.hdrs[slot].Hdr
				h.Name = (*byte)(unsafe.Pointer(&p.tx.names[slot]))
				h.Namelen = sockaddr(&p.tx.names[slot], client, p.lfamily)
				h.Iov = &p.tx.iovs[slot]
				h.SetIovlen(1)
				h.Flags = 0
				p.ntx++
				r.t.toClientPackets.Add(1)
				r.t.toClientBytes.Add(uint64(size)) //nolint:gosec
				continue
			}
			if !permitted {
				// No permission for this peer (RFC 8656 §10.3): discard it
				// here rather than copy it for pion, which would drop it
				// too; junk sent to a relay port costs no allocation.
				continue
			}
			r.t.toClientPackets.Add(1)
			r.t.toClientBytes.Add(uint64(size)) //nolint:gosec
			select {
			case r.in <- packet{data: append([]byte(nil), buf[channelHeader:channelHeader+size]...), from: from}:
			default:
			}
		}
		if n < free {
			return true
		}
	}
	return false
}

// flush sends the ChannelData batched for clients.
func (p *poller) flush() {
	if p.ntx == 0 {
		return
	}
	_, _ = p.tx.sendmmsg(p.lfd, p.ntx)
	p.ntx = 0
}
