package api

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/analytics"
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

// analyticsSpace is the space of the path for its owner or a moderator:
// call analytics are the space managers'.
func (r *request) analyticsSpace() (access.ManagedSpace, error) {
	id, err := r.spaceID()
	if err != nil {
		return access.ManagedSpace{}, err
	}
	return r.a.o.Access.ManageSpace(r.context(), r.caller, id, "read its call analytics")
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
	m, err := r.analyticsSpace()
	if err != nil {
		return err
	}
	var q analytics.Query
	room, err := r.queryID("roomId")
	if err != nil {
		return err
	}
	q.Room = store.RoomID(room)
	if d := string(r.c.QueryArgs().Peek("date")); d != "" {
		if q.Day, err = time.Parse(time.DateOnly, d); err != nil {
			return badInput("invalid_query", "date", "date: want YYYY-MM-DD")
		}
	}
	pg, err := r.page()
	if err != nil {
		return err
	}
	l, total, err := a.o.Analytics.Calls(r.context(), m, q, pg)
	if err != nil {
		return err
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
	m, err := r.analyticsSpace()
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
	rep, err := a.o.Analytics.Report(r.context(), m, store.CallID(callID), store.RoomID(room))
	if err != nil {
		return err
	}
	rows := make([]reportRow, 0, len(rep.Stays))
	for _, st := range rep.Stays {
		rows = append(rows, reportRow{Identity: st.Identity, Name: st.Name, JoinedAt: st.JoinedAt, LeftAt: st.LeftAt,
			DurationSeconds: int64(st.Duration / time.Second)})
	}
	call := rep.Call
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
