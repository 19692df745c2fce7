package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/openapi"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
)

// testRoute is a route of method, path and operation id, open to anyone.
func testRoute(method, path, id string) route {
	return route{Operation: openapi.Operation{Method: method, Path: path, ID: id, Auth: openapi.AuthNone},
		handle: func(*API, *request) error { return nil }}
}

func TestRouter(t *testing.T) {
	var rt router
	for _, r := range []route{
		testRoute("GET", "/v1/spaces", "list"),
		testRoute("GET", "/v1/spaces/room-by-alias/{alias}", "alias"),
		testRoute("GET", "/v1/spaces/{spaceId}", "get"),
		testRoute("PUT", "/v1/spaces/{spaceId}", "put"),
		testRoute("POST", "/v1/spaces/{spaceId}/invites/{inviteId}/activate", "act"),
	} {
		if err := rt.add(r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		method, path, op string
		found            bool
		params           []string
	}{
		{"GET", "/v1/spaces", "list", true, nil},
		{"GET", "/v1/spaces/", "list", true, nil},
		{"GET", "/v1/spaces/abc", "get", true, []string{"abc"}},
		{"PUT", "/v1/spaces/abc", "put", true, []string{"abc"}},
		{"DELETE", "/v1/spaces/abc", "", true, nil},
		{"GET", "/v1/spaces/room-by-alias/xyz", "alias", true, []string{"xyz"}},
		{"POST", "/v1/spaces/s/invites/i/activate", "act", true, []string{"s", "i"}},
		{"POST", "/v1/spaces/s/invites//activate", "", false, nil},
		{"GET", "/v1/spaces/abc/extra", "", false, nil},
		{"GET", "/v1", "", false, nil},
		{"GET", "/v1/spaces/room-by-alias", "get", true, []string{"room-by-alias"}},
		{"PUT", "/v1/spaces/room-by-alias", "put", true, []string{"room-by-alias"}},
		{"GET", "/v1/spaces/room-by-alias/xyz/more", "", false, nil},
		{"GET", "/v2/spaces", "", false, nil},
		{"GET", "", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			var p params
			r, found := rt.match(tt.method, tt.path, &p)
			op := ""
			if r != nil {
				op = r.ID
			}
			if op != tt.op || found != tt.found {
				t.Fatalf("match = %q, %v; want %q, %v", op, found, tt.op, tt.found)
			}
			for i, want := range tt.params {
				if p.get(i) != want {
					t.Fatalf("param %d = %q, want %q", i, p.get(i), want)
				}
			}
		})
	}
	if got := rt.allowed("/v1/spaces/x"); got != "GET, PUT" {
		t.Fatalf("allowed = %q", got)
	}
	for _, bad := range []route{
		testRoute("GET", "/v1/spaces", "again"),                                                       // same method and path
		testRoute("POST", "/v1/spaces", "list"),                                                       // same operation id
		{Operation: openapi.Operation{Method: "GET", Path: "/v1/x", ID: "x", Auth: openapi.AuthNone}}, // no handler
		{Operation: openapi.Operation{Method: "GET", Path: "/v1/y", ID: "y", Auth: "staff"}, handle: func(*API, *request) error { return nil }},
	} {
		if err := rt.add(bad); err == nil {
			t.Errorf("add(%s %s %s) accepted", bad.Method, bad.Path, bad.ID)
		}
	}
}

// TestRouteTable: the table registers without a clash, and only writes
// invalidate the read cache.
func TestRouteTable(t *testing.T) {
	var rt router
	for _, r := range routeTable() {
		if err := rt.add(r); err != nil {
			t.Fatal(err)
		}
		if r.Method == "GET" && r.invalidates != 0 {
			t.Errorf("%s: a read invalidates the read cache", r.ID)
		}
	}
	if len(Operations()) != len(rt.routes) {
		t.Fatalf("Operations lists %d routes, the router holds %d", len(Operations()), len(rt.routes))
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{access.About("room", "room", fmt.Errorf("x: %w", store.ErrNotFound)), 404, "not_found"},
		{access.About("invite", "invite", store.ErrUsed), 410, "invite_used"},
		{access.About("access link", "access_link", store.ErrExpired), 410, "access_link_expired"},
		{access.About("space", "space", store.ErrConflict), 409, "conflict"},
		{fmt.Errorf("w: %w", auth.ErrTokenExpired), 401, "invalid_token"},
		{placement.ErrNoEdge, 503, "no_edge"},
		{access.ErrUserToken, 403, "user_token_required"},
		{access.ErrClientToken, 403, "client_token_required"},
		{fmt.Errorf("w: %w", access.Deny("only the room's owner and moderators may change it")), 403, "forbidden"},
		{space.ErrOriginsOwnerOnly, 403, "forbidden"},
		{space.ErrOwnerKeepsRole, 409, "owner_role"},
		{space.ErrWebhookInactive, 409, "webhook_inactive"},
		{&join.WrongRoomError{Credential: join.CredentialLink}, 403, "wrong_room"},
		{join.ErrRoomPrivate, 401, "unauthorized"},
		{join.ErrAdmissionGone, 401, "invalid_token"},
		{join.ErrRemoved, 403, "participant_removed"},
		{moderation.ErrEdgeUnavailable, 502, "edge_unavailable"},
		{moderation.ErrNotConnected, 404, "not_found"},
		{moderation.ErrNoSuchTrack, 404, "track_not_found"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{fmt.Errorf("postgres: get room: %w", store.ErrUnavailable), 503, "unavailable"},
		{errors.New("disk on fire"), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			e := classify(tt.err)
			if e.Status != tt.status || e.Code != tt.code {
				t.Fatalf("classify = %d %s, want %d %s", e.Status, e.Code, tt.status, tt.code)
			}
			if e.Status == http.StatusInternalServerError && e.Message != "internal error" {
				t.Fatal("a 500 leaks its cause")
			}
		})
	}
}

func TestValidators(t *testing.T) {
	for _, tt := range []struct {
		s  string
		ok bool
	}{{"https://a.example", true}, {"https://*.a.example", true}, {"http://a:8080", true}, {"https://a/x", false}, {"a.example", false}, {"https://u@a", false}} {
		var c check
		c.origin("o", tt.s)
		if (c.err == nil) != tt.ok {
			t.Errorf("origin(%q) = %v", tt.s, c.err)
		}
	}
	if !validID("0123456789abcdef01234567") || validID("0123456789ABCDEF01234567") || validID("x") {
		t.Error("validID")
	}
	if !validAlias("abcd2345") || validAlias("a b") || validAlias("ab") {
		t.Error("validAlias")
	}
}
