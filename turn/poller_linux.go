package turn

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/spacecast/spacecast/internal/udpbatch"
)

// Every syscall here is non-blocking (MSG_DONTWAIT, epoll timeout 0), so
// they are made with RawSyscall: no scheduler hand-off, no sysmon wake-up.
//
// The relay data path runs outside Go's netpoller: one poller per UDP
// server socket (one per core with SO_REUSEPORT) waits in epoll_wait on that
// socket and on the relay sockets of its allocations, reads with recvmmsg,
// and sends ChannelData to clients with sendmmsg (internal/udpbatch). One
// wake-up then serves every socket that became readable, instead of one
// goroutine park/unpark per packet, and nothing is allocated per packet.
// STUN messages and non-channel peer traffic are handed to pion/turn
// through channels.

const (
	batchSize = 32  // messages per recvmmsg/sendmmsg
	slowQueue = 256 // STUN messages waiting for pion per socket
)

// packet is a datagram for pion's slow path.
type packet struct {
	data []byte
	from netip.AddrPort
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
	relays  map[int32]*fdRelay
	closing []*fdRelay
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
	rx     *udpbatch.Recv // from clients, into rxBufs
	rxBufs [][]byte
	tx     *udpbatch.Batch // ChannelData to clients
	rrx    *udpbatch.Recv  // relay reads, into tx's free slots
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
	fam, err := udpbatch.SocketFamily(lfd)
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
		relays: map[int32]*fdRelay{},
		stun:   make(chan packet, slowQueue),
		done:   make(chan struct{}),
		quit:   make(chan struct{}),
		events: make([]unix.EpollEvent, 128),
		rx:     udpbatch.NewRecv(batchSize),
		rxBufs: make([][]byte, batchSize),
		tx:     udpbatch.NewBatch(batchSize, slotSize),
		rrx:    udpbatch.NewRecv(batchSize),
	}
	for i := range p.rxBufs {
		p.rxBufs[i] = make([]byte, slotSize)
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
func (p *poller) register(r *fdRelay) error {
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
func (p *poller) unregister(r *fdRelay) {
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
	rx := p.rx
	for range 8 { // then let the relay sockets have a turn
		for i := range batchSize {
			rx.Set(i, p.rxBufs[i])
		}
		n, err := rx.ReadFD(p.lfd, batchSize)
		if err != nil || n == 0 {
			return true
		}
		for i := range n {
			size := rx.Size(i)
			if rx.Truncated(i) || size > slotSize {
				continue
			}
			msg := p.rxBufs[i][:size]
			from := rx.From(i)
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
// 4 bytes into a free tx slot, so the ChannelData header goes in front in
// place, and a packet that is not relayed leaves its slot to the next.
func (p *poller) readRelay(f *fdRelay) (drained bool) {
	r := f.r
	for range 4 {
		free := batchSize - p.tx.Len()
		if free == 0 {
			p.flush()
			free = batchSize
		}
		base := p.tx.Len()
		for i := range free {
			p.rrx.Set(i, p.tx.Slot(base + i)[channelHeader:])
		}
		n, err := p.rrx.ReadFD(f.fd, free)
		if err != nil || n == 0 {
			return true
		}
		for i := range n {
			size := p.rrx.Size(i)
			from := p.rrx.From(i)
			if !r.bucket.take(size) {
				r.t.dropped.Add(1)
				continue
			}
			r.mu.RLock()
			ch, ok := r.peers[from]
			client := r.client
			permitted := r.perms[from.Addr()] > 0
			r.mu.RUnlock()
			buf := p.tx.Slot(base + i)
			if ok && r.turn != nil {
				buf[0], buf[1] = byte(ch>>8), byte(ch)
				buf[2], buf[3] = byte(size>>8), byte(size)
				p.tx.CommitSlot(base+i, channelHeader+size, client)
				r.t.sentToClient(size)
				continue
			}
			if !permitted {
				// No permission for this peer (RFC 8656 §10.3): discard it
				// here rather than copy it for pion, which would drop it
				// too; junk sent to a relay port costs no allocation.
				continue
			}
			r.t.sentToClient(size)
			select {
			case f.in <- packet{data: append([]byte(nil), buf[channelHeader:channelHeader+size]...), from: from}:
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
	if p.tx.Len() == 0 {
		return
	}
	udpbatch.SendFD(p.lfd, p.lfamily, p.tx)
}
