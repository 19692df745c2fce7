package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// Event names of the recordings (webhook.RecordStarted, ...).
const (
	EventRecordStarted  = "record_started"
	EventRecordFinished = "record_finished"
	EventRecordFailed   = "record_failed"
)

// Why a recording whose edge was lost failed.
const (
	errRestarted = "edge lost: the recording edge restarted without finishing the recording; the files written until then are kept on it"
	errSilent    = "edge lost: the recording edge stopped reporting; the files written until then are kept on it"
)

// ApplyRecords is Records.ApplyRecords over a backend.
func ApplyRecords(ctx context.Context, b CallBackend, edge string, rs []RecordUpdate, now time.Time) error {
	return b.InCallTx(ctx, func(tx CallTx) error { return applyRecords(ctx, tx, edge, rs, now) })
}

// applyRecords applies what edge says of its recordings, in the order of
// their rooms (the rooms' lock order).
func applyRecords(ctx context.Context, tx CallTx, edge string, rs []RecordUpdate, now time.Time) error {
	if len(rs) == 0 {
		return nil
	}
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b RecordUpdate) int { return strings.Compare(string(a.Room), string(b.Room)) })
	for _, u := range rs {
		if err := applyRecord(ctx, tx, edge, u, now); err != nil {
			return err
		}
	}
	return nil
}

// applyRecord applies one recording's state: a recording first heard of
// is stored with its record_started, and one that reaches a final state
// gets its record_finished or record_failed. States only move forward; a
// failed recording may still learn of its files (the edge stored them
// after it was reported lost).
func applyRecord(ctx context.Context, tx CallTx, edge string, u RecordUpdate, now time.Time) error {
	if err := tx.LockRoom(ctx, u.Room); err != nil {
		return err
	}
	cur, found, err := tx.Record(ctx, u.ID)
	if err != nil {
		return err
	}
	if !found {
		rm, err := tx.Room(ctx, u.Room)
		if errors.Is(err, ErrNotFound) {
			return nil // not a room of ours
		}
		if err != nil {
			return err
		}
		call, _, err := tx.ActiveCall(ctx, rm.ID)
		if err != nil {
			return err
		}
		started := u.StartedAt
		if started.IsZero() {
			started = now
		}
		cur = Record{ID: u.ID, ClientID: rm.ClientID, SpaceID: rm.SpaceID, RoomID: rm.ID, CallID: call.ID, Edge: edge,
			Name: rm.Name + " " + started.UTC().Format("2006-01-02 15:04:05"), State: RecordRecording, CreatedAt: now, StartedAt: started}
		if err := tx.PutRecord(ctx, cur); err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, cur, EventRecordStarted, now); err != nil {
			return err
		}
	}
	if cur.RoomID != u.Room || (cur.Edge != edge && cur.State.Terminal()) {
		return nil // of another room, or over: ignored
	}
	if cur.Edge != edge {
		// The edge that reports it records it (the control plane stored
		// the start under the edge it asked, known by another name).
		cur.Edge = edge
		if err := tx.PutRecord(ctx, cur); err != nil {
			return err
		}
	}
	switch {
	case cur.State.Terminal() && u.State == RecordFailed && cur.State == RecordFailed:
		// What a lost recording left, stored later: its files.
		if len(u.Files) > 0 {
			cur.Files, cur.FileKey, cur.FileSize = u.Files, u.FileKey, u.FileSize
			cur.DurationMs = max(cur.DurationMs, u.DurationMs)
			return tx.PutRecord(ctx, cur)
		}
		return nil
	case u.State.rank() < cur.State.rank() || cur.State.Terminal() || (u.State == cur.State && len(u.Files) == 0 && u.DurationMs == cur.DurationMs):
		return nil // old news
	}
	cur.State, cur.Error, cur.DurationMs = u.State, u.Error, max(cur.DurationMs, u.DurationMs)
	if len(u.Files) > 0 {
		cur.Files = u.Files
	}
	if u.FileKey != "" {
		cur.FileKey, cur.FileSize = u.FileKey, u.FileSize
	}
	if u.State.Terminal() {
		at := u.FinishedAt
		if at.IsZero() {
			at = now
		}
		cur.FinishedAt = &at
	}
	if err := tx.PutRecord(ctx, cur); err != nil {
		return err
	}
	switch u.State {
	case RecordFinished:
		return recordEvent(ctx, tx, cur, EventRecordFinished, now)
	case RecordFailed:
		return recordEvent(ctx, tx, cur, EventRecordFailed, now)
	}
	return nil
}

// loseRecords fails the recordings of edge that are not final and that
// kept does not list: the edge lost them.
func loseRecords(ctx context.Context, tx CallTx, edge string, kept []RecordUpdate, why string, at time.Time) error {
	open, err := tx.OpenRecords(ctx, edge)
	if err != nil {
		return err
	}
	slices.SortFunc(open, func(a, b Record) int { return strings.Compare(string(a.RoomID), string(b.RoomID)) })
	for _, r := range open {
		if slices.ContainsFunc(kept, func(u RecordUpdate) bool { return u.ID == r.ID }) {
			continue
		}
		if err := applyRecord(ctx, tx, edge, RecordUpdate{ID: r.ID, Room: r.RoomID, State: RecordFailed, Error: why,
			StartedAt: r.StartedAt, FinishedAt: at}, at); err != nil {
			return err
		}
	}
	return nil
}

func recordEvent(ctx context.Context, tx CallTx, r Record, name string, now time.Time) error {
	ev := WebhookEvent{ID: NewID(), Name: name, ClientID: r.ClientID, SpaceID: r.SpaceID, RoomID: r.RoomID, CallID: r.CallID, RecordID: string(r.ID), At: now}
	_, err := tx.Enqueue(ctx, NewID(), ev, now)
	return err
}
