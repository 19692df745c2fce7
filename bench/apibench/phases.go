package apibench

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/spacecast/spacecast/bench/load"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
)

type phaseFunc func(name string, o load.Options, op load.Op) load.Stats

// sweep offers the GET at fractions of its closed-loop maximum, open loop.
func (b *Bench) sweep(ctx context.Context, r *result.Result, p *progress.Printer, getMax float64, get load.Op) {
	steps := append([]float64(nil), b.cfg.SweepSteps...)
	hasHalf := false
	for _, s := range steps {
		hasHalf = hasHalf || s == 0.5
	}
	if !hasHalf {
		steps = append(steps, 0.5)
	}
	sw := result.Sweep{Name: "GET room"}
	best := getMax
	for _, f := range steps {
		rate := f * getMax
		st := load.Run(ctx, load.Options{Workers: b.cfg.Connections, Duration: b.cfg.SweepDuration, Rate: rate}, get)
		pt := result.SweepPoint{OfferedPerSec: rate, AchievedPerSec: st.RPS(), P50Ms: ms(st.Hist.Quantile(0.5)), P99Ms: ms(st.Hist.Quantile(0.99)), Errors: st.Errors + st.Missed}
		sw.Points = append(sw.Points, pt)
		best = math.Max(best, pt.AchievedPerSec)
		p.Printf("sweep %3.0f%%     offered %8.0f/s  achieved %8.0f/s  p50 %.2f ms  p99 %.2f ms", 100*f, rate, pt.AchievedPerSec, pt.P50Ms, pt.P99Ms)
		if f == 0.5 {
			r.Add("get_p99_at_half_max", result.UnitMs, pt.P99Ms, fmt.Sprintf("p99 of the GET offered at half its maximum rate (%.0f/s), open loop (target <= 5 ms)", rate))
			r.Add("get_p50_at_half_max", result.UnitMs, pt.P50Ms, "p50 of the GET offered at half its maximum rate")
		}
	}
	r.Add("get_max_rps", result.UnitPerSec, best, "highest GET room throughput seen (closed loop or sweep)")
	r.Sweeps = append(r.Sweeps, sw)
}

// joins generates single-use links, joins each once, then checks that
// spent links are refused and that concurrent joins of one link have one
// winner.
func (b *Bench) joins(ctx context.Context, r *result.Result, phase phaseFunc) error {
	genPath := "/v1/spaces/" + b.spaceID + "/rooms/" + b.roomID + "/generate-access"
	joinPath := "/v1/rooms/" + b.alias + "/join"
	genBody := mustJSON(map[string]any{"username": "guest", "role": "user"})
	generate := func(ctx context.Context) (string, error) {
		var out struct {
			AccessToken string `json:"accessToken"`
		}
		if err := created(b.api.do(ctx, "POST", genPath, b.userToken, genBody, &out)); err != nil {
			return "", err
		}
		if out.AccessToken == "" {
			return "", fmt.Errorf("generate-access answered without accessToken")
		}
		return out.AccessToken, nil
	}
	join := func(ctx context.Context, token string) (int, error) {
		return b.api.do(ctx, "POST", joinPath, "", mustJSON(map[string]string{"accessToken": token}), nil)
	}

	perWorker := make([][]string, b.cfg.Connections)
	st := phase("generate-access", load.Options{Workers: b.cfg.Connections, Duration: b.cfg.Duration, MaxOps: int64(b.cfg.MaxLinks)}, func(ctx context.Context, w int) error {
		t, err := generate(ctx)
		if err == nil {
			perWorker[w] = append(perWorker[w], t)
		}
		return err
	})
	record(r, "generate_access", "POST generate-access (single-use link)", st)
	var links []string
	for _, l := range perWorker {
		links = append(links, l...)
	}
	if len(links) == 0 {
		return fmt.Errorf("apibench: no link could be generated")
	}

	// Three quarters of the links for the closed loop (the maximum rate),
	// the rest for the same join offered at half that rate (its latency
	// under a load the service is sized for).
	closedN := len(links)
	if len(b.cfg.SweepSteps) > 0 {
		closedN = max(1, len(links)*3/4)
	}
	var next atomic.Int64
	statuses := make([]int32, len(links))
	joinOp := func(limit int64) load.Op {
		return func(ctx context.Context, _ int) error {
			i := next.Add(1) - 1
			if i >= limit {
				return load.ErrStop
			}
			code, err := join(ctx, links[i])
			atomic.StoreInt32(&statuses[i], int32(code))
			if err != nil {
				return err
			}
			if code != 200 {
				return &load.StatusError{Code: code}
			}
			return nil
		}
	}
	st = phase("join", load.Options{Workers: b.cfg.Connections, Duration: b.cfg.Duration}, joinOp(int64(closedN)))
	record(r, "join", "POST /v1/rooms/{alias}/join with a single-use link (first use)", st)
	if half := st.RPS() / 2; closedN < len(links) && half > 0 {
		next.Store(int64(closedN))
		hs := load.Run(ctx, load.Options{Workers: b.cfg.Connections, Duration: b.cfg.SweepDuration, Rate: half}, joinOp(int64(len(links))))
		record(r, "join_half", fmt.Sprintf("the single-use join offered at half its maximum (%.0f/s), open loop", half), hs)
		r.Add("join_p99_at_half_max", result.UnitMs, ms(hs.Hist.Quantile(0.99)),
			fmt.Sprintf("p99 of the single-use join offered at half its maximum rate (%.0f/s), open loop (target <= 20 ms)", half))
	}
	var ok, tried int
	for _, s := range statuses {
		if s != 0 {
			tried++
		}
		if s == 200 {
			ok++
		}
	}
	r.AddCheck("first_join_succeeds", ok == tried && tried > 0, fmt.Sprintf("%d of %d links joined on first use", ok, tried))

	// A second join of a sample of spent links must be refused with 410.
	if n := min(b.cfg.SecondJoins, ok); n > 0 {
		var gone, other int
		stride := max(1, len(links)/n)
		for i, done := 0, 0; i < len(links) && done < n; i += stride {
			if statuses[i] != 200 {
				continue
			}
			done++
			code, err := join(ctx, links[i])
			if err == nil && code == 410 {
				gone++
			} else {
				other++
			}
		}
		r.AddCheck("second_join_410", other == 0, fmt.Sprintf("%d of %d second joins of spent links got 410", gone, gone+other))
	}

	// Concurrent redeemers of one link: exactly one wins.
	if b.cfg.RaceLinks > 0 && b.cfg.RaceJoiners > 1 {
		rc, err := newClient(b.cfg.targets(), b.cfg.RaceJoiners)
		if err != nil {
			return err
		}
		defer rc.close()
		var bad, total int
		for l := 0; l < b.cfg.RaceLinks; l++ {
			t, err := generate(ctx)
			if err != nil {
				return fmt.Errorf("apibench: race link: %w", err)
			}
			var wins, refused atomic.Int32
			var wg sync.WaitGroup
			for j := 0; j < b.cfg.RaceJoiners; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, err := rc.do(ctx, "POST", joinPath, "", mustJSON(map[string]string{"accessToken": t}), nil)
					switch {
					case err == nil && code == 200:
						wins.Add(1)
					case err == nil && code == 410:
						refused.Add(1)
					}
				}()
			}
			wg.Wait()
			total++
			if wins.Load() != 1 || int(refused.Load()) != b.cfg.RaceJoiners-1 {
				bad++
			}
		}
		r.AddCheck("exactly_once_concurrent", bad == 0, fmt.Sprintf("%d of %d links joined by %d at once had exactly one winner (the rest 410)", total-bad, total, b.cfg.RaceJoiners))
	}
	return nil
}
