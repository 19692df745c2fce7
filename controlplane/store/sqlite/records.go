package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// ApplyRecords applies what an edge says of its recordings in one
// transaction (store.ApplyRecords).
func (s *Store) ApplyRecords(ctx context.Context, edge string, rs []store.RecordUpdate, now time.Time) error {
	return s.notifiedDeliveries(store.ApplyRecords(ctx, callBackend{s}, edge, rs, now))
}

const recordCols = `client_id, id, space_id, room_id, call_id, edge, name, state, error, file_key, file_size, duration_ms, files, created_at, started_at, finished_at`

func scanRecord(r scanner) (store.Record, error) {
	var rec store.Record
	var files string
	var created, started int64
	var finished sql.NullInt64
	if err := r.Scan(&rec.ClientID, &rec.ID, &rec.SpaceID, &rec.RoomID, &rec.CallID, &rec.Edge, &rec.Name, &rec.State, &rec.Error,
		&rec.FileKey, &rec.FileSize, &rec.DurationMs, &files, &created, &started, &finished); err != nil {
		return rec, err
	}
	if err := json.Unmarshal([]byte(files), &rec.Files); err != nil {
		return rec, err
	}
	rec.CreatedAt, rec.StartedAt, rec.FinishedAt = fromMS(created), fromMS(started), fromNull(finished)
	return rec, nil
}

func (c callTx) Record(ctx context.Context, id store.RecordID) (store.Record, bool, error) {
	r, err := scanRecord(c.tx.QueryRowContext(ctx, `SELECT `+recordCols+` FROM records WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, false, nil
	}
	return r, err == nil, translate("record", err)
}

func (c callTx) PutRecord(ctx context.Context, r store.Record) error {
	files, err := json.Marshal(r.Files)
	if err != nil {
		return err
	}
	if r.Files == nil {
		files = []byte("[]")
	}
	_, err = c.tx.ExecContext(ctx, `INSERT INTO records (`+recordCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (client_id, id) DO UPDATE SET edge = excluded.edge, state = excluded.state, error = excluded.error, file_key = excluded.file_key,
		file_size = excluded.file_size, duration_ms = excluded.duration_ms, files = excluded.files, finished_at = excluded.finished_at`,
		r.ClientID, r.ID, r.SpaceID, r.RoomID, r.CallID, r.Edge, r.Name, r.State, r.Error, r.FileKey, r.FileSize, r.DurationMs,
		string(files), ms(r.CreatedAt), ms(r.StartedAt), msPtr(r.FinishedAt))
	return translate("put record", err)
}

func (c callTx) OpenRecords(ctx context.Context, edge string) ([]store.Record, error) {
	rows, err := c.tx.QueryContext(ctx, `SELECT `+recordCols+` FROM records WHERE edge = ? AND state IN ('recording', 'processing')`, edge)
	if err != nil {
		return nil, translate("open records", err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, translate("open records", err)
		}
		out = append(out, r)
	}
	return out, translate("open records", rows.Err())
}

// ListRecords lists a room's recordings, newest first, with the total.
func (s *Store) ListRecords(ctx context.Context, client store.ClientID, space store.SpaceID, room store.RoomID, f store.RecordFilter, p store.Page) ([]store.Record, int, error) {
	const op = "list records"
	p = p.Normalize()
	where := ` FROM records WHERE client_id = ? AND room_id = ?`
	args := []any{client, room}
	if !f.From.IsZero() {
		where += ` AND started_at >= ?`
		args = append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		where += ` AND started_at < ?`
		args = append(args, ms(f.To))
	}
	var out []store.Record
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE client_id = ? AND space_id = ? AND id = ?`, client, space, room).Scan(&one); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*)`+where, args...).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+recordCols+where+` ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, r)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// GetRecord returns one recording of a room.
func (s *Store) GetRecord(ctx context.Context, client store.ClientID, space store.SpaceID, room store.RoomID, id store.RecordID) (store.Record, error) {
	r, err := scanRecord(s.reader.QueryRowContext(ctx, `SELECT `+recordCols+` FROM records WHERE client_id = ? AND space_id = ? AND room_id = ? AND id = ?`,
		client, space, room, id))
	return r, translate("get record", err)
}
