package api

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// callView is a call as the reference's analytics show it (and
// maxParticipantsCount).
type callView struct {
	ID                      string     `json:"id"`
	Active                  bool       `json:"active"`
	RoomID                  string     `json:"roomId"`
	RoomType                string     `json:"roomType"`
	ParticipantsCount       int        `json:"participantsCount"`
	MaxParticipantsCount    int        `json:"maxParticipantsCount"`
	TotalParticipantsCount  int        `json:"totalParticipantsCount"`
	UniqueParticipantsCount int        `json:"uniqueParticipantsCount"`
	StartedAt               time.Time  `json:"startedAt"`
	FinishedAt              *time.Time `json:"finishedAt"`
}

func viewCall(c store.Call) callView {
	return callView{ID: string(c.ID), Active: c.FinishedAt == nil, RoomID: string(c.RoomID), RoomType: string(c.RoomType),
		ParticipantsCount: c.Participants, MaxParticipantsCount: c.MaxParticipants, TotalParticipantsCount: c.TotalParticipants,
		UniqueParticipantsCount: c.UniqueParticipants, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt}
}

// analyticsSpace loads the space of path parameter 0 for its owner or a
// moderator: call analytics are the space managers'.
func (r *request) analyticsSpace() (principal, store.Space, error) {
	p, s, _, err := r.managedSpace("read its call analytics")
	return p, s, err
}

// queryID reads an optional id from the query.
func (r *request) queryID(name string) (string, error) {
	v := string(r.c.QueryArgs().Peek(name))
	if v != "" && !validID(v) {
		return "", badInput("invalid_query", name, fieldf(name, "is not a valid id"))
	}
	return v, nil
}

// listCalls: GET /v1/spaces/{spaceId}/analytics/calls?roomId&date, space
// owner or moderator: the space's calls, newest first; roomId keeps one
// room's, date (YYYY-MM-DD, UTC) those started that day. Paged with
// offset and limit, with the total.
func (a *API) listCalls(r *request) error {
	p, s, err := r.analyticsSpace()
	if err != nil {
		return err
	}
	var f store.CallFilter
	room, err := r.queryID("roomId")
	if err != nil {
		return err
	}
	f.RoomID = store.RoomID(room)
	if d := string(r.c.QueryArgs().Peek("date")); d != "" {
		day, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return badInput("invalid_query", "date", "date: want YYYY-MM-DD")
		}
		f.From, f.To = day, day.AddDate(0, 0, 1)
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	l, total, err := a.o.Store.ListCalls(r.context(), p.client, s.ID, f, pg)
	if err != nil {
		return about("space", "space", err)
	}
	out := list[callView]{Items: make([]callView, 0, len(l)), Total: total}
	for _, c := range l {
		out.Items = append(out.Items, viewCall(c))
	}
	return r.json(http.StatusOK, out)
}

// reportRow is one participant's stay in a call.
type reportRow struct {
	Identity        string     `json:"identity"`
	Name            string     `json:"name"`
	JoinedAt        time.Time  `json:"joinedAt"`
	LeftAt          *time.Time `json:"leftAt"`
	DurationSeconds int64      `json:"durationSeconds"`
}

type callReport struct {
	callView
	Participants []reportRow `json:"participants"`
}

// callReport: GET /v1/spaces/{spaceId}/analytics/report?roomId&callId&format,
// space owner or moderator: one call with each participant's join and
// leave times (one row per stay: a reconnect is a new row), as JSON
// (format=json, the default) or CSV (format=csv, the stand-in for the
// reference's xlsx).
func (a *API) callReport(r *request) error {
	p, s, err := r.analyticsSpace()
	if err != nil {
		return err
	}
	callID, err := r.queryID("callId")
	if err != nil {
		return err
	}
	if callID == "" {
		return invalid("missing_field", "callId", "callId: required")
	}
	room, err := r.queryID("roomId")
	if err != nil {
		return err
	}
	format := string(r.c.QueryArgs().Peek("format"))
	switch format {
	case "", "json", "csv":
	default:
		return invalid("invalid_enum", "format", "format: json or csv")
	}
	call, err := a.o.Store.GetCall(r.context(), p.client, s.ID, store.CallID(callID))
	if err == nil && room != "" && string(call.RoomID) != room {
		err = store.ErrNotFound
	}
	if err != nil {
		return about("call", "call", err)
	}
	sessions, err := a.o.Store.ListCallSessions(r.context(), p.client, s.ID, call.ID)
	if err != nil {
		return about("call", "call", err)
	}
	rows := make([]reportRow, 0, len(sessions))
	for _, cs := range sessions {
		end := r.now
		if cs.LeftAt != nil {
			end = *cs.LeftAt
		}
		rows = append(rows, reportRow{Identity: cs.Identity, Name: cs.Name, JoinedAt: cs.JoinedAt, LeftAt: cs.LeftAt,
			DurationSeconds: int64(end.Sub(cs.JoinedAt).Round(time.Second) / time.Second)})
	}
	if format != "csv" {
		return r.json(http.StatusOK, callReport{callView: viewCall(call), Participants: rows})
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"callId", "roomId", "identity", "name", "joinedAt", "leftAt", "durationSeconds"})
	for _, row := range rows {
		left := ""
		if row.LeftAt != nil {
			left = row.LeftAt.UTC().Format(time.RFC3339Nano)
		}
		_ = w.Write([]string{string(call.ID), string(call.RoomID), csvSafe(row.Identity), csvSafe(row.Name),
			row.JoinedAt.UTC().Format(time.RFC3339Nano), left, strconv.FormatInt(row.DurationSeconds, 10)})
	}
	w.Flush()
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType("text/csv; charset=utf-8")
	r.c.Response.Header.Set("Content-Disposition", `attachment; filename="call-`+string(call.ID)+`.csv"`)
	r.c.SetBody(b.Bytes())
	return nil
}

// csvSafe keeps a participant-chosen value from being read as a formula
// by a spreadsheet (CSV injection): a leading =, +, - or @ gets a quote.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
