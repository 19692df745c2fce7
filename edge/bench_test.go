package edge

import (
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkFanout measures the edge end to end: one SDK publisher (VP8 at
// ~30 packets/s and Opus at 50 packets/s) and N SDK subscribers in child
// processes inside a network namespace; the edge runs in this process, so
// this process's CPU time is the edge's. It reports CPU microseconds per
// forwarded packet, resident memory per subscriber and the median time from
// a subscriber's connect call to its first RTP packet (all N connect at
// once, from one process). Run with
//
//	go test -run '^$' -bench Fanout -benchtime 1x ./edge
//
// (SC_SUBSCRIBERS=N sets N, default 20; needs root for namespaces).
func BenchmarkFanout(b *testing.B) {
	n := 20
	if v, err := strconv.Atoi(os.Getenv("SC_SUBSCRIBERS")); err == nil && v > 0 {
		n = v
	}
	reg := prometheus.NewRegistry()
	f := newFixture(b, fixtureOpts{netns: true, registerer: reg})
	g := joinGrant("bench")
	pub := f.spawn("pub", f.token("pub", g, time.Hour))
	pub.waitFor("connected", 30*time.Second, pub.ev("connected"))
	pub.send("publish")
	pub.waitFor("published", 30*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "audio" })

	runtime.GC()
	rssBefore := rss()
	var toks []string
	for i := 0; i < n; i++ {
		id := "sub" + strconv.Itoa(i)
		toks = append(toks, f.token(id, g, time.Hour))
	}
	tj, _ := json.Marshal(toks)
	subs := f.spawnEnv("subs", "SC_TOKENS="+string(tj), "SC_MULTI=1")
	subs.waitFor("subscribers connected", 120*time.Second, subs.ev("connected"))
	time.Sleep(3 * time.Second) // settle: every subscription negotiated and flowing
	runtime.GC()
	rssAfter := rss()

	b.ResetTimer()
	out0, cpu0 := forwarded(reg), cpuTime()
	time.Sleep(10 * time.Second) // measurement window
	out1, cpu1 := forwarded(reg), cpuTime()
	b.StopTimer()
	pkts := out1 - out0
	if pkts <= 0 {
		b.Fatal("nothing forwarded")
	}
	subs.send("quit")
	rep := subs.waitFor("report", 30*time.Second, subs.ev("report"))
	pub.quit()
	var firsts []int64
	if err := json.Unmarshal([]byte(rep.Payload), &firsts); err == nil && len(firsts) > 0 {
		slices.Sort(firsts)
		b.ReportMetric(float64(firsts[len(firsts)/2]), "ms-connect-to-first-RTP-p50")
	}
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/pkts, "cpu-µs/fwd-pkt")
	b.ReportMetric(pkts/10, "fwd-pkts/s")
	in := counter(reg, "spacecast_edge_rtp_packets_received_total")
	b.ReportMetric(counter(reg, "spacecast_edge_rtp_packets_dropped_total"), "dropped")
	b.ReportMetric(in, "received")
	b.ReportMetric(float64(rssAfter-rssBefore)/float64(n)/(1<<20), "MiB-RSS/subscriber")
}

func forwarded(reg *prometheus.Registry) float64 {
	return counter(reg, "spacecast_edge_rtp_packets_forwarded_total")
}

func counter(reg *prometheus.Registry, name string, labels ...string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// histogram returns the sample count and sum of a histogram's series with
// the given label value (name=value pairs).
func histogram(reg *prometheus.Registry, name string, labels ...string) (count uint64, sum float64) {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
		}
	}
	return 0, 0
}
