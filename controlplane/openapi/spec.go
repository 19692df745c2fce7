package openapi

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

type obj = map[string]any

// Auth is who may call an operation.
type Auth string

// Who may call.
const (
	AuthNone         Auth = "none"         // anyone; no token
	AuthClient       Auth = "client"       // a client token
	AuthUser         Auth = "user"         // a user or personal token
	AuthAny          Auth = "any"          // a client or a user token
	AuthOptionalUser Auth = "optionalUser" // anyone; a user token when one is sent
	// AuthAnyOrSession: a client or a user token, or a participant's
	// session credential (the join answer's session.token: the room page).
	AuthAnyOrSession Auth = "anyOrSession"
)

// Operation is one method of the API as the document describes it; the
// API's route table declares one per route, and its router matches and
// authenticates by Method, Path and Auth.
type Operation struct {
	Method string
	Path   string // path parameters in braces: /v1/spaces/{spaceId}
	ID     string // operationId, the Swagger UI's deep link
	// Auth is who may call.
	Auth Auth

	// Request is the schema name of the JSON body ("" for none).
	Request string
	// OptionalBody: the request body may be left out.
	OptionalBody bool
	// OAuth: an OAuth2 endpoint, which takes form bodies too and answers
	// errors in the OAuth2 form.
	OAuth bool
	// Paged: the offset and limit query parameters page the answer.
	Paged bool
	// ClientIDHeader documents the reference SDK's x-cl-id header
	// (accepted and ignored).
	ClientIDHeader bool
	// Query are the query parameters other than offset and limit.
	Query []Param
	// CSV: the success answer may also be text/csv (by a query parameter).
	CSV bool
	// Text: the success answer is text/plain (a link).
	Text bool

	Status   int    // success status
	Response string // schema name of the success body ("" for none)
	// Accepted is the schema name of a 202 answer: not done yet (a
	// participant waiting for a moderator); "" for none.
	Accepted string
	Errors   []int // error statuses, each answered by a shared response

	Tag, Summary, Description string
}

// Param is a query parameter.
type Param struct {
	Name        string
	Description string
	Required    bool
	// Type is the value's shape.
	Type ParamType
	// Enum are the values of a ParamEnum; Default is the one taken when
	// the parameter is left out.
	Enum    []string
	Default string
	// Max is the largest value of a ParamInt (from 0).
	Max int
}

// ParamType is the shape of a query parameter's value.
type ParamType int

// Shapes of query parameters.
const (
	ParamID   ParamType = iota // an id: 24 hex digits
	ParamDate                  // a day: YYYY-MM-DD
	ParamEnum                  // one of Param.Enum
	ParamText                  // an opaque string
	ParamInt                   // an integer from 0 to Param.Max
)

func (p Param) schema() obj {
	switch p.Type {
	case ParamDate:
		return obj{"type": "string", "format": "date"}
	case ParamText:
		return obj{"type": "string", "maxLength": 64}
	case ParamInt:
		return obj{"type": "integer", "minimum": 0, "maximum": p.Max}
	case ParamEnum:
		o := obj{"type": "string", "enum": p.Enum}
		if p.Default != "" {
			o["default"] = p.Default
		}
		return o
	}
	return obj{"type": "string", "pattern": "^[0-9a-f]{24}$"}
}

// Document builds the OpenAPI 3.1 document of ops (every method of /v1,
// the openapi.json route itself aside) as indented JSON.
func Document(ops []Operation) ([]byte, error) {
	paths := obj{}
	for _, op := range ops {
		item, _ := paths[op.Path].(obj)
		if item == nil {
			item = obj{}
			paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = operation(op)
	}
	paths["/v1/openapi.json"] = obj{"get": obj{
		"operationId": "getOpenAPI", "tags": []string{"meta"}, "summary": "This document", "security": []any{},
		"responses": obj{"200": obj{"description": "The OpenAPI 3.1 document", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}},
	}}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "Spacecast API",
			"version": "1",
			"description": "The /v1 REST API of Spacecast, compatible with the hosted API it replaces. JSON bodies, camelCase fields, " +
				"Authorization: Bearer <token>. Errors are {code, message, field?} (the token endpoint uses the OAuth2 form). " +
				"Unknown request fields are ignored; a wrong type is 400, a missing or invalid value 422, a body over 1 MiB 413. " +
				"Tenant isolation: an entity of another API client answers 404 exactly like a missing one.\n\n" + accessMatrix,
		},
		"servers": []obj{{"url": "/"}},
		"tags": []obj{
			{"name": "auth", "description": "Tokens"}, {"name": "users", "description": "Users and personal tokens"},
			{"name": "spaces", "description": "Spaces, invites, framing origins"}, {"name": "rooms", "description": "Rooms, roles, guest links"},
			{"name": "moderation", "description": "Live participants: list, mute, remove"},
			{"name": "waiting", "description": "Waiting rooms: who waits, admit, refuse"},
			{"name": "webhooks", "description": "Per-space webhooks"}, {"name": "join", "description": "Joining a call"},
			{"name": "meta", "description": "This document"}, {"name": "analytics", "description": "Call history and per-call reports"},
			{"name": "records", "description": "Recordings of calls: start, stop, list, download"},
		},
		"paths": paths,
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT or scp_ personal token"}},
			"schemas":         schemas(),
			"responses":       errorResponses(),
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return append(b, '\n'), nil
}

const accessMatrix = `Access matrix:

| method | client token | user token |
|---|---|---|
| POST /v1/users | yes | 403 |
| users/me, personal tokens | 403 | yes |
| spaces: create, list | 403 | yes |
| space: get | 403 | public space, or member |
| space: update | 403 | space owner, moderator |
| space: delete, allowed-origins PUT, webhook | 403 | space owner |
| invites: create | 403 | owner (any role), moderator (role_space_user) |
| rooms: create | 403 | space owner, moderator |
| room: get, list | 403 | room owner/member; public room in a visible space |
| room-by-alias | public room | as room: get |
| room: update, roles, generate-access | 403 | room owner, room moderator (moderator grants role_room_user only) |
| room: embed-token | 403 | whoever may see the room (for themselves) |
| room: delete | 403 | room owner, space owner |
| participants: list, mute, remove | 403 | room owner, room moderator; space owner, moderator in a public room |
| records: start, stop, list, download | the room's client | as participants |
| waiting room: list, admit, refuse | the room's client | as participants (a moderator's session credential too) |
| join | no (use a link) | room role, or public room |`

func operation(op Operation) obj {
	o := obj{"operationId": op.ID, "tags": []string{op.Tag}, "summary": op.Summary, "description": op.Description}
	switch op.Auth {
	case AuthNone:
		o["security"] = []any{}
	case AuthOptionalUser:
		o["security"] = []any{obj{}, obj{"bearer": []string{}}}
	default:
		o["security"] = []any{obj{"bearer": []string{}}}
	}
	var params []obj
	for _, seg := range strings.Split(op.Path, "/") {
		if strings.HasPrefix(seg, "{") {
			name := strings.Trim(seg, "{}")
			p := obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string", "pattern": "^[0-9a-f]{24}$"}}
			if name == "identity" {
				p["schema"] = obj{"type": "string", "minLength": 1, "maxLength": 256}
			}
			if name == "alias" {
				p["schema"] = obj{"type": "string", "pattern": "^[A-Za-z0-9_-]{4,64}$"}
			}
			params = append(params, p)
		}
	}
	for _, q := range op.Query {
		p := obj{"name": q.Name, "in": "query", "required": q.Required, "schema": q.schema()}
		if q.Description != "" {
			p["description"] = q.Description
		}
		params = append(params, p)
	}
	if op.Paged {
		params = append(params,
			obj{"name": "offset", "in": "query", "schema": obj{"type": "integer", "minimum": 0}},
			obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 0, "maximum": 500}})
	}
	if op.ClientIDHeader {
		params = append(params, obj{"name": "x-cl-id", "in": "header", "required": false, "description": "Accepted and ignored.", "schema": obj{"type": "string"}})
	}
	if params != nil {
		o["parameters"] = params
	}
	if op.Request != "" {
		content := obj{"application/json": obj{"schema": ref(op.Request)}}
		if op.OAuth {
			content["application/x-www-form-urlencoded"] = obj{"schema": ref(op.Request)}
		}
		o["requestBody"] = obj{"required": !op.OptionalBody, "content": content}
	}
	success := obj{"description": "Success"}
	if op.Text {
		success["content"] = obj{"text/plain": obj{"schema": obj{"type": "string", "format": "uri"}}}
	}
	if op.Response != "" {
		content := obj{"application/json": obj{"schema": ref(op.Response)}}
		if op.CSV {
			content["text/csv"] = obj{"schema": obj{"type": "string"}}
		}
		success["content"] = content
	}
	responses := obj{fmt.Sprint(op.Status): success}
	if op.Accepted != "" {
		responses["202"] = obj{"description": "Accepted, not done yet: the participant waits for a moderator",
			"content": obj{"application/json": obj{"schema": ref(op.Accepted)}}}
	}
	errs := append([]int(nil), op.Errors...)
	sort.Ints(errs)
	for _, code := range errs {
		if op.OAuth && code != 413 {
			responses[fmt.Sprint(code)] = obj{"$ref": "#/components/responses/OAuth" + fmt.Sprint(code)}
			continue
		}
		responses[fmt.Sprint(code)] = obj{"$ref": fmt.Sprintf("#/components/responses/E%d", code)}
	}
	o["responses"] = responses
	return o
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func errorResponses() obj {
	out := obj{}
	texts := map[int]string{
		400: "Malformed JSON, wrong type, invalid id or query (codes invalid_json, invalid_type, invalid_id, invalid_query)",
		401: "Missing, invalid or expired token (codes unauthorized, invalid_token)",
		403: "Wrong token kind (user_token_required, client_token_required) or role (forbidden, wrong_room)",
		404: "Unknown or foreign entity (not_found)",
		409: "Conflict (conflict, email_taken, owner_role)",
		410: "Single-use token or invite already used or expired (access_link_used, access_link_expired, embed_token_used, embed_token_expired, invite_used, invite_expired, session_expired)",
		413: "Body over the limit (body_too_large)",
		422: "Missing or unacceptable value (missing_field, invalid_value, invalid_enum, too_long, too_short, out_of_range)",
		429: "Rate-limited (rate_limited); see Retry-After",
		502: "The edge hosting the room did not answer (edge_unavailable); retry",
		503: "No edge can take the call (no_edge), or the service is busy; see Retry-After",
	}
	for code, text := range texts {
		out[fmt.Sprintf("E%d", code)] = obj{"description": text, "content": obj{"application/json": obj{"schema": ref("Error")}}}
	}
	for _, code := range []int{400, 401, 429} {
		out[fmt.Sprintf("OAuth%d", code)] = obj{"description": "OAuth2 error: invalid_request, invalid_client, invalid_grant, unsupported_grant_type, unsupported_token_type, slow_down",
			"content": obj{"application/json": obj{"schema": ref("OAuthError")}}}
	}
	return out
}
