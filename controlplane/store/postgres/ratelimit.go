package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// TakeRateToken takes a token of bucket key with one conditional upsert
// (GCRA: the bucket's theoretical arrival time, in microseconds).
// Concurrent takers of one bucket queue on its row; each re-checks the
// condition against the row the previous one committed.
func (s *Store) TakeRateToken(ctx context.Context, key string, interval time.Duration, burst int, now time.Time) (bool, time.Time, error) {
	const op = "take rate token"
	iv, window, at := interval.Microseconds(), int64(burst)*interval.Microseconds(), now.UnixMicro()
	var tat int64
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_limits AS b (key, tat) VALUES ($1, $2::bigint + $3::bigint)
		ON CONFLICT (key) DO UPDATE SET tat = GREATEST(b.tat, $2::bigint) + $3::bigint
		WHERE GREATEST(b.tat, $2::bigint) + $3::bigint - $2::bigint <= $4::bigint
		RETURNING tat`, key, at, iv, window).Scan(&tat)
	if err == nil {
		return true, time.UnixMicro(tat).UTC(), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, time.Time{}, translate(op, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat); err != nil {
		return false, time.Time{}, translate(op, err)
	}
	return false, time.UnixMicro(tat).UTC(), nil
}

// RefundRateToken gives back a token of bucket key.
func (s *Store) RefundRateToken(ctx context.Context, key string, interval time.Duration, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE rate_limits SET tat = GREATEST(tat - $2::bigint, $3::bigint) WHERE key = $1`,
		key, interval.Microseconds(), now.UnixMicro())
	return translate("refund rate token", err)
}

// PruneRateTokens forgets the buckets full at now.
func (s *Store) PruneRateTokens(ctx context.Context, now time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE tat <= $1`, now.UnixMicro())
	return translate("prune rate tokens", err)
}
