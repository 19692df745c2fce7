package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// TakeRateToken takes a token of bucket key with one conditional upsert
// on the single writer (GCRA: the bucket's theoretical arrival time, in
// microseconds).
func (s *Store) TakeRateToken(ctx context.Context, key string, interval time.Duration, burst int, now time.Time) (bool, time.Time, error) {
	const op = "take rate token"
	iv, window, at := interval.Microseconds(), int64(burst)*interval.Microseconds(), now.UnixMicro()
	var tat int64
	err := s.st.takeRate.QueryRowContext(ctx, key, at, iv, window).Scan(&tat)
	if err == nil {
		return true, time.UnixMicro(tat).UTC(), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, time.Time{}, translate(op, err)
	}
	// Refused: the bucket is there and empty.
	if err := s.st.rateState.QueryRowContext(ctx, key).Scan(&tat); err != nil {
		return false, time.Time{}, translate(op, err)
	}
	return false, time.UnixMicro(tat).UTC(), nil
}

// RefundRateToken gives back a token of bucket key.
func (s *Store) RefundRateToken(ctx context.Context, key string, interval time.Duration, now time.Time) error {
	_, err := s.st.refundRate.ExecContext(ctx, key, interval.Microseconds(), now.UnixMicro())
	return translate("refund rate token", err)
}

// PruneRateTokens forgets the buckets full at now.
func (s *Store) PruneRateTokens(ctx context.Context, now time.Time) error {
	_, err := s.st.pruneRate.ExecContext(ctx, now.UnixMicro())
	return translate("prune rate tokens", err)
}
