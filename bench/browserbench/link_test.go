package browserbench

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseLoss(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"", 0, ""},
		{"5%", 0.05, ""},
		{" 0.5 % ", 0.005, ""},
		{"0.05", 0.05, ""},
		{"50%", 0.5, ""},
		{"0%", 0, ""},
		{"5", 0, "a fraction"},
		{"51%", 0, "at most 50%"},
		{"-1%", 0, "percentage"},
		{"lots", 0, "percentage"},
		{"NaN", 0, "percentage"},
	} {
		got, err := ParseLoss(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseLoss(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("ParseLoss(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.want > 0 {
			if back, err := ParseLoss(FormatLoss(got)); err != nil || back < got-1e-12 || back > got+1e-12 {
				t.Errorf("FormatLoss(%v) = %q does not read back: %v %v", got, FormatLoss(got), back, err)
			}
		}
	}
}

func TestLinkString(t *testing.T) {
	for _, tc := range []struct {
		l    Link
		want string
	}{
		{Link{}, "clean"},
		{Link{Shaping: Fixed(1_500_000)}, "cap 0s:1.5mbit"},
		{Link{Loss: 0.05}, "loss 5%"},
		{Link{Delay: 40 * time.Millisecond, Jitter: 20 * time.Millisecond}, "delay 40ms±20ms"},
		{Link{Jitter: 30 * time.Millisecond}, "delay 0s±30ms"},
		{Link{Shaping: Fixed(500_000), Loss: 0.01, Delay: 10 * time.Millisecond}, "cap 0s:500kbit, loss 1%, delay 10ms"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.l, got, tc.want)
		}
		if tc.l.Clean() != (tc.want == "clean") {
			t.Errorf("%+v: Clean() = %v", tc.l, tc.l.Clean())
		}
	}
}
