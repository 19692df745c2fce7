package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		base, max time.Duration
		attempt   int
		lo, hi    time.Duration
	}{
		{"first retry", time.Second, 0, 1, 500 * time.Millisecond, time.Second},
		{"doubles", time.Second, 0, 3, 2 * time.Second, 4 * time.Second},
		{"capped", time.Second, 5 * time.Second, 10, 2500 * time.Millisecond, 5 * time.Second},
		{"no overflow", time.Second, 0, 1000, time.Second << 19, time.Second << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := Backoff(tc.base, tc.max, tc.attempt); d < tc.lo || d > tc.hi {
					t.Fatalf("Backoff = %s, want within [%s, %s]", d, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a sleep that ran its course reported false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("a sleep cut by its context reported true")
	}
}
