package udpbatch

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A socket the kernel will not segment for (SO_NO_CHECK makes UDP_SEGMENT
// fail with EINVAL) turns segmentation off and loses nothing.
func TestRefusedSegmentationFallsBack(t *testing.T) {
	u := listen(t)
	c, err := NewConn(u)
	if err != nil {
		t.Fatal(err)
	}
	if !c.GSO() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	control(t, u, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) })
	r := listen(t)
	b := NewBatch(8, 1500)
	for i := range 3 {
		put(b, bytes.Repeat([]byte{byte('a' + i)}, 50), addr(r))
	}
	res := c.Send(b)
	// One refused sendmmsg, then three sendto.
	if want := (Result{Packets: 3, Bytes: 150, Calls: 4, GSOOff: true}); res != want || c.GSO() {
		t.Fatalf("result %+v (GSO %v), want %+v and GSO off", res, c.GSO(), want)
	}
	if got := fmt.Sprint(read(t, r, 3)); got != "[a50 b50 c50]" {
		t.Fatalf("got %s", got)
	}
	for i := range 3 {
		put(b, bytes.Repeat([]byte{byte('d' + i)}, 50), addr(r))
	}
	if res := c.Send(b); res != (Result{Packets: 3, Bytes: 150, Calls: 1}) {
		t.Fatalf("after: %+v, want one plain sendmmsg", res)
	}
	if got := fmt.Sprint(read(t, r, 3)); got != "[d50 e50 f50]" {
		t.Fatalf("got %s", got)
	}
}

// A dual-stack socket sends to IPv4 destinations as IPv4-mapped ones.
func TestDualStackSocketReachesIPv4(t *testing.T) {
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer u.Close()
	c, err := NewConn(u)
	if err != nil {
		t.Fatal(err)
	}
	if c.sys.family != unix.AF_INET6 {
		t.Fatalf("family %d, want AF_INET6", c.sys.family)
	}
	r := listen(t)
	b := NewBatch(2, 64)
	put(b, []byte("v4"), addr(r))
	if res := c.Send(b); res.Packets != 1 {
		t.Fatalf("result %+v", res)
	}
	if got := fmt.Sprint(read(t, r, 1)); got != "[v2]" {
		t.Fatalf("got %s", got)
	}
}

func TestSockaddrRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		ap     string
		family int
		want   uint32
	}{
		{"127.0.0.1:5000", unix.AF_INET, unix.SizeofSockaddrInet4},
		{"127.0.0.1:5000", unix.AF_INET6, unix.SizeofSockaddrInet6},
		{"[2001:db8::1]:443", unix.AF_INET6, unix.SizeofSockaddrInet6},
		{"[2001:db8::1]:443", unix.AF_INET, unix.SizeofSockaddrInet6}, // for the kernel to refuse
	} {
		ap := netip.MustParseAddrPort(tc.ap)
		sa := NewSockaddr(ap, tc.family)
		if sa.n != tc.want || decode(&sa.raw) != ap {
			t.Errorf("%s for family %d: %d bytes, decodes to %v", tc.ap, tc.family, sa.n, decode(&sa.raw))
		}
	}
}

// rawSocket is a non-blocking UDP socket on 127.0.0.1, outside Go's
// netpoller, as a caller's own poll loop has them.
func rawSocket(t testing.TB) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port)) //nolint:gosec
}

// Recv reads many datagrams in one call with their senders, flags the
// one too long for its buffer, and says EAGAIN when there is none.
func TestRecvFD(t *testing.T) {
	fd, at := rawSocket(t)
	s1, s2 := listen(t), listen(t)
	for _, w := range []struct {
		c *net.UDPConn
		p string
	}{{s1, "one"}, {s2, "two"}, {s1, "a datagram longer than its buffer"}} {
		if _, err := w.c.WriteToUDPAddrPort([]byte(w.p), at); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRecv(4)
	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = make([]byte, 16)
		r.Set(i, bufs[i])
	}
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		k, err := r.ReadFD(fd, 4)
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		for i := range k {
			from := map[netip.AddrPort]string{addr(s1): "s1", addr(s2): "s2"}[r.From(i)]
			got = append(got, fmt.Sprintf("%s:%q:%v", from, bufs[i][:r.Size(i)], r.Truncated(i)))
		}
	}
	if want := `[s1:"one":false s2:"two":false s1:"a datagram longe":true]`; fmt.Sprint(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if k, err := r.ReadFD(fd, 4); k != 0 || err != unix.EAGAIN {
		t.Fatalf("empty socket: %d, %v; want EAGAIN", k, err)
	}
}

// SendFD sends a batch from a raw socket, counts a refused datagram and
// goes on; SendToFD sends one datagram to a prepared address.
func TestSendFD(t *testing.T) {
	fd, at := rawSocket(t)
	r := listen(t)
	b := NewBatch(4, 64)
	put(b, []byte("a"), addr(r))
	put(b, []byte("x"), netip.MustParseAddrPort("[::1]:9"))
	put(b, []byte("b"), addr(r))
	if res := SendFD(fd, unix.AF_INET, b); res.Packets != 2 || res.Failed != 1 || b.Len() != 0 {
		t.Fatalf("result %+v, batch %d: want 2 sent, 1 refused, empty", res, b.Len())
	}
	sa := NewSockaddr(addr(r), unix.AF_INET)
	if err := SendToFD(fd, []byte("c"), &sa); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	var got []string
	for range 3 {
		_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := r.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%v", buf[:n], from == at))
	}
	if fmt.Sprint(got) != "[a/true b/true c/true]" {
		t.Fatalf("got %v, want a, b and c from the raw socket", got)
	}
}

// control runs f on u's fd.
func control(t *testing.T, u *net.UDPConn, f func(fd int) error) {
	t.Helper()
	rc, err := u.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil { //nolint:gosec
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
}
