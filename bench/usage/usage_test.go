package usage

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/bench/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseProcessMetrics(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cpu     float64
		rss     float64
		wantErr bool
	}{
		{name: "process collector", in: "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.048576e+06\n", cpu: 12.5, rss: 1 << 20},
		{name: "untyped", in: "process_cpu_seconds_total 3\n", cpu: 3},
		{name: "missing", in: "go_goroutines 5\n", wantErr: true},
		{name: "garbage", in: "{{{", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, rss, err := ParseProcessMetrics(strings.NewReader(tt.in))
			if tt.wantErr != (err != nil) || cpu != tt.cpu || rss != tt.rss {
				t.Fatalf("= %v %v %v", cpu, rss, err)
			}
		})
	}
}

func TestSamplerSelfAndPrometheus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("process_cpu_seconds_total 1\nprocess_resident_memory_bytes 2048\n"))
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() { _ = srv.Close(); <-done }()

	s := NewSampler(20*time.Millisecond, time.Now(), Self(), Prometheus("cp", "http://"+ln.Addr().String()+"/metrics", nil), Proc("gone", 1<<30))
	sctx, stop := context.WithCancel(ctx)
	sdone := make(chan error, 1)
	go func() { sdone <- s.Run(sctx) }()
	// Burn CPU so the generator's usage is visibly above zero.
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	stop()
	if err := <-sdone; err != nil {
		t.Fatal(err)
	}
	rep := s.Report()
	if len(rep.Usages) != 2 || len(rep.Errors) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	if rep.Usages[0].CPUPercent < 20 || rep.Usages[0].RSSBytes < 1<<20 {
		t.Fatalf("self usage implausible: %+v", rep.Usages[0])
	}
	if rep.Usages[1].RSSBytes != 2048 || rep.Usages[1].Source != "prometheus" {
		t.Fatalf("prometheus usage = %+v", rep.Usages[1])
	}
	r := result.New("x", "", time.Now())
	rep.Fill(r)
	if r.Resources.Generator.Source != "self" || len(r.Resources.Servers) != 1 || len(r.Warnings) == 0 {
		t.Fatalf("fill: %+v warnings %v", r.Resources, r.Warnings)
	}
}

func TestFillGeneratorLimited(t *testing.T) {
	tests := []struct {
		name    string
		rep     Report
		limited bool
	}{
		{"idle", Report{Usages: []result.Usage{{Source: "self", CPUPercent: 10}}, Series: make([]result.Series, 1), generator: []bool{true}}, false},
		{"generator saturated", Report{Usages: []result.Usage{{Source: "self", CPUPercent: 1000}}, Series: make([]result.Series, 1), generator: []bool{true}}, true},
		{"agents summed", Report{Usages: []result.Usage{{CPUPercent: 500}, {CPUPercent: 500}, {CPUPercent: 5}}, Series: make([]result.Series, 3), generator: []bool{true, true, false}}, true},
	}
	windowed := Report{Usages: []result.Usage{{Source: "self", CPUPercent: 900}}, generator: []bool{true},
		Series: []result.Series{{Points: []result.Point{{T: 1, V: 1700}, {T: 2, V: 1700}, {T: 5, V: 20}, {T: 6, V: 30}}}}}
	windowed.Window.From, windowed.Window.To = 3.5, 6
	tests = append(tests, struct {
		name    string
		rep     Report
		limited bool
	}{"window leaves out a busy set-up", windowed, false})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := result.New("x", "", time.Now())
			tt.rep.Fill(r)
			if tt.rep.Window.To > 0 {
				if v, _, _ := r.Lookup("window_generator_cpu"); v != 25 {
					t.Fatalf("window_generator_cpu = %v, want 25", v)
				}
			}
			if r.Resources.GeneratorLimited != tt.limited {
				t.Fatalf("limited = %v, warnings %v", r.Resources.GeneratorLimited, r.Warnings)
			}
		})
	}
}
