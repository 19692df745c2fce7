package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/retry"
)

// changesChannel is the NOTIFY channel of the change triggers (migration
// 0002): the payload is a store.Topic.
const changesChannel = "spacecast_changes"

// listenPing is how often an idle listening connection is checked: a
// server that vanished without closing the connection is noticed within it.
const listenPing = 15 * time.Second

// Listen implements store.Changes with LISTEN on a connection of its own
// (outside the pool). Each replica's writes fire triggers that NOTIFY the
// topic at commit, so every replica hears of every change within a round
// trip. After each (re)connection fn gets every topic: what happened while
// the connection was down is not known.
func (s *Store) Listen(ctx context.Context, fn func(store.Topic)) error {
	for attempt := 0; ; attempt++ {
		err := s.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("change notifications lost; reconnecting", "err", err)
		if !retry.Sleep(ctx, retry.Backoff(200*time.Millisecond, 10*time.Second, min(attempt+1, 10))) {
			return ctx.Err()
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, fn func(store.Topic)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	for _, t := range store.Topics() {
		fn(t)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn(store.Topic(n.Payload))
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil:
			// Idle: check the connection is alive.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := conn.Exec(pctx, "SELECT 1")
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}
