package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/result"
)

// Op is one call; worker is the caller's index in [0, Workers). Returning
// ErrStop ends the run early (for example when a list of links is spent).
type Op func(ctx context.Context, worker int) error

// ErrStop, returned by an Op, stops the run; it is not counted as an error.
var ErrStop = errors.New("load: stop")

// StatusError is an unexpected HTTP status; it is counted by code.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d", e.Code) }

// Options shape a run.
type Options struct {
	Workers  int
	Duration time.Duration
	// Rate is calls per second (open loop); 0 means closed loop.
	Rate float64
	// MaxOps stops the run after this many calls (0: no limit).
	MaxOps int64
	// Tick, when set, is called about once a second with the progress.
	Tick func(ops, errs uint64, elapsed time.Duration)
}

// Stats is what a run measured. Latencies are of successful calls.
type Stats struct {
	Ops     uint64            // successful calls
	Errors  uint64            // failed calls
	Kinds   map[string]uint64 // failures by kind ("HTTP 429", "transport: ...")
	Missed  uint64            // open loop: scheduled calls dropped because every worker was busy
	Start   time.Time         // when the run began (PerSecond is relative to it)
	Elapsed time.Duration
	Hist    *hist.Histogram
	// PerSecond is successful calls per second over the run.
	PerSecond []result.Point
}

// RPS is successful calls per second.
func (s Stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Run runs op under o until the duration passes, MaxOps calls are made, an
// op returns ErrStop, or ctx ends.
func Run(ctx context.Context, o Options, op Op) Stats {
	if o.Workers < 1 {
		o.Workers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, o.Duration)
		defer c2()
	}
	var ops, errs, started atomic.Uint64
	var missed atomic.Uint64
	hists := make([]*hist.Histogram, o.Workers)
	kinds := make([]map[string]uint64, o.Workers)
	var slots chan time.Time
	if o.Rate > 0 {
		// Up to a second of calls may queue behind busy workers (their
		// wait counts in the latency); beyond that they are missed.
		slots = make(chan time.Time, min(max(o.Workers, int(o.Rate)), 100_000))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		hists[w] = hist.New()
		kinds[w] = map[string]uint64{}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				var t0 time.Time
				if slots != nil {
					select {
					case t0 = <-slots:
					case <-ctx.Done():
						return
					}
				} else {
					t0 = time.Now()
				}
				if o.MaxOps > 0 && int64(started.Add(1)) > o.MaxOps {
					cancel()
					return
				}
				err := op(ctx, w)
				switch {
				case errors.Is(err, ErrStop):
					cancel()
					return
				case err != nil:
					if ctx.Err() != nil {
						return // cut off by the end of the run
					}
					errs.Add(1)
					kinds[w][kind(err)]++
				default:
					hists[w].RecordDuration(time.Since(t0))
					ops.Add(1)
				}
			}
		}(w)
	}
	var pacer sync.WaitGroup
	if slots != nil {
		pacer.Add(1)
		go func() {
			defer pacer.Done()
			interval := time.Duration(float64(time.Second) / o.Rate)
			next := start
			t := time.NewTimer(0)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				now := time.Now()
				for !next.After(now) { // catch up with every slot that is due
					select {
					case slots <- next:
					default:
						missed.Add(1)
					}
					next = next.Add(interval)
				}
				t.Reset(time.Until(next))
			}
		}()
	}
	var per []result.Point
	var last uint64 // owned by the ticker goroutine until it is waited for
	lastAt := start
	var tickerDone sync.WaitGroup
	tickerDone.Add(1)
	go func() {
		defer tickerDone.Done()
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				n := ops.Load()
				per = append(per, result.Point{T: now.Sub(start).Seconds(), V: float64(n-last) / now.Sub(lastAt).Seconds()})
				last, lastAt = n, now
				if o.Tick != nil {
					o.Tick(n, errs.Load(), now.Sub(start))
				}
			}
		}
	}()
	wg.Wait()
	cancel()
	pacer.Wait()
	tickerDone.Wait()
	// The last partial second (the only point of a run under a second).
	if now := time.Now(); now.Sub(lastAt) >= 100*time.Millisecond {
		per = append(per, result.Point{T: now.Sub(start).Seconds(), V: float64(ops.Load()-last) / now.Sub(lastAt).Seconds()})
	}
	st := Stats{Start: start, Ops: ops.Load(), Errors: errs.Load(), Missed: missed.Load(), Elapsed: time.Since(start), Hist: hist.New(), Kinds: map[string]uint64{}, PerSecond: per}
	for w := range hists {
		st.Hist.Merge(hists[w])
		for k, v := range kinds[w] {
			st.Kinds[k] += v
		}
	}
	return st
}

func kind(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Error()
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return "error: " + s
}
