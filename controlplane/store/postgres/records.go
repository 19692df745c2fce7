package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

// ApplyRecords applies what an edge says of its recordings in one
// transaction (store.ApplyRecords).
func (s *Store) ApplyRecords(ctx context.Context, edge string, rs []store.RecordUpdate, now time.Time) error {
	return store.ApplyRecords(ctx, callBackend{s}, edge, rs, now)
}

const recordCols = `client_id, id, space_id, room_id, call_id, edge, name, state, error, file_key, file_size, duration_ms, files, created_at, started_at, finished_at`

func scanRecord(r pgx.Row) (store.Record, error) {
	var rec store.Record
	var files string
	var created, started int64
	var finished *int64
	if err := r.Scan(&rec.ClientID, &rec.ID, &rec.SpaceID, &rec.RoomID, &rec.CallID, &rec.Edge, &rec.Name, &rec.State, &rec.Error,
		&rec.FileKey, &rec.FileSize, &rec.DurationMs, &files, &created, &started, &finished); err != nil {
		return rec, err
	}
	if err := json.Unmarshal([]byte(files), &rec.Files); err != nil {
		return rec, err
	}
	rec.CreatedAt, rec.StartedAt, rec.FinishedAt = fromMS(created), fromMS(started), fromPtr(finished)
	return rec, nil
}

func (c callTx) Record(ctx context.Context, id store.RecordID) (store.Record, bool, error) {
	r, err := scanRecord(c.tx.QueryRow(ctx, `SELECT `+recordCols+` FROM records WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, false, nil
	}
	return r, err == nil, err
}

func (c callTx) PutRecord(ctx context.Context, r store.Record) error {
	files, err := json.Marshal(r.Files)
	if err != nil {
		return err
	}
	if r.Files == nil {
		files = []byte("[]")
	}
	_, err = c.tx.Exec(ctx, `INSERT INTO records (`+recordCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (client_id, id) DO UPDATE SET edge = excluded.edge, state = excluded.state, error = excluded.error, file_key = excluded.file_key,
		file_size = excluded.file_size, duration_ms = excluded.duration_ms, files = excluded.files, finished_at = excluded.finished_at`,
		r.ClientID, r.ID, r.SpaceID, r.RoomID, r.CallID, r.Edge, r.Name, r.State, r.Error, r.FileKey, r.FileSize, r.DurationMs,
		string(files), ms(r.CreatedAt), ms(r.StartedAt), msPtr(r.FinishedAt))
	return err
}

func (c callTx) OpenRecords(ctx context.Context, edge string) ([]store.Record, error) {
	rows, err := c.tx.Query(ctx, `SELECT `+recordCols+` FROM records WHERE edge = $1 AND state IN ('recording', 'processing')`, edge)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRecord)
}

// ListRecords lists a room's recordings, newest first, with the total,
// in one snapshot.
func (s *Store) ListRecords(ctx context.Context, client store.ClientID, space store.SpaceID, room store.RoomID, f store.RecordFilter, p store.Page) ([]store.Record, int, error) {
	const op = "list records"
	p = p.Normalize()
	where := ` FROM records WHERE client_id = $1 AND room_id = $2`
	args := []any{client, room}
	add := func(cond string, v any) {
		args = append(args, v)
		where += " AND " + cond + " $" + strconv.Itoa(len(args))
	}
	if !f.From.IsZero() {
		add("started_at >=", ms(f.From))
	}
	if !f.To.IsZero() {
		add("started_at <", ms(f.To))
	}
	var out []store.Record
	var total int
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM rooms WHERE client_id = $1 AND space_id = $2 AND id = $3`, client, space, room); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*)`+where, args...).Scan(&total); err != nil {
			return err
		}
		n := len(args)
		rows, err := tx.Query(ctx, `SELECT `+recordCols+where+` ORDER BY started_at DESC, id DESC LIMIT $`+
			strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2), append(args, p.Limit, p.Offset)...)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanRecord)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetRecord returns one recording of a room.
func (s *Store) GetRecord(ctx context.Context, client store.ClientID, space store.SpaceID, room store.RoomID, id store.RecordID) (store.Record, error) {
	r, err := scanRecord(s.pool.QueryRow(ctx, `SELECT `+recordCols+` FROM records WHERE client_id = $1 AND space_id = $2 AND room_id = $3 AND id = $4`,
		client, space, room, id))
	return r, translate("get record", err)
}
