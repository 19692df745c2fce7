package mmsg

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// A socket the kernel will not segment for (SO_NO_CHECK makes UDP_SEGMENT
// fail with EINVAL) falls back to packet by packet and loses nothing.
func TestRefusedSegmentationFallsBack(t *testing.T) {
	u := listen(t)
	c := New(u)
	if !c.out.GSO() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	rc, err := u.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	r := listen(t)
	for round := range 2 {
		c.Hold()
		for i := range 3 {
			_, _ = c.WriteTo(bytes.Repeat([]byte{byte('a' + i)}, 50), r.LocalAddr())
		}
		c.Release()
		if got := sizes(t, r, 3); got != "[a50 b50 c50]" {
			t.Fatalf("round %d: got %s", round, got)
		}
	}
	if s := c.Stats(); s.GSOOff != 1 || s.Segmented != 0 || s.Packets != 6 || s.Failed != 0 {
		t.Fatalf("stats %+v: want one refused segmented write, then plain ones", s)
	}
}
