package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// inNamespace runs f on an OS thread switched into the host's namespace,
// then switches the thread back. f must make its sockets synchronously
// (net.Listen on a literal address does): a socket belongs to the
// namespace of the thread that created it. It runs in a goroutine of its
// own, waited for: if the thread cannot be switched back, that goroutine
// ends still locked to it and the runtime discards the thread, so no other
// code ever runs in the wrong namespace.
func (h *Host) inNamespace(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- h.switched(f) }()
	return <-done
}

func (h *Host) switched(f func() error) error {
	target, err := os.Open(filepath.Join("/var/run/netns", h.Name))
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	// The thread's own namespace, to come back to.
	self, err := os.Open("/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns: %w", err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the host's namespace: leave it locked, so
		// that the runtime ends it with this goroutine instead of reusing it.
		return fmt.Errorf("setns back: %w (and %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}
