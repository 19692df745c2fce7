package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
)

func TestRouter(t *testing.T) {
	var rt router
	rt.add("GET", "/v1/spaces", "list", nil)
	rt.add("GET", "/v1/spaces/room-by-alias/{alias}", "alias", nil)
	rt.add("GET", "/v1/spaces/{spaceId}", "get", nil)
	rt.add("PUT", "/v1/spaces/{spaceId}", "put", nil)
	rt.add("POST", "/v1/spaces/{spaceId}/invites/{inviteId}/activate", "act", nil)
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
				op = r.Operation
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
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{about("room", "room", fmt.Errorf("x: %w", store.ErrNotFound)), 404, "not_found"},
		{about("invite", "invite", store.ErrUsed), 410, "invite_used"},
		{about("access link", "access_link", store.ErrExpired), 410, "access_link_expired"},
		{about("space", "space", store.ErrConflict), 409, "conflict"},
		{fmt.Errorf("w: %w", auth.ErrTokenExpired), 401, "invalid_token"},
		{placement.ErrNoEdge, 503, "no_edge"},
		{errUserToken, 403, "user_token_required"},
		{errors.New("disk on fire"), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
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
	for range 100 {
		a, err := newAlias()
		if err != nil || len(a) != 10 || !validAlias(a) {
			t.Fatalf("newAlias = %q, %v", a, err)
		}
	}
}
