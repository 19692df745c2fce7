package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}

// Printer shows progress. It is safe for concurrent use.
type Printer struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	last    time.Time
	pending string // status line not yet shown (plain mode)
	shown   bool   // a status line is on screen (tty mode)
}

// New makes a printer on w; tty selects the in-place line. Plain lines are
// printed at most once per interval (default 2s).
func New(w io.Writer, tty bool, interval time.Duration) *Printer {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if tty {
		interval = 100 * time.Millisecond
	}
	return &Printer{w: w, tty: tty, interval: interval, now: time.Now}
}

// Discard is a printer that shows nothing.
func Discard() *Printer { return New(io.Discard, false, time.Hour) }

// Update sets the status line.
func (p *Printer) Update(format string, args ...any) {
	if p == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.last) < p.interval {
		p.pending = line
		return
	}
	p.last = now
	p.pending = ""
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Printf prints a line that stays (a phase starting, a warning).
func (p *Printer) Printf(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = "" // a lasting line supersedes the status
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Done ends the status line (printing the last pending status in plain
// mode).
func (p *Printer) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		if p.shown {
			fmt.Fprint(p.w, "\r\033[K")
			p.shown = false
		}
		return
	}
	if p.pending != "" {
		fmt.Fprintln(p.w, p.pending)
		p.pending = ""
	}
}
