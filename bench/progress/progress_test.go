package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPrinter(t *testing.T) {
	tests := []struct {
		name  string
		tty   bool
		check func(t *testing.T, out string)
	}{
		{"plain lines, throttled", false, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			want := []string{"step 0", "phase two", "step 4", "step 8", "the end"}
			if strings.Join(lines, "|") != strings.Join(want, "|") {
				t.Fatalf("lines = %q, want %q", lines, want)
			}
			if strings.Contains(out, "\r") {
				t.Fatal("plain output holds a carriage return")
			}
		}},
		{"tty rewrites one line", true, func(t *testing.T, out string) {
			if !strings.Contains(out, "\r\033[Kstep 0") || !strings.Contains(out, "phase two\n") {
				t.Fatalf("out = %q", out)
			}
			if strings.Count(out, "\n") != 2 || strings.Contains(out, "stale\n") {
				t.Fatalf("tty output has %d newlines: %q", strings.Count(out, "\n"), out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := New(&buf, tt.tty, time.Second)
			clock := time.Unix(0, 0)
			p.now = func() time.Time { return clock }
			for i := 0; i < 10; i++ {
				p.Update("step %d", i)
				if i == 2 {
					p.Printf("phase two")
				}
				clock = clock.Add(250 * time.Millisecond) // 4 updates a second
			}
			p.Update("stale")
			p.Printf("the end")
			p.Done()
			tt.check(t, buf.String())
		})
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or buffer is not a terminal")
	}
}
