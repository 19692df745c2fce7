package openapi

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

type obj = map[string]any

// Operation is one method of the API as the document describes it.
type Operation struct {
	Method, Path, ID, Tag, Summary, Description string
	// Auth is who may call: "none", "client" (client token), "user" (user
	// or personal token), "any" (client or user token), "optionalUser".
	Auth     string
	Request  string // schema name of the JSON body, "" for none
	Status   int    // success status
	Response string // schema name of the success body
	Errors   []int
}

// Operations is every method of /v1 (the openapi.json route itself aside).
func Operations() []Operation {
	const spaceRoles = " Space roles: role_space_owner (creator), role_space_moderator, role_space_user (invited)."
	return append([]Operation{
		{"POST", "/v1/auth/token", "issueToken", "auth", "Issue tokens",
			"OAuth2 token endpoint. grant_type client_credentials (client_id, client_secret) gives a client token; password (client credentials, or a client token in Authorization, plus username = e-mail and password) gives a user token; refresh_token gives a new pair and spends the refresh token given (rotation: a spent refresh token presented again revokes every token of its sign-in, 400 invalid_grant). Accepts JSON or application/x-www-form-urlencoded and HTTP Basic client authentication. The x-cl-id header is accepted and ignored. Errors use the OAuth2 form {error, error_description}. Rate-limited per source address, per client once it has authenticated (a stranger's wrong secrets do not use up a client's bucket), and per username for failed password grants: 429 slow_down with Retry-After and RateLimit-Limit/Remaining/Reset.",
			"none", "TokenRequest", 200, "TokenReply", []int{400, 401, 413, 429}},
		{"POST", "/v1/auth/revoke", "revokeToken", "auth", "Revoke a token",
			"Token revocation (RFC 7009). token is a refresh token (its whole sign-in is revoked: every access and refresh token descended from it), an access token (that token) or a personal token (deleted). Client credentials (body or HTTP Basic) are optional: holding a token is enough to revoke it, and an authenticated client revokes only its own clients' tokens. 200 with an empty body whether or not the token was valid (an invalid or expired token needs no revoking); every replica refuses a revoked token within a second. Refresh tokens also rotate: each refresh_token grant spends the one it is given, and a spent refresh token presented again revokes its whole sign-in (400 invalid_grant). Link, session and embed tokens: 400 unsupported_token_type. Rate-limited per source address.",
			"none", "RevokeRequest", 200, "", []int{400, 401, 413, 429}},
		{"POST", "/v1/users", "createUser", "users", "Create a user", "With the client token (a user or personal token gets 403 client_token_required). The e-mail is unique per client, case-insensitively. Rate-limited per client (rateLimit.createUserPerClient): 429 rate_limited with Retry-After.",
			"client", "CreateUser", 201, "IDReply", []int{400, 401, 403, 409, 413, 422, 429}},
		{"GET", "/v1/users/me", "getMe", "users", "The current user", "User token only; a client token gets 403.",
			"user", "", 200, "User", []int{401, 403, 404}},
		{"POST", "/v1/users/me/tokens", "createPersonalToken", "users", "Create a personal token",
			"A long-lived user token (prefix scp_), usable as a Bearer token wherever a user token is. Shown once in this answer; only its hash is stored. At most 50 per user.",
			"user", "CreatePersonalToken", 201, "PersonalToken", []int{400, 401, 403, 413, 422}},
		{"GET", "/v1/users/me/tokens", "listPersonalTokens", "users", "List personal tokens", "Without their values.",
			"user", "", 200, "PersonalTokenList", []int{401, 403}},
		{"DELETE", "/v1/users/me/tokens/{tokenId}", "deletePersonalToken", "users", "Revoke a personal token", "The token stops working at once.",
			"user", "", 200, "IDReply", []int{400, 401, 403, 404}},

		{"POST", "/v1/spaces", "createSpace", "spaces", "Create a space", "User token; a client token gets 403. The caller becomes the owner." + spaceRoles,
			"user", "Space", 201, "IDReply", []int{400, 401, 403, 413, 422}},
		{"GET", "/v1/spaces", "listSpaces", "spaces", "List my spaces", "The spaces the user owns or belongs to, newest first. Query: offset, limit (default 50, max 500).",
			"user", "", 200, "SpaceList", []int{400, 401, 403}},
		{"GET", "/v1/spaces/room-by-alias/{alias}", "getRoomByAlias", "rooms", "Find a room by alias",
			"A client token may read a public room of its client (a private one: 403). A user token follows the room visibility rules. A room of another client: 404.",
			"any", "", 200, "RoomView", []int{400, 401, 403, 404}},
		{"GET", "/v1/spaces/{spaceId}", "getSpace", "spaces", "Get a space", "Public spaces are open to every user of the client; a private one to its members (403 otherwise). Another client's space: 404.",
			"user", "", 200, "SpaceView", []int{400, 401, 403, 404}},
		{"PUT", "/v1/spaces/{spaceId}", "updateSpace", "spaces", "Update a space", "Space owner or moderator. Fields left out keep their value. allowedOrigins (the sites that may frame the space's rooms) changes only by the owner: a moderator sending a different list gets 403 (field allowedOrigins); the same list is accepted.",
			"user", "Space", 200, "SpaceView", []int{400, 401, 403, 404, 413, 422}},
		{"DELETE", "/v1/spaces/{spaceId}", "deleteSpace", "spaces", "Delete a space", "Space owner only; removes its rooms, invites, links and webhook.",
			"user", "", 200, "IDReply", []int{400, 401, 403, 404}},
		{"GET", "/v1/spaces/{spaceId}/allowed-origins", "getAllowedOrigins", "spaces", "Origins allowed to frame the room page",
			"Space owner or moderator. The room page of the space's rooms may be framed (CSP frame-ancestors) by these origins. Also shown as allowedOrigins of the space.",
			"user", "", 200, "Origins", []int{400, 401, 403, 404}},
		{"PUT", "/v1/spaces/{spaceId}/allowed-origins", "putAllowedOrigins", "spaces", "Set the origins allowed to frame the room page",
			"Space owner. Each origin is scheme://host[:port]; the host may start with *. for any subdomain. At most 50.",
			"user", "Origins", 200, "Origins", []int{400, 401, 403, 404, 413, 422}},
		{"POST", "/v1/spaces/{spaceId}/invites", "createInvite", "spaces", "Invite into a space",
			"The owner invites moderators and users, a moderator invites users. Single use: activation by one user, once. ttl in seconds, default 7 days, at most 30 days.",
			"user", "CreateInvite", 201, "Invite", []int{400, 401, 403, 404, 413, 422}},
		{"POST", "/v1/spaces/{spaceId}/invites/{inviteId}/activate", "activateInvite", "spaces", "Activate an invite",
			"The signed-in user joins the space with the invite's role (never lowering a role held). A second activation: 410 invite_used; past expiry: 410 invite_expired.",
			"user", "", 200, "Invite", []int{400, 401, 403, 404, 410}},

		{"POST", "/v1/spaces/{spaceId}/rooms", "createRoom", "rooms", "Create a room",
			"Space owner or moderator; the caller becomes role_room_owner. Flags left out default to a lesson where camera, microphone, screen (with audio), chat and hand raising are allowed. Answers a short random URL-safe alias.",
			"user", "Room", 201, "CreateRoomReply", []int{400, 401, 403, 404, 413, 422}},
		{"GET", "/v1/spaces/{spaceId}/rooms", "listRooms", "rooms", "List rooms", "The rooms of the space the caller may see. Query: offset, limit.",
			"user", "", 200, "RoomList", []int{400, 401, 403, 404}},
		{"GET", "/v1/spaces/{spaceId}/rooms/{roomId}", "getRoom", "rooms", "Get a room",
			"Room owner and members always; others when the room is public and its space open to them. A private room keeps even the space's owner out unless the room grants a role.",
			"user", "", 200, "RoomView", []int{400, 401, 403, 404}},
		{"PUT", "/v1/spaces/{spaceId}/rooms/{roomId}", "updateRoom", "rooms", "Update a room", "Room owner or moderator. Fields left out keep their value.",
			"user", "Room", 200, "RoomView", []int{400, 401, 403, 404, 413, 422}},
		{"DELETE", "/v1/spaces/{spaceId}/rooms/{roomId}", "deleteRoom", "rooms", "Delete a room", "The room's owner or the space's owner.",
			"user", "", 200, "IDReply", []int{400, 401, 403, 404}},
		{"POST", "/v1/spaces/{spaceId}/rooms/{roomId}/roles", "setRoomRole", "rooms", "Grant a room role",
			"The room's owner grants role_room_user or role_room_moderator; a moderator grants role_room_user. The owner keeps role_room_owner (409).",
			"user", "RoleRequest", 200, "RoomRole", []int{400, 401, 403, 404, 409, 413, 422}},
		{"GET", "/v1/spaces/{spaceId}/rooms/{roomId}/roles", "listRoomRoles", "rooms", "List room roles", "Room owner or moderator.",
			"user", "", 200, "RoomRoleList", []int{400, 401, 403, 404}},
		{"POST", "/v1/spaces/{spaceId}/rooms/{roomId}/generate-access", "generateAccess", "rooms", "Generate a guest link",
			"Room owner or moderator. Answers url = <publicURL>/room/<alias>?participantName=<username>&accessToken=<token>. ttl in seconds: default 86400, at most 432000. Single-use unless isPermanent: the first join spends it, later joins get 410 access_link_used.",
			"user", "GenerateAccess", 200, "GenerateAccessReply", []int{400, 401, 403, 404, 413, 422}},
		{"POST", "/v1/spaces/{spaceId}/rooms/{roomId}/embed-token", "createEmbedToken", "rooms", "Make an embed token",
			"For the room page in an integrator's iframe, instead of a refresh token in its URL. The caller (a user token: the integrator's backend holds it for its user) gets a short-lived single-use token that signs that user in to the room: url = <publicURL>/room/<alias>?embedToken=<token>. ttl in seconds: default 60, at most 600. The first join spends it (a second: 410 embed_token_used; past expiry: 410 embed_token_expired); the session it opens ends no later than the caller's token, and revoking the caller's sign-in or deleting the user revokes it. The caller must be able to see the room (403 otherwise).",
			"user", "EmbedRequest", 200, "EmbedReply", []int{400, 401, 403, 404, 413, 422}},

		{"GET", "/v1/spaces/{spaceId}/rooms/{roomId}/participants", "listParticipants", "moderation", "List the live participants",
			"Whoever a join makes owner or moderator of the room (room owner and moderators; in a public room the space's owner and moderators). Asks every edge hosting the room (LiveKit RoomService); an empty list when no call is live. 502 edge_unavailable when an edge does not answer.",
			"user", "", 200, "ParticipantList", []int{400, 401, 403, 404, 502}},
		{"POST", "/v1/spaces/{spaceId}/rooms/{roomId}/participants/{identity}/remove", "removeParticipant", "moderation", "Remove a participant",
			"Room owner or moderator (as for listParticipants). Disconnects the participant (connected tells whether it was connected) and keeps it out: the edge refuses media tokens issued before the removal, and joins refuse a session or link credential issued before it, and a user token, for the session TTL (403 participant_removed). A credential issued after the removal (a new link) lets the participant back. identity is the join answer's identity, URL-escaped.",
			"user", "", 200, "RemoveReply", []int{400, 401, 403, 404, 502}},
		{"POST", "/v1/spaces/{spaceId}/rooms/{roomId}/participants/{identity}/mute", "muteParticipant", "moderation", "Mute or unmute a participant's track",
			"Room owner or moderator (as for listParticipants). {trackSid, muted} changes one track; {source, muted} every track of that source (camera, microphone, screen_share, screen_share_audio). Subscribers see the mute; the publisher is told. Answers the changed tracks; 404 when the participant is not connected (not_found) or publishes no such track (track_not_found).",
			"user", "MuteRequest", 200, "MuteReply", []int{400, 401, 403, 404, 413, 422, 502}},

		{"POST", "/v1/spaces/{spaceId}/webhook", "createWebhook", "webhooks", "Create or replace the space's webhook",
			"Space owner. Creates the webhook with a new HMAC secret (201), or, when the space has one, replaces its url (and isActive) keeping the secret (200). The answer carries the secret.",
			"user", "WebhookRequest", 201, "Webhook", []int{400, 401, 403, 404, 413, 422}},
		{"PUT", "/v1/spaces/{spaceId}/webhook", "updateWebhook", "webhooks", "Update the space's webhook", "Space owner. {url?, isActive?}.",
			"user", "WebhookRequest", 200, "Webhook", []int{400, 401, 403, 404, 413, 422}},
		{"GET", "/v1/spaces/{spaceId}/webhook", "getWebhook", "webhooks", "Get the space's webhook", "Space owner.",
			"user", "", 200, "Webhook", []int{400, 401, 403, 404}},
		{"DELETE", "/v1/spaces/{spaceId}/webhook", "deleteWebhook", "webhooks", "Delete the space's webhook", "Space owner.",
			"user", "", 200, "IDReply", []int{400, 401, 403, 404}},
		{"PUT", "/v1/spaces/{spaceId}/webhook/refresh-secret", "refreshWebhookSecret", "webhooks", "Draw a new webhook secret", "Space owner.",
			"user", "", 200, "Webhook", []int{400, 401, 403, 404}},

		{"POST", "/v1/rooms/{alias}/join", "joinRoom", "join", "Join a room",
			"What the room page calls. The credential, in order of precedence: sessionToken (an earlier join's session), accessToken (a generate-access link, spent atomically: of concurrent joins with one single-use link exactly one succeeds, the others get 410 access_link_used), embedToken (single-use likewise: 410 embed_token_used), the Authorization user token, or nothing for a public room in a public space (a private space is open to its members only: 401). Roles: owner and moderators (room roles; a link with role moderator; the space's owner and moderators in a public room) get roomAdmin and may publish everything; participants publish what the room's flags allow; in a webinar participants become viewers and cannot publish. The answer names the edge (edge.url, a LiveKit signalling URL), a LiveKit media token (room = the room's id, short TTL), ICE servers with TURN REST credentials and a session credential for reconnects. The session never outlives what admitted the participant (the link's expiry, the user token's) and a rejoin with it answers a session that ends no later than the one presented; a rejoin derives the role again from what holds then (the user's current room role and the room's visibility, the link's role; a guest's session is refused once the room or its space is private). 503 with Retry-After when no edge can take the call. The media token carries the room's maxParticipants in its roomConfig (LiveKit's room settings), which the edge enforces. Rate-limited per source address (rateLimit.joinPerAddress), and joins without any credential (guests) more tightly (rateLimit.guestJoinPerAddress): 429 rate_limited with Retry-After.",
			"optionalUser", "JoinRequest", 200, "JoinAnswer", []int{400, 401, 403, 404, 410, 413, 422, 429, 503}},
		{"GET", "/v1/regions", "listRegions", "join", "List regions to probe",
			"The regions that have an edge taking participants, each with its edges' probe URLs (GET answers 204 at once, never cached). A client may fetch one probe URL per region, measure the round trip, and pass the results as rtts (region → ms) to the join: placement then picks the nearest region. Public; may be cached for 5 seconds.",
			"none", "", 200, "RegionList", nil},
	}, haOperations()...)
}

// Document builds the OpenAPI 3.1 document as indented JSON.
func Document() ([]byte, error) {
	paths := obj{}
	for _, op := range Operations() {
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
		"tags": append([]obj{
			{"name": "auth", "description": "Tokens"}, {"name": "users", "description": "Users and personal tokens"},
			{"name": "spaces", "description": "Spaces, invites, framing origins"}, {"name": "rooms", "description": "Rooms, roles, guest links"},
			{"name": "moderation", "description": "Live participants: list, mute, remove"},
			{"name": "webhooks", "description": "Per-space webhooks"}, {"name": "join", "description": "Joining a call"},
			{"name": "meta", "description": "This document"},
		}, haTags()...),
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
| join | no (use a link) | room role, or public room |`

func operation(op Operation) obj {
	o := obj{"operationId": op.ID, "tags": []string{op.Tag}, "summary": op.Summary, "description": op.Description}
	switch op.Auth {
	case "none":
		o["security"] = []any{}
	case "optionalUser":
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
	if op.ID == "listSpaces" || op.ID == "listRooms" {
		params = append(params,
			obj{"name": "offset", "in": "query", "schema": obj{"type": "integer", "minimum": 0}},
			obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 0, "maximum": 500}})
	}
	if params != nil {
		o["parameters"] = params
	}
	if op.ID == "issueToken" {
		o["parameters"] = []obj{{"name": "x-cl-id", "in": "header", "required": false, "description": "Accepted and ignored.", "schema": obj{"type": "string"}}}
	}
	if op.Request != "" {
		content := obj{"application/json": obj{"schema": ref(op.Request)}}
		if oauth(op) {
			content["application/x-www-form-urlencoded"] = obj{"schema": ref(op.Request)}
		}
		// The join and the embed token take an empty body too.
		o["requestBody"] = obj{"required": op.Auth != "optionalUser" && op.ID != "createEmbedToken", "content": content}
	}
	success := obj{"description": "Success"}
	if op.Response != "" {
		success["content"] = obj{"application/json": obj{"schema": ref(op.Response)}}
	}
	responses := obj{fmt.Sprint(op.Status): success}
	errs := append([]int(nil), op.Errors...)
	sort.Ints(errs)
	for _, code := range errs {
		if oauth(op) && code != 413 {
			responses[fmt.Sprint(code)] = obj{"$ref": "#/components/responses/OAuth" + fmt.Sprint(code)}
			continue
		}
		responses[fmt.Sprint(code)] = obj{"$ref": fmt.Sprintf("#/components/responses/E%d", code)}
	}
	o["responses"] = responses
	amend(op, o)
	return o
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

// oauth tells the OAuth2 endpoints: form bodies too, errors in the OAuth2
// form.
func oauth(op Operation) bool { return op.ID == "issueToken" || op.ID == "revokeToken" }

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
