package browserbench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Link is what one subscriber's downlink does to the server's packets on
// their way in, in this order: the cap (tbf on the root namespace's end
// of its veth, on a schedule), random loss (iptables' statistic match in
// its namespace, UDP only: media, not the signalling), then delay and
// jitter (a userspace UDP relay in its namespace). The zero Link is a
// clean link.
type Link struct {
	// Shaping caps the downlink over the run (nil: uncapped).
	Shaping Schedule `json:"shaping,omitempty"`
	// Loss is the share of UDP datagrams dropped at random, 0 to 0.5.
	Loss float64 `json:"loss,omitempty"`
	// Delay is added to every UDP datagram; Jitter varies it uniformly by
	// up to ±Jitter (never below zero), without reordering: a datagram
	// never overtakes the one before it, as on a real access link.
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
}

// Bounds of a link's loss and delay.
const (
	maxLoss  = 0.5
	maxDelay = 2 * time.Second
)

// Delayed reports whether the link goes through the delay relay.
func (l Link) Delayed() bool { return l.Delay > 0 || l.Jitter > 0 }

// Clean reports whether the link does nothing to the packets.
func (l Link) Clean() bool { return !l.Shaping.Shaped() && l.Loss == 0 && !l.Delayed() }

// String sums the link up: "cap 0s:1.5mbit, loss 5%, delay 40ms±20ms"
// ("clean" when it does nothing).
func (l Link) String() string {
	var parts []string
	if l.Shaping.Shaped() {
		parts = append(parts, "cap "+l.Shaping.String())
	}
	if l.Loss > 0 {
		parts = append(parts, "loss "+FormatLoss(l.Loss))
	}
	if l.Delayed() {
		d := "delay " + l.Delay.String()
		if l.Jitter > 0 {
			d += "±" + l.Jitter.String()
		}
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return "clean"
	}
	return strings.Join(parts, ", ")
}

// validate checks the link against a run of duration d.
func (l Link) validate(d time.Duration) []error {
	var errs []error
	bad := func(f string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+f, append([]any{ErrInvalid}, a...)...))
	}
	if err := l.Shaping.validate(); err != nil {
		errs = append(errs, err)
	}
	for _, st := range l.Shaping {
		if st.At >= d {
			bad("caps step %s:%s is not before the run's end (%s)", st.At, st.Rate, d)
		}
	}
	if math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss > maxLoss {
		bad("loss %v: want 0 to 50%%", l.Loss)
	}
	if l.Delay < 0 || l.Delay > maxDelay {
		bad("delay %s: want 0 to %s", l.Delay, maxDelay)
	}
	if l.Jitter < 0 || l.Jitter > maxDelay {
		bad("jitter %s: want 0 to %s", l.Jitter, maxDelay)
	}
	return errs
}

// ParseLoss reads a loss share: "5%", "0.5%" or a fraction "0.05"; ""
// is none. Up to 50 %.
func ParseLoss(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%w: loss %q: want a percentage such as 5%% (or a fraction such as 0.05)", ErrInvalid, s)
	}
	if pct {
		v /= 100
	} else if v > 1 {
		return 0, fmt.Errorf("%w: loss %q: a number without %% is a fraction (0.05 is 5%%); write %s%% for a percentage", ErrInvalid, s, t)
	}
	if v > maxLoss {
		return 0, fmt.Errorf("%w: loss %q: want at most 50%%", ErrInvalid, s)
	}
	return v, nil
}

// FormatLoss writes a share as ParseLoss reads it ("5%").
func FormatLoss(v float64) string {
	return strconv.FormatFloat(v*100, 'f', -1, 64) + "%"
}
