package load

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		op    func(n int64) error
		check func(t *testing.T, s Stats)
	}{
		{"closed loop counts ops and errors", Options{Workers: 4, Duration: 300 * time.Millisecond}, func(n int64) error {
			if n%10 == 0 {
				return &StatusError{Code: 429}
			}
			return nil
		}, func(t *testing.T, s Stats) {
			if s.Ops == 0 || s.Errors == 0 || s.Kinds["HTTP 429"] != s.Errors {
				t.Fatalf("stats = %+v", s)
			}
			if s.Hist.Count() != s.Ops {
				t.Fatalf("hist count %d != ops %d", s.Hist.Count(), s.Ops)
			}
		}},
		{"max ops", Options{Workers: 3, Duration: 5 * time.Second, MaxOps: 50}, func(int64) error { return nil }, func(t *testing.T, s Stats) {
			if s.Ops != 50 {
				t.Fatalf("ops = %d, want 50", s.Ops)
			}
		}},
		{"stop", Options{Workers: 2, Duration: 5 * time.Second}, func(n int64) error {
			if n >= 20 {
				return ErrStop
			}
			return nil
		}, func(t *testing.T, s Stats) {
			if s.Errors != 0 || s.Elapsed > 4*time.Second {
				t.Fatalf("stats = %+v", s)
			}
		}},
		{"open loop holds the rate", Options{Workers: 4, Duration: 1300 * time.Millisecond, Rate: 200}, func(int64) error { return nil }, func(t *testing.T, s Stats) {
			if s.Ops < 200 || s.Ops > 300 {
				t.Fatalf("ops = %d at 200/s for 1.3s", s.Ops)
			}
			if len(s.PerSecond) != 2 || s.PerSecond[0].V < 150 || s.PerSecond[0].V > 250 { // one full second, one partial
				t.Fatalf("per second = %v", s.PerSecond)
			}
		}},
		{"open loop counts from the schedule", Options{Workers: 1, Duration: 600 * time.Millisecond, Rate: 100}, func(int64) error {
			time.Sleep(20 * time.Millisecond) // a server slower than the rate: queueing must show
			return nil
		}, func(t *testing.T, s Stats) {
			if p := time.Duration(s.Hist.Quantile(0.99)); p < 100*time.Millisecond {
				t.Fatalf("p99 = %v: queueing delay hidden", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var n atomic.Int64
			s := Run(ctx, tt.opts, func(ctx context.Context, _ int) error { return tt.op(n.Add(1)) })
			tt.check(t, s)
		})
	}
}
