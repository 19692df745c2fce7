package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/store"
)

// recordView is a recording as the reference lists it, with the reason
// of a failure and the recorded duration.
type recordView struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	FileSize        int64      `json:"fileSize"`
	RoomID          string     `json:"roomId"`
	SpaceID         string     `json:"spaceId"`
	CallID          string     `json:"callId"`
	State           string     `json:"state"`
	Error           string     `json:"error,omitempty"`
	DurationSeconds float64    `json:"durationSeconds"`
	CreatedAt       time.Time  `json:"createdAt"`
	StartedAt       time.Time  `json:"startedAt"`
	FinishedAt      *time.Time `json:"finishedAt"`
}

func viewRecord(r store.Record) recordView {
	return recordView{ID: string(r.ID), Name: r.Name, FileSize: r.FileSize, RoomID: string(r.RoomID), SpaceID: string(r.SpaceID),
		CallID: string(r.CallID), State: string(r.State), Error: r.Error, DurationSeconds: float64(r.DurationMs) / 1000,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

// StopRecordRequest is the optional body of the stop route.
type StopRecordRequest struct {
	RecordID *string `json:"recordId"`
}

// recorded is the room of the path for its API client or a moderator.
func (r *request) recorded() (access.ModeratedRoom, error) {
	ref, err := r.roomRef()
	if err != nil {
		return access.ModeratedRoom{}, err
	}
	return r.a.o.Access.ModerateWaiting(r.context(), r.caller, ref)
}

// startRecord: POST .../records/start.
func (a *API) startRecord(r *request) error {
	m, err := r.recorded()
	if err != nil {
		return err
	}
	rec, err := a.o.Recording.Start(r.context(), m)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewRecord(rec))
}

// stopRecord: POST .../records/stop, {recordId?}.
func (a *API) stopRecord(r *request) error {
	m, err := r.recorded()
	if err != nil {
		return err
	}
	var q StopRecordRequest
	if len(r.c.PostBody()) > 0 {
		if err := r.decode(&q); err != nil {
			return err
		}
	}
	id := ""
	if q.RecordID != nil {
		if id = *q.RecordID; !validID(id) {
			return invalid("invalid_value", "recordId", "recordId: is not a valid id")
		}
	}
	rec, err := a.o.Recording.Stop(r.context(), m, store.RecordID(id))
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, viewRecord(rec))
}

// listRecords: GET .../records?dateFrom&dateTo (YYYY-MM-DD, UTC, both
// days included), newest first.
func (a *API) listRecords(r *request) error {
	m, err := r.recorded()
	if err != nil {
		return err
	}
	var f store.RecordFilter
	for _, q := range []struct {
		name string
		dst  *time.Time
		next bool
	}{{"dateFrom", &f.From, false}, {"dateTo", &f.To, true}} {
		v := string(r.c.QueryArgs().Peek(q.name))
		if v == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return badInput("invalid_query", q.name, fieldf(q.name, "want YYYY-MM-DD"))
		}
		if q.next {
			d = d.AddDate(0, 0, 1) // the day is included
		}
		*q.dst = d
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return invalid("invalid_value", "dateTo", "dateTo: before dateFrom")
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	l, total, err := a.o.Recording.List(r.context(), m, f, pg)
	if err != nil {
		return err
	}
	out := list[recordView]{Items: make([]recordView, 0, len(l)), Total: total}
	for _, rec := range l {
		out.Items = append(out.Items, viewRecord(rec))
	}
	return r.json(http.StatusOK, out)
}

// downloadRecord: GET .../records/download/{recordId}: the link, as plain
// text (the reference's answer).
func (a *API) downloadRecord(r *request) error {
	m, err := r.recorded()
	if err != nil {
		return err
	}
	id, err := r.id(2, "recordId")
	if err != nil {
		return err
	}
	u, err := a.o.Recording.Download(r.context(), m, store.RecordID(id))
	if err != nil {
		return err
	}
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType("text/plain; charset=utf-8")
	r.c.Response.Header.Set("Cache-Control", "no-store")
	r.c.SetBodyString(u)
	return nil
}
