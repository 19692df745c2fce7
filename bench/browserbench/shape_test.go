package browserbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
		err  bool
	}{
		{"off", Off, false},
		{"OFF", Off, false},
		{"1.5mbit", 1_500_000, false},
		{"400kbit", 400_000, false},
		{"2gbit", 2_000_000_000, false},
		{"800000bit", 800_000, false},
		{" 1mbit ", 1_000_000, false},
		{"1.5", 0, true},     // no unit
		{"200kbps", 0, true}, // tc's kbps is kilobytes: refused
		{"1.5mbps", 0, true}, // ditto
		{"-1mbit", 0, true},  // negative
		{"0kbit", 0, true},   // zero with a unit
		{"10kbit", 0, true},  // below 32 kbit/s
		{"20gbit", 0, true},  // above 10 gbit/s
		{"NaNmbit", 0, true}, // not a number
		{"mbit", 0, true},    // no number
		{"1.5e3kbit", 1_500_000, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			if err == nil {
				back, err := ParseRate(got.String())
				if err != nil || back != got {
					t.Fatalf("%v.String() = %q reads back as %v, %v", got, got.String(), back, err)
				}
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Schedule
		err  string
	}{
		{"", nil, ""},
		{"0s:off,15s:400kbit,40s:off", Schedule{{0, Off}, {15 * time.Second, 400_000}, {40 * time.Second, Off}}, ""},
		{"0s:1.5mbit", Schedule{{0, 1_500_000}}, ""},
		{"10s:500kbit", Schedule{{0, Off}, {10 * time.Second, 500_000}}, ""}, // starts unshaped
		{"15s:400kbit,10s:off", nil, "times must increase"},
		{"0s:off,0s:1mbit", nil, "times must increase"},
		{"15s", nil, "want time:rate"},
		{"x:1mbit", nil, "bad time"},
		{"-1s:1mbit", nil, "bad time"},
		{"0s:fast", nil, "rate"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSchedule(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseSchedule(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseSchedule(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if back, err := ParseSchedule(got.String()); len(got) > 0 && (err != nil || !slices.Equal(back, got)) {
				t.Fatalf("%q reads back as %v, %v", got.String(), back, err)
			}
		})
	}
	if s := Fixed(Off); s != nil || s.Shaped() {
		t.Fatalf("Fixed(Off) = %v", s)
	}
	if s := Fixed(1_000_000); !s.Shaped() || s.at(time.Hour) != 1_000_000 {
		t.Fatalf("Fixed(1mbit) = %v", s)
	}
}

func TestTBFArgs(t *testing.T) {
	for _, tc := range []struct {
		rate Rate
		want string
	}{
		// 5 ms at 1.5 Mbit/s is 937 bytes: two full frames instead.
		{1_500_000, "qdisc replace dev scv1 root tbf rate 1500000bit burst 3028 latency 200ms"},
		{400_000, "qdisc replace dev scv1 root tbf rate 400000bit burst 3028 latency 200ms"},
		// 5 ms at 100 Mbit/s is 62,500 bytes.
		{100_000_000, "qdisc replace dev scv1 root tbf rate 100000000bit burst 62500 latency 200ms"},
		{Off, "qdisc del dev scv1 root"},
	} {
		if got := strings.Join(tbfArgs("scv1", tc.rate), " "); got != tc.want {
			t.Errorf("tbfArgs(%v) = %q, want %q", tc.rate, got, tc.want)
		}
	}
}

func TestParseQdiscJSON(t *testing.T) {
	out := `[{"kind":"tbf","handle":"8001:","root":true,"refcnt":3,"options":{"rate":187500,"burst":3199,"lat":200000},"bytes":1234,"packets":5,"drops":2,"overlimits":7,"requeues":0,"backlog":0,"qlen":0}]`
	c, ok, err := parseQdiscJSON([]byte(out))
	if err != nil || !ok || c != (qdiscCounters{Bytes: 1234, Packets: 5, Drops: 2, Overlimits: 7}) {
		t.Fatalf("parseQdiscJSON = %+v, %v, %v", c, ok, err)
	}
	if _, ok, err := parseQdiscJSON([]byte(`[]`)); ok || err != nil {
		t.Fatalf("no qdisc: ok %v, err %v", ok, err)
	}
	if _, _, err := parseQdiscJSON([]byte(`Error: oops`)); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestIfLink(t *testing.T) {
	m := ifLink.FindSubmatch([]byte("2: eth0@if57: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"))
	if m == nil || string(m[1]) != "57" {
		t.Fatalf("match %q", m)
	}
	// ip(8) sometimes warns first, on a line of its own.
	warned := "Error: Peer netns reference is invalid.\n2734: eth0@if2735: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT"
	if m := ifLink.FindSubmatch([]byte(warned)); m == nil || string(m[1]) != "2735" {
		t.Fatalf("after a warning: match %q", m)
	}
}

// fakeTC is tc for the shaper's tests: it keeps one tbf's counters.
type fakeTC struct {
	calls []string
	on    bool
	c     qdiscCounters
}

func (f *fakeTC) run(_ context.Context, args ...string) ([]byte, error) {
	cmd := strings.Join(args, " ")
	f.calls = append(f.calls, cmd)
	switch {
	case strings.HasPrefix(cmd, "-s -j qdisc show"):
		if !f.on {
			return []byte("[]"), nil
		}
		return []byte(fmt.Sprintf(`[{"kind":"tbf","root":true,"bytes":%d,"packets":%d,"drops":%d,"overlimits":%d}]`, f.c.Bytes, f.c.Packets, f.c.Drops, f.c.Overlimits)), nil
	case strings.HasPrefix(cmd, "qdisc replace"):
		if !f.on {
			f.c = qdiscCounters{}
		}
		f.on = true
	case strings.HasPrefix(cmd, "qdisc del"):
		if !f.on {
			return nil, errors.New("no qdisc")
		}
		f.on = false
	}
	return nil, nil
}

// TestShaperPhases drives the shaper's steps by hand: counters carry over
// a cap removed and a new one made, and each phase gets its own share.
func TestShaperPhases(t *testing.T) {
	ctx := context.Background()
	f := &fakeTC{}
	sched := Schedule{{0, Off}, {10 * time.Second, 400_000}, {20 * time.Second, Off}, {30 * time.Second, 1_000_000}}
	s := newShaper("scv1", sched, time.Time{})
	s.tc = f.run
	step := func(i int, at time.Duration) {
		t.Helper()
		s.read(ctx)
		s.markAt(at)
		if err := s.set(ctx, sched[i].Rate); err != nil {
			t.Fatal(err)
		}
	}
	step(0, 0)                                                  // off: nothing to do
	step(1, 10*time.Second)                                     // 400 kbit/s
	f.c = qdiscCounters{Bytes: 400_000, Packets: 400, Drops: 9} // 320 kbit/s for 10 s
	step(2, 20*time.Second)                                     // off: the cap goes, its counters stay
	step(3, 30*time.Second)                                     // 1 Mbit/s: a fresh qdisc counts from 0
	f.c = qdiscCounters{Bytes: 625_000, Packets: 500, Drops: 1}
	s.read(ctx)
	s.markAt(40 * time.Second)
	s.read(ctx)
	if err := s.set(ctx, Off); err != nil {
		t.Fatal(err)
	}
	if f.on {
		t.Fatal("the cap was left on")
	}
	ph := s.phases()
	if len(ph) != 4 {
		t.Fatalf("%d phases: %+v", len(ph), ph)
	}
	want := []struct {
		rate        Rate
		sent, drops uint64
		share, from float64
	}{
		{Off, 0, 0, 0, 0}, {400_000, 400_000, 9, 0.8, 10}, {Off, 0, 0, 0, 20}, {1_000_000, 625_000, 1, 0.5, 30},
	}
	for i, w := range want {
		p := ph[i]
		if p.Rate != w.rate || p.Sent != w.sent || p.Drops != w.drops || p.From != w.from || p.CapShare != w.share {
			t.Errorf("phase %d: %+v, want %+v", i, p, w)
		}
	}
	var replaces, dels int
	for _, c := range f.calls {
		if strings.HasPrefix(c, "qdisc replace") {
			replaces++
		}
		if strings.HasPrefix(c, "qdisc del") {
			dels++
		}
	}
	if replaces != 2 || dels != 2 {
		t.Fatalf("tc calls %q", f.calls)
	}
}
