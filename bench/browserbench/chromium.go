package browserbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/spacecast/spacecast/internal/netns"
)

// chromiumFlags are the switches of every browser of a run: headless,
// fake camera and microphone granted without a prompt, autoplay allowed,
// no background traffic of Chromium's own (so that the bridge carries
// the call and nothing else), timers not throttled, the page's console on
// stderr.
func chromiumFlags(profile, origin string, fps int) []string {
	return []string{
		"--headless=new", "--no-sandbox", "--disable-gpu",
		"--use-fake-ui-for-media-stream",
		fmt.Sprintf("--use-fake-device-for-media-stream=fps=%d", fps),
		"--autoplay-policy=no-user-gesture-required",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--no-default-browser-check", "--disable-crash-reporter", "--disable-breakpad",
		"--disable-background-timer-throttling", "--disable-renderer-backgrounding",
		"--disable-backgrounding-occluded-windows",
		"--window-size=1300,800",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + profile,
		"--unsafely-treat-insecure-origin-as-secure=" + origin,
	}
}

// browserEvent is a page event from one browser, or its end (exited).
type browserEvent struct {
	who    string
	ev     pageEvent
	at     time.Time
	exited bool
}

// browser is one Chromium in a host's namespace, in a process group of
// its own (Chromium starts many processes).
type browser struct {
	who  string
	cmd  *exec.Cmd
	stop chan struct{}
	read sync.WaitGroup
	once sync.Once
}

// startBrowser runs Chromium on page inside host. Every stderr line goes
// to logw (when not nil); page events go to events until the browser is
// closed.
func startBrowser(ctx context.Context, host *netns.Host, who, chromium string, flags []string, page string,
	logw io.Writer, events chan<- browserEvent) (*browser, error) {
	cmd := host.Command(ctx, chromium, append(flags, page)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("browserbench: %s: %w", who, err)
	}
	cmd.Stdout = logw
	if logw == nil {
		cmd.Stdout = io.Discard
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("browserbench: start chromium (%s): %w", who, err)
	}
	b := &browser{who: who, cmd: cmd, stop: make(chan struct{})}
	b.read.Add(1)
	go func() {
		defer b.read.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if logw != nil {
				fmt.Fprintln(logw, line)
			}
			ev, ok := parseConsoleLine(line)
			if !ok {
				continue
			}
			select {
			case events <- browserEvent{who: who, ev: ev, at: time.Now()}:
			case <-b.stop:
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		select {
		case events <- browserEvent{who: who, exited: true, at: time.Now()}:
		case <-b.stop:
		}
	}()
	return b, nil
}

// pid is the process group's id.
func (b *browser) pid() int { return b.cmd.Process.Pid }

// close kills the whole process group and waits for it and its reader.
// Safe to call twice.
func (b *browser) close() {
	b.once.Do(func() {
		close(b.stop)
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		read := make(chan struct{})
		go func() { b.read.Wait(); close(read) }()
		select {
		case <-read:
		case <-time.After(3 * time.Second):
			// A helper outside the group holds stderr open: Wait closes
			// our end once Chromium itself is gone, which ends the reader.
		}
		_ = b.cmd.Wait()
		<-read
	})
}
