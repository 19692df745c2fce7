package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		check   func(t *testing.T, out string)
	}{
		{name: "default text drops debug", cfg: Default(), check: func(t *testing.T, out string) {
			if strings.Contains(out, "dbg") || !strings.Contains(out, "msg=inf") {
				t.Fatalf("out = %q", out)
			}
		}},
		{name: "json debug", cfg: Config{Level: "debug", Format: "json"}, check: func(t *testing.T, out string) {
			if !strings.Contains(out, `"msg":"dbg"`) {
				t.Fatalf("out = %q", out)
			}
		}},
		{name: "bad level", cfg: Config{Level: "loud"}, wantErr: true},
		{name: "bad format", cfg: Config{Format: "xml"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := tt.cfg.New(&buf)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("dbg")
			l.Info("inf")
			tt.check(t, buf.String())
		})
	}
}

func TestPion(t *testing.T) {
	var buf bytes.Buffer
	l, err := Config{Level: "warn"}.New(&buf)
	if err != nil {
		t.Fatal(err)
	}
	p := Pion(l).NewLogger("ice")
	p.Infof("quiet %d", 1)
	p.Warnf("loud %d", 2)
	p.Errorf("read udp 127.0.0.1:1: %s", "use of closed network connection")
	out := buf.String()
	if strings.Contains(out, "closed network") || strings.Contains(out, "quiet") || !strings.Contains(out, "loud 2") || !strings.Contains(out, "subsystem=pion/ice") {
		t.Fatalf("out = %q", out)
	}
}
