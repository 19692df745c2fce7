package roomsbench

import (
	"slices"
	"strconv"

	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/hist"

	"github.com/spacecast/spacecast/bench/participant"
	"github.com/spacecast/spacecast/bench/result"
)

func regionsConfig() Config {
	c := DefaultConfig()
	c.Regions, c.Link = DefaultRegions()
	c.Regions = append(c.Regions, Region{Name: "c", Subscribers: 1})
	c.Links = []PairLink{{A: "c", B: "a", Link: Link{Delay: 90 * time.Millisecond}}}
	c.applyRegions()
	return c
}

func TestRegionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no publisher", func(c *Config) { c.Regions[0].Publishers = 0 }, "no publisher"},
		{"a name twice", func(c *Config) { c.Regions[1].Name = "a" }, "twice"},
		{"jitter above the delay", func(c *Config) { c.Link.Jitter = time.Second }, "jitter"},
		{"loss", func(c *Config) { c.Link.LossPercent = 60 }, "lossPercent"},
		{"a link to no region", func(c *Config) { c.Links[0].B = "z" }, "two of the regions"},
		{"link without regions", func(c *Config) { c.Regions = nil }, "only with regions"},
		{"with livekit-url", func(c *Config) { c.LiveKitURL, c.APIKey, c.APISecret = "ws://198.19.255.1:7880", "k", "s" }, "livekitURL"},
		{"loopback target", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret, c.Link, c.Links = "http://127.0.0.1:8080", "c", "s", Link{}, nil
		}, "loopback"},
		{"remote target", func(c *Config) {
			c.Target, c.ClientID, c.ClientSecret, c.Link, c.Links = "https://api.example.com", "c", "s", Link{}, nil
		}, ""},
		{"remote target with shaped links", func(c *Config) { c.Target, c.ClientID, c.ClientSecret = "https://api.example.com", "c", "s" }, "not a --target's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := regionsConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

// TestRegionsPlacement: the per-room counts follow the regions, seats are
// placed publishers first, and the RTTs a seat reports are the links'.
func TestRegionsPlacement(t *testing.T) {
	c := regionsConfig()
	if c.Participants != 4 || c.Publishers != 1 || c.Agents != 3 || c.Regions[2].Edges != 1 {
		t.Fatalf("applied: participants %d publishers %d agents %d edges of c %d", c.Participants, c.Publishers, c.Agents, c.Regions[2].Edges)
	}
	want := []struct {
		region  string
		publish bool
	}{{"a", true}, {"b", false}, {"b", false}, {"c", false}, {"", false}}
	for j, w := range want {
		if r, p := c.regionOf(j); r != w.region || p != w.publish {
			t.Errorf("seat %d: %q publish %v, want %q %v", j, r, p, w.region, w.publish)
		}
	}
	if got, want := c.rtts("a"), map[string]int64{"a": 1, "b": 81, "c": 181}; !maps.Equal(got, want) {
		t.Errorf("rtts from a = %v, want %v (the default link for a-b, the override for c-a)", got, want)
	}
	if got := c.link("a", "c").Delay; got != 90*time.Millisecond {
		t.Errorf("link a-c = %v, want the override (given as c-a)", got)
	}
}

func TestParseRegions(t *testing.T) {
	got, err := ParseRegions("a:1:1:0, b:2:0:3")
	if err != nil || len(got) != 2 || got[1] != (Region{Name: "b", Edges: 2, Subscribers: 3}) {
		t.Fatalf("ParseRegions = %+v, %v", got, err)
	}
	for _, bad := range []string{"a:1:1", "a:x:1:0", ""} {
		if _, err := ParseRegions(bad); err == nil {
			t.Errorf("ParseRegions(%q) accepted", bad)
		}
	}
}

func TestHTBCommands(t *testing.T) {
	if htbCommands(nil) != nil {
		t.Fatal("commands without a capped link")
	}
	got := htbCommands([]rateClass{{kbps: 500, to: []netip.Addr{netip.MustParseAddr("198.18.1.3"), netip.MustParseAddr("198.18.1.4")}}})
	var lines []string
	for _, c := range got {
		lines = append(lines, strings.Join(c, " "))
	}
	want := []string{
		"qdisc add dev eth0 root handle 1: htb default 1 r2q 100",
		"class add dev eth0 parent 1: classid 1:1 htb rate 10gbit",
		"class add dev eth0 parent 1: classid 1:10 htb rate 500kbit",
		"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.3/32 flowid 1:10",
		"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.4/32 flowid 1:10",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("htbCommands:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// relayExposition is two edges' relay counters: a1 sends to b1 and to
// a2 (same region), b1 to a1.
func relayExposition(aToB, bToA float64) []string {
	return []string{
		`# TYPE spacecast_edge_relay_bytes_sent_total counter
spacecast_edge_relay_bytes_sent_total{node="a1",peer="b1",region="a"} ` + ftoa(aToB) + `
spacecast_edge_relay_bytes_sent_total{node="a1",peer="a2",region="a"} 100
# TYPE spacecast_edge_relay_datagrams_sent_total counter
spacecast_edge_relay_datagrams_sent_total{node="a1",peer="b1",region="a"} ` + ftoa(aToB/1000) + `
# TYPE spacecast_edge_relay_datagrams_dropped_total counter
spacecast_edge_relay_datagrams_dropped_total{node="a1",peer="b1",reason="queue",region="a"} 2
# TYPE spacecast_edge_relay_links gauge
spacecast_edge_relay_links{node="a1",region="a"} 2
# TYPE spacecast_edge_relay_layer_bytes_sent_total counter
spacecast_edge_relay_layer_bytes_sent_total{kind="media",layer="0",node="a1",peer="b1",region="a"} ` + ftoa(aToB*0.6) + `
spacecast_edge_relay_layer_bytes_sent_total{kind="media",layer="2",node="a1",peer="b1",region="a"} ` + ftoa(aToB*0.3) + `
spacecast_edge_relay_layer_bytes_sent_total{kind="repair",layer="2",node="a1",peer="b1",region="a"} ` + ftoa(aToB*0.1) + `
spacecast_edge_relay_layer_bytes_sent_total{kind="future",layer="0",node="a1",peer="b1",region="a"} 5
spacecast_edge_relay_layer_bytes_sent_total{kind="media",layer="9",node="a1",peer="b1",region="a"} 5
`,
		`# TYPE spacecast_edge_relay_bytes_sent_total counter
spacecast_edge_relay_bytes_sent_total{node="b1",peer="a1",region="b"} ` + ftoa(bToA) + `
`,
		`# TYPE go_goroutines gauge
go_goroutines{node="a2",region="a"} 10
`,
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// newHist is 100 one-way delays of ms milliseconds.
func newHist(ms int64) []hist.Raw {
	h := hist.New()
	for range 100 {
		h.RecordDuration(time.Duration(ms) * time.Millisecond)
	}
	return h.Raw()
}

func TestPairRates(t *testing.T) {
	read := func(at time.Time, aToB, bToA float64) relayReading {
		rd := relayReading{at: at, links: map[edgeLink]linkCount{}, region: map[string]string{}}
		for _, text := range relayExposition(aToB, bToA) {
			if err := parseRelayMetrics(strings.NewReader(text), &rd); err != nil {
				t.Fatal(err)
			}
		}
		return rd
	}
	t0 := time.Unix(1000, 0)
	a, b := read(t0, 1000, 50), read(t0.Add(2*time.Second), 251000, 50)
	got := pairRates(a, b)
	if ab := got[regionPair{"a", "b"}]; ab.bps != 1e6 || ab.datagrams != 125 || ab.links != 1 {
		t.Errorf("a → b = %+v, want 1 Mbit/s, 125 datagrams/s, one link", ab)
	}
	// The split by layer and kind; unknown layers and kinds are left out.
	var split layerSplit
	split[0][0], split[2][0], split[2][2] = 0.6e6, 0.3e6, 0.1e6
	if ab := got[regionPair{"a", "b"}]; !nearSplit(ab.split, split) {
		t.Errorf("a → b split = %v, want %v", ab.split, split)
	}
	if ba := got[regionPair{"b", "a"}]; ba.bps != 0 || ba.links != 0 {
		t.Errorf("b → a = %+v, want nothing carried", ba)
	}
	if aa := got[regionPair{"a", "a"}]; aa.bps != 0 {
		t.Errorf("a → a = %+v", aa)
	}
	if err := parseRelayMetrics(strings.NewReader("not { metrics"), &a); err == nil {
		t.Error("a bad exposition parsed")
	}
}

// TestFillPairs: the region pairs table and metrics from the agents'
// events and the relay window.
func TestFillPairs(t *testing.T) {
	c := regionsConfig()
	c.Rooms = 1
	origin := time.Unix(1000, 0)
	col := newCollector(origin)
	for _, e := range []participant.Event{
		{Ev: "joined", ID: "pub", Region: "a"},
		{Ev: "joined", ID: "s1", Region: "b"},
		{Ev: "joined", ID: "s2", Region: "b"},
		{Ev: "joined", ID: "s3", Region: "c"},
	} {
		col.add(0, e)
	}
	track := func(sub, region string, delayMs int64, expected, got uint64) participant.Event {
		h := newHist(delayMs)
		return participant.Event{Ev: "track", ID: sub, Region: region, Publisher: "pub", Kind: "video", Packets: got, Expected: expected,
			Bytes: 250_000, Seconds: 10, FirstMs: float64(delayMs * 10), OWD: h}
	}
	for _, e := range []participant.Event{track("s1", "b", 40, 100, 100), track("s2", "b", 42, 100, 98), track("s3", "c", 95, 100, 100)} {
		col.add(0, e)
	}
	w := relayWindow{
		rates: map[regionPair]pairRate{{"a", "b"}: {bps: 400e3, links: 1}, {"a", "c"}: {bps: 200e3, links: 1}, {"b", "c"}: {}},
		drops: map[string]uint64{"a>b": 7},
	}
	r := result.New("rooms", "", origin)
	col.fillPairs(r, c, w)
	if len(r.Tables) != 1 {
		t.Fatalf("tables %+v", r.Tables)
	}
	rows := map[string][]float64{}
	for _, row := range r.Tables[0].Rows {
		rows[row.Label] = row.Values
	}
	if len(rows) != 2 || rows["a → b"] == nil || rows["a → c"] == nil {
		t.Fatalf("rows %v, want a → b and a → c (b → c carried nothing)", rows)
	}
	ab := rows["a → b"]
	// 2 tracks, 1 % lost of 200, owd about 40 ms, relay 400 kbps over the
	// publisher's 2 tracks = 200 kbps a track; a subscriber's track is 200
	// kbps: one copy.
	checks := map[string][2]float64{
		"subscriber tracks": {2, 2}, "loss %": {1, 1}, "owd p50 ms": {39, 43}, "first media p50 ms": {390, 430},
		"relay kbps": {400, 400}, "relay kbps per track": {200, 200}, "copies per track": {1, 1}, "link drops": {7, 7},
	}
	for name, rng := range checks {
		i := indexOf(pairColumns, name)
		if v := ab[i]; v < rng[0]-1e-9 || v > rng[1]+1e-9 {
			t.Errorf("a → b %s = %v, want %v to %v", name, v, rng[0], rng[1])
		}
	}
	if v, _, err := r.Lookup("pair_a_c_owd_p50"); err != nil || v < 93 || v > 97 {
		t.Errorf("pair_a_c_owd_p50 = %v (%v)", v, err)
	}
	// Without relay metrics: the pairs still show, with a warning.
	r = result.New("rooms", "", origin)
	col.fillPairs(r, c, relayWindow{err: errNoMetrics})
	if len(r.Tables) != 1 || len(r.Tables[0].Rows) != 2 || len(r.Warnings) != 1 {
		t.Errorf("without metrics: tables %+v, warnings %v", r.Tables, r.Warnings)
	}
}

func nearSplit(a, b layerSplit) bool {
	for q := range a {
		for k := range a[q] {
			if d := a[q][k] - b[q][k]; d > 1e-6 || d < -1e-6 {
				return false
			}
		}
	}
	return true
}

// TestFillSplit: the table of what crossed by layer and kind, and its
// metrics; pairs whose edges do not count it are left out.
func TestFillSplit(t *testing.T) {
	c := regionsConfig()
	var ab layerSplit
	ab[0][0], ab[2][0], ab[2][2], ab[2][3], ab[1][1] = 100e3, 300e3, 50e3, 40e3, 10e3
	w := relayWindow{rates: map[regionPair]pairRate{{"a", "b"}: {bps: 500e3, split: ab}, {"a", "c"}: {bps: 200e3}}}
	r := result.New("rooms", "", time.Unix(1000, 0))
	fillSplit(r, c, w)
	if len(r.Tables) != 1 || len(r.Tables[0].Rows) != 1 || r.Tables[0].Rows[0].Label != "a → b" {
		t.Fatalf("tables %+v, want one row a → b", r.Tables)
	}
	want := []float64{100, 0, 300, 0, 10, 50, 40, 20}
	if got := r.Tables[0].Rows[0].Values; !slices.Equal(got, want) {
		t.Errorf("a → b = %v, want %v (%v)", got, want, splitColumns)
	}
	for name, want := range map[string]float64{"pair_a_b_relay_bps_q0": 100e3, "pair_a_b_relay_bps_q2": 300e3, "pair_a_b_relay_bps_repair": 50e3, "pair_a_b_relay_bps_replay": 40e3, "pair_a_b_relay_bps_padding": 10e3} {
		if v, _, err := r.Lookup(name); err != nil || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, err, want)
		}
	}
	if _, _, err := r.Lookup("pair_a_b_relay_bps_q1"); err == nil {
		t.Error("a layer that carried no media has a metric")
	}
	r = result.New("rooms", "", time.Unix(1000, 0))
	fillSplit(r, c, relayWindow{rates: map[regionPair]pairRate{{"a", "c"}: {bps: 200e3}}})
	if len(r.Tables) != 0 {
		t.Errorf("without a split: tables %+v", r.Tables)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
