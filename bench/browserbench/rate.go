package browserbench

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid marks an unusable setting: a Config, a rate or a schedule.
var ErrInvalid = errors.New("browserbench: invalid")

// Rate is a link capacity in bits per second; 0 means unshaped.
type Rate int64

// Off is an unshaped link.
const Off Rate = 0

// Bounds of a cap: below 32 kbit/s not even audio fits, above 10 Gbit/s
// tbf on a veth is not the bottleneck.
const (
	minRate Rate = 32_000
	maxRate Rate = 10_000_000_000
)

// ParseRate reads "off" or a number with tc's bit units: "1.5mbit",
// "400kbit", "2gbit", "800000bit". Byte units (tc's "kbps" means
// kilobytes per second) are refused rather than guessed.
func ParseRate(s string) (Rate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "off" || t == "none" || t == "0" {
		return Off, nil
	}
	var mult float64
	var num string
	switch {
	case strings.HasSuffix(t, "gbit"):
		mult, num = 1e9, strings.TrimSuffix(t, "gbit")
	case strings.HasSuffix(t, "mbit"):
		mult, num = 1e6, strings.TrimSuffix(t, "mbit")
	case strings.HasSuffix(t, "kbit"):
		mult, num = 1e3, strings.TrimSuffix(t, "kbit")
	case strings.HasSuffix(t, "bit"):
		mult, num = 1, strings.TrimSuffix(t, "bit")
	default:
		return 0, fmt.Errorf("%w: rate %q: want off or a number with kbit, mbit, gbit or bit (e.g. 1.5mbit)", ErrInvalid, s)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("%w: rate %q: not a positive number", ErrInvalid, s)
	}
	r := Rate(math.Round(v * mult))
	if r < minRate || r > maxRate {
		return 0, fmt.Errorf("%w: rate %q: want between 32kbit and 10gbit", ErrInvalid, s)
	}
	return r, nil
}

// String is the rate as ParseRate reads it.
func (r Rate) String() string {
	switch {
	case r == Off:
		return "off"
	case r%1_000_000_000 == 0:
		return strconv.FormatInt(int64(r/1_000_000_000), 10) + "gbit"
	case r >= 1_000_000 && r%1000 == 0:
		return strconv.FormatFloat(float64(r)/1e6, 'f', -1, 64) + "mbit"
	case r%1000 == 0:
		return strconv.FormatInt(int64(r/1000), 10) + "kbit"
	}
	return strconv.FormatInt(int64(r), 10) + "bit"
}

// Step is one change of the subscriber's downlink: from At (since the
// run's T = 0, the subscriber's connect()) on, the link is capped at Rate.
type Step struct {
	At   time.Duration `json:"at"`
	Rate Rate          `json:"rate"`
}

// Schedule is the subscriber's downlink over a run, steps in time order.
// An empty schedule is an unshaped link.
type Schedule []Step

// Fixed is a cap for the whole run.
func Fixed(r Rate) Schedule {
	if r == Off {
		return nil
	}
	return Schedule{{At: 0, Rate: r}}
}

// ParseSchedule reads "0s:off,15s:400kbit,40s:off": comma-separated
// time:rate steps, times strictly increasing. A schedule that does not
// start at 0s starts unshaped.
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out Schedule
	for _, f := range strings.Split(s, ",") {
		at, rate, ok := strings.Cut(strings.TrimSpace(f), ":")
		if !ok {
			return nil, fmt.Errorf("%w: caps step %q: want time:rate, e.g. 15s:400kbit", ErrInvalid, f)
		}
		d, err := time.ParseDuration(strings.TrimSpace(at))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%w: caps step %q: bad time %q", ErrInvalid, f, at)
		}
		r, err := ParseRate(rate)
		if err != nil {
			return nil, fmt.Errorf("caps step %q: %w", f, err)
		}
		if n := len(out); n > 0 && d <= out[n-1].At {
			return nil, fmt.Errorf("%w: caps step %q: times must increase (%s after %s)", ErrInvalid, f, d, out[n-1].At)
		}
		out = append(out, Step{At: d, Rate: r})
	}
	if out[0].At > 0 {
		out = append(Schedule{{At: 0, Rate: Off}}, out...)
	}
	return out, nil
}

// String is the schedule as ParseSchedule reads it ("off" when empty).
func (s Schedule) String() string {
	if len(s) == 0 {
		return "off"
	}
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = st.At.String() + ":" + st.Rate.String()
	}
	return strings.Join(parts, ",")
}

// Shaped reports whether any step caps the link.
func (s Schedule) Shaped() bool {
	for _, st := range s {
		if st.Rate != Off {
			return true
		}
	}
	return false
}

// validate checks the order and the rates (for schedules built in Go).
func (s Schedule) validate() error {
	for i, st := range s {
		if st.At < 0 || (i > 0 && st.At <= s[i-1].At) {
			return fmt.Errorf("%w: caps: step %d at %s: times must start at 0 or later and increase", ErrInvalid, i, st.At)
		}
		if st.Rate != Off && (st.Rate < minRate || st.Rate > maxRate) {
			return fmt.Errorf("%w: caps: step %d: rate %d bit/s not between 32kbit and 10gbit", ErrInvalid, i, st.Rate)
		}
	}
	return nil
}
