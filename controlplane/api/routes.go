package api

import (
	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/openapi"
)

// route is one entry of the route table: the method, path, operation id,
// who may call and the request and answer schemas (the OpenAPI
// operation, which the document is built from and the router matches and
// authenticates by), the handler, and what of the read cache the route's
// writes make stale.
type route struct {
	openapi.Operation
	handle func(*API, *request) error
	// invalidates is forgotten from the read cache after the handler runs,
	// whatever its outcome, so that no read that raced with the write
	// keeps a stale entry past this point. A route that writes nothing
	// the cache keeps (rooms, room roles) leaves it zero.
	invalidates access.Cached
}

// Operations lists what the route table declares of every route, for the
// OpenAPI document (openapi.Document).
func Operations() []openapi.Operation {
	t := routeTable()
	ops := make([]openapi.Operation, len(t))
	for i, r := range t {
		ops[i] = r.Operation
	}
	return ops
}

// routeTable is every route of /v1 (the openapi.json route aside, which
// the server answers itself), in the order of the document.
func routeTable() []route {
	const spaceRoles = " Space roles: role_space_owner (creator), role_space_moderator, role_space_user (invited)."
	return []route{
		// Tokens.
		{handle: (*API).issueToken, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/auth/token", ID: "issueToken", Auth: openapi.AuthNone,
			Request: "TokenRequest", Status: 200, Response: "TokenReply", Errors: []int{400, 401, 413, 429}, OAuth: true, ClientIDHeader: true,
			Tag: "auth", Summary: "Issue tokens",
			Description: "OAuth2 token endpoint. grant_type client_credentials (client_id, client_secret) gives a client token; password (client credentials, or a client token in Authorization, plus username = e-mail and password) gives a user token; refresh_token gives a new pair and spends the refresh token given (rotation: a spent refresh token presented again revokes every token of its sign-in, 400 invalid_grant). Accepts JSON or application/x-www-form-urlencoded and HTTP Basic client authentication. The x-cl-id header is accepted and ignored. Errors use the OAuth2 form {error, error_description}. Rate-limited per source address, per client once it has authenticated (a stranger's wrong secrets do not use up a client's bucket), and per username for failed password grants: 429 slow_down with Retry-After and RateLimit-Limit/Remaining/Reset.",
		}},
		{handle: (*API).revokeToken, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/auth/revoke", ID: "revokeToken", Auth: openapi.AuthNone,
			Request: "RevokeRequest", Status: 200, Errors: []int{400, 401, 413, 429}, OAuth: true,
			Tag: "auth", Summary: "Revoke a token",
			Description: "Token revocation (RFC 7009). token is a refresh token (its whole sign-in is revoked: every access and refresh token descended from it), an access token (that token) or a personal token (deleted). Client credentials (body or HTTP Basic) are optional: holding a token is enough to revoke it, and an authenticated client revokes only its own clients' tokens. 200 with an empty body whether or not the token was valid (an invalid or expired token needs no revoking); every replica refuses a revoked token within a second. Refresh tokens also rotate: each refresh_token grant spends the one it is given, and a spent refresh token presented again revokes its whole sign-in (400 invalid_grant). Link, session and embed tokens: 400 unsupported_token_type. Rate-limited per source address.",
		}},

		// Users and their personal tokens.
		{handle: (*API).createUser, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/users", ID: "createUser", Auth: openapi.AuthClient,
			Request: "CreateUser", Status: 201, Response: "IDReply", Errors: []int{400, 401, 403, 409, 413, 422, 429},
			Tag: "users", Summary: "Create a user",
			Description: "With the client token (a user or personal token gets 403 client_token_required). The e-mail is unique per client, case-insensitively. Rate-limited per client (rateLimit.createUserPerClient): 429 rate_limited with Retry-After.",
		}},
		{handle: (*API).getMe, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/users/me", ID: "getMe", Auth: openapi.AuthUser,
			Status: 200, Response: "User", Errors: []int{401, 403, 404},
			Tag: "users", Summary: "The current user",
			Description: "User token only; a client token gets 403.",
		}},
		{handle: (*API).deleteUser, invalidates: access.CachedRoomRoles, Operation: openapi.Operation{
			Method: "DELETE", Path: "/v1/users/{userId}", ID: "deleteUser", Auth: openapi.AuthClient,
			Status: 200, Response: "IDReply", Errors: []int{400, 401, 403, 404},
			Tag: "users", Summary: "Delete a user",
			Description: "With the client token of the user's client (a user token gets 403 client_token_required). Removes the user with its space memberships, room roles and personal tokens (the spaces and rooms it owns stay) and revokes every token the user holds — access, refresh and embed tokens and the session credentials of its joins — on every replica within a second; in a fleet its participants are disconnected from every edge. Another client's user: 404.",
		}},
		{handle: (*API).createPersonalToken, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/users/me/tokens", ID: "createPersonalToken", Auth: openapi.AuthUser,
			Request: "CreatePersonalToken", Status: 201, Response: "PersonalToken", Errors: []int{400, 401, 403, 413, 422},
			Tag: "users", Summary: "Create a personal token",
			Description: "A long-lived user token (prefix scp_), usable as a Bearer token wherever a user token is. Shown once in this answer; only its hash is stored. At most 50 per user.",
		}},
		{handle: (*API).listPersonalTokens, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/users/me/tokens", ID: "listPersonalTokens", Auth: openapi.AuthUser,
			Status: 200, Response: "PersonalTokenList", Errors: []int{401, 403},
			Tag: "users", Summary: "List personal tokens",
			Description: "Without their values.",
		}},
		{handle: (*API).deletePersonalToken, Operation: openapi.Operation{
			Method: "DELETE", Path: "/v1/users/me/tokens/{tokenId}", ID: "deletePersonalToken", Auth: openapi.AuthUser,
			Status: 200, Response: "IDReply", Errors: []int{400, 401, 403, 404},
			Tag: "users", Summary: "Revoke a personal token",
			Description: "The token stops working at once.",
		}},

		// Spaces, their framing origins and invites.
		{handle: (*API).createSpace, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces", ID: "createSpace", Auth: openapi.AuthUser,
			Request: "Space", Status: 201, Response: "IDReply", Errors: []int{400, 401, 403, 413, 422},
			Tag: "spaces", Summary: "Create a space",
			Description: "User token; a client token gets 403. The caller becomes the owner." + spaceRoles,
		}},
		{handle: (*API).listSpaces, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces", ID: "listSpaces", Auth: openapi.AuthUser,
			Status: 200, Response: "SpaceList", Errors: []int{400, 401, 403}, Paged: true,
			Tag: "spaces", Summary: "List my spaces",
			Description: "The spaces the user owns or belongs to, newest first. Query: offset, limit (default 50, max 500).",
		}},
		{handle: (*API).getRoomByAlias, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/room-by-alias/{alias}", ID: "getRoomByAlias", Auth: openapi.AuthAny,
			Status: 200, Response: "RoomView", Errors: []int{400, 401, 403, 404},
			Tag: "rooms", Summary: "Find a room by alias",
			Description: "A client token may read a public room of its client (a private one: 403). A user token follows the room visibility rules. A room of another client: 404.",
		}},
		{handle: (*API).getSpace, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}", ID: "getSpace", Auth: openapi.AuthUser,
			Status: 200, Response: "SpaceView", Errors: []int{400, 401, 403, 404},
			Tag: "spaces", Summary: "Get a space",
			Description: "Public spaces are open to every user of the client; a private one to its members (403 otherwise). Another client's space: 404.",
		}},
		{handle: (*API).updateSpace, Operation: openapi.Operation{
			Method: "PUT", Path: "/v1/spaces/{spaceId}", ID: "updateSpace", Auth: openapi.AuthUser,
			Request: "Space", Status: 200, Response: "SpaceView", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "spaces", Summary: "Update a space",
			Description: "Space owner or moderator. Fields left out keep their value. allowedOrigins (the sites that may frame the space's rooms) changes only by the owner: a moderator sending a different list gets 403 (field allowedOrigins); the same list is accepted.",
		}},
		{handle: (*API).deleteSpace, invalidates: access.CachedRooms | access.CachedRoomRoles, Operation: openapi.Operation{
			Method: "DELETE", Path: "/v1/spaces/{spaceId}", ID: "deleteSpace", Auth: openapi.AuthUser,
			Status: 200, Response: "IDReply", Errors: []int{400, 401, 403, 404},
			Tag: "spaces", Summary: "Delete a space",
			Description: "Space owner only; removes its rooms, invites, links and webhook.",
		}},
		{handle: (*API).getAllowedOrigins, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/allowed-origins", ID: "getAllowedOrigins", Auth: openapi.AuthUser,
			Status: 200, Response: "Origins", Errors: []int{400, 401, 403, 404},
			Tag: "spaces", Summary: "Origins allowed to frame the room page",
			Description: "Space owner or moderator. The room page of the space's rooms may be framed (CSP frame-ancestors) by these origins. Also shown as allowedOrigins of the space.",
		}},
		{handle: (*API).putAllowedOrigins, Operation: openapi.Operation{
			Method: "PUT", Path: "/v1/spaces/{spaceId}/allowed-origins", ID: "putAllowedOrigins", Auth: openapi.AuthUser,
			Request: "Origins", Status: 200, Response: "Origins", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "spaces", Summary: "Set the origins allowed to frame the room page",
			Description: "Space owner. Each origin is scheme://host[:port]; the host may start with *. for any subdomain. At most 50.",
		}},
		{handle: (*API).createInvite, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/invites", ID: "createInvite", Auth: openapi.AuthUser,
			Request: "CreateInvite", Status: 201, Response: "Invite", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "spaces", Summary: "Invite into a space",
			Description: "The owner invites moderators and users, a moderator invites users. Single use: activation by one user, once. ttl in seconds, default 7 days, at most 30 days.",
		}},
		{handle: (*API).activateInvite, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/invites/{inviteId}/activate", ID: "activateInvite", Auth: openapi.AuthUser,
			Status: 200, Response: "Invite", Errors: []int{400, 401, 403, 404, 410},
			Tag: "spaces", Summary: "Activate an invite",
			Description: "The signed-in user joins the space with the invite's role (never lowering a role held). A second activation: 410 invite_used; past expiry: 410 invite_expired.",
		}},

		// Rooms, room roles, guest links and embed tokens.
		{handle: (*API).createRoom, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms", ID: "createRoom", Auth: openapi.AuthUser,
			Request: "Room", Status: 201, Response: "CreateRoomReply", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "rooms", Summary: "Create a room",
			Description: "Space owner or moderator; the caller becomes role_room_owner. Flags left out default to a lesson where camera, microphone, screen (with audio), chat and hand raising are allowed. Answers a short random URL-safe alias.",
		}},
		{handle: (*API).listRooms, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms", ID: "listRooms", Auth: openapi.AuthUser,
			Status: 200, Response: "RoomList", Errors: []int{400, 401, 403, 404}, Paged: true,
			Tag: "rooms", Summary: "List rooms",
			Description: "The rooms of the space the caller may see (public rooms and those where the caller holds a role), newest first, ties by id, with the total of them all. Query: offset, limit (default 50, max 500).",
		}},
		{handle: (*API).getRoom, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms/{roomId}", ID: "getRoom", Auth: openapi.AuthUser,
			Status: 200, Response: "RoomView", Errors: []int{400, 401, 403, 404},
			Tag: "rooms", Summary: "Get a room",
			Description: "Room owner and members always; others when the room is public and its space open to them. A private room keeps even the space's owner out unless the room grants a role.",
		}},
		{handle: (*API).updateRoom, invalidates: access.CachedRooms, Operation: openapi.Operation{
			Method: "PUT", Path: "/v1/spaces/{spaceId}/rooms/{roomId}", ID: "updateRoom", Auth: openapi.AuthUser,
			Request: "Room", Status: 200, Response: "RoomView", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "rooms", Summary: "Update a room",
			Description: "Room owner or moderator. Fields left out keep their value.",
		}},
		{handle: (*API).deleteRoom, invalidates: access.CachedRooms | access.CachedRoomRoles, Operation: openapi.Operation{
			Method: "DELETE", Path: "/v1/spaces/{spaceId}/rooms/{roomId}", ID: "deleteRoom", Auth: openapi.AuthUser,
			Status: 200, Response: "IDReply", Errors: []int{400, 401, 403, 404},
			Tag: "rooms", Summary: "Delete a room",
			Description: "The room's owner or the space's owner.",
		}},
		{handle: (*API).setRoomRole, invalidates: access.CachedRoomRoles, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/roles", ID: "setRoomRole", Auth: openapi.AuthUser,
			Request: "RoleRequest", Status: 200, Response: "RoomRole", Errors: []int{400, 401, 403, 404, 409, 413, 422},
			Tag: "rooms", Summary: "Grant a room role",
			Description: "The room's owner grants role_room_user or role_room_moderator; a moderator grants role_room_user. The owner keeps role_room_owner (409).",
		}},
		{handle: (*API).listRoomRoles, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/roles", ID: "listRoomRoles", Auth: openapi.AuthUser,
			Status: 200, Response: "RoomRoleList", Errors: []int{400, 401, 403, 404}, Paged: true,
			Tag: "rooms", Summary: "List room roles",
			Description: "Room owner or moderator. Oldest first. Query: offset, limit (default 50, max 500).",
		}},
		{handle: (*API).generateAccess, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/generate-access", ID: "generateAccess", Auth: openapi.AuthUser,
			Request: "GenerateAccess", Status: 200, Response: "GenerateAccessReply", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "rooms", Summary: "Generate a guest link",
			Description: "Room owner or moderator. Answers url = <publicURL>/room/<alias>?participantName=<username>&accessToken=<token>. ttl in seconds: default 86400, at most 432000. Single-use unless isPermanent: the first join spends it, later joins get 410 access_link_used.",
		}},
		{handle: (*API).createEmbedToken, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/embed-token", ID: "createEmbedToken", Auth: openapi.AuthUser,
			Request: "EmbedRequest", Status: 200, Response: "EmbedReply", Errors: []int{400, 401, 403, 404, 413, 422}, OptionalBody: true,
			Tag: "rooms", Summary: "Make an embed token",
			Description: "For the room page in an integrator's iframe, instead of a refresh token in its URL. The caller (a user token: the integrator's backend holds it for its user) gets a short-lived single-use token that signs that user in to the room: url = <publicURL>/room/<alias>?embedToken=<token>. ttl in seconds: default 60, at most 600. The first join spends it (a second: 410 embed_token_used; past expiry: 410 embed_token_expired); the session it opens ends no later than the caller's token, and revoking the caller's sign-in or deleting the user revokes it. The caller must be able to see the room (403 otherwise).",
		}},

		// Moderation of live calls.
		{handle: (*API).listParticipants, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/participants", ID: "listParticipants", Auth: openapi.AuthUser,
			Status: 200, Response: "ParticipantList", Errors: []int{400, 401, 403, 404, 502},
			Tag: "moderation", Summary: "List the live participants",
			Description: "Whoever a join makes owner or moderator of the room (room owner and moderators; in a public room the space's owner and moderators). Asks every edge hosting the room (LiveKit RoomService); an empty list when no call is live. 502 edge_unavailable when an edge does not answer.",
		}},
		{handle: (*API).removeParticipant, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/participants/{identity}/remove", ID: "removeParticipant", Auth: openapi.AuthUser,
			Status: 200, Response: "RemoveReply", Errors: []int{400, 401, 403, 404, 502},
			Tag: "moderation", Summary: "Remove a participant",
			Description: "Room owner or moderator (as for listParticipants). Disconnects the participant (connected tells whether it was connected) and keeps it out: the edge refuses media tokens issued before the removal, and joins refuse a session or link credential issued before it, and a user token, for the session TTL (403 participant_removed). A credential issued after the removal (a new link) lets the participant back. identity is the join answer's identity, URL-escaped.",
		}},
		{handle: (*API).muteParticipant, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/participants/{identity}/mute", ID: "muteParticipant", Auth: openapi.AuthUser,
			Request: "MuteRequest", Status: 200, Response: "MuteReply", Errors: []int{400, 401, 403, 404, 413, 422, 502},
			Tag: "moderation", Summary: "Mute or unmute a participant's track",
			Description: "Room owner or moderator (as for listParticipants). {trackSid, muted} changes one track; {source, muted} every track of that source (camera, microphone, screen_share, screen_share_audio). Subscribers see the mute; the publisher is told. Answers the changed tracks; 404 when the participant is not connected (not_found) or publishes no such track (track_not_found).",
		}},

		// Recordings.
		{handle: (*API).startRecord, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/records/start", ID: "startRecord", Auth: openapi.AuthAny,
			Status: 200, Response: "Record", Errors: []int{400, 401, 403, 404, 409, 502},
			Tag: "records", Summary: "Start recording the call",
			Description: "The room's client token, or whoever a join makes owner or moderator of the room. The room must allow recording (403 recording_not_allowed) and a call must be live (409 no_call); 409 already_recording when it is recorded. One edge records the whole call (every participant's tracks, on whatever edge) to a file per track, composed into one MP4 (H.264 + AAC) when the call or the recording ends; everyone in the call sees that it is recorded. Answers the recording (state recording); webhook record_started.",
		}},
		{handle: (*API).stopRecord, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/records/stop", ID: "stopRecord", Auth: openapi.AuthAny,
			Request: "StopRecordRequest", OptionalBody: true, Status: 200, Response: "Record", Errors: []int{400, 401, 403, 404, 409, 413, 422, 502},
			Tag: "records", Summary: "Stop recording the call",
			Description: "As startRecord. Stops the recording recordId, or the one running when the body is left out (409 not_recording when none). The recording is then composed and stored (state processing, then finished with webhook record_finished, or failed with the reason and webhook record_failed, keeping what was written).",
		}},
		{handle: (*API).listRecords, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/records", ID: "listRecords", Auth: openapi.AuthAny, Paged: true,
			Query: []openapi.Param{{Name: "dateFrom", Type: openapi.ParamDate, Description: "Recordings started on or after this UTC day"},
				{Name: "dateTo", Type: openapi.ParamDate, Description: "Recordings started on or before this UTC day"}},
			Status: 200, Response: "RecordList", Errors: []int{400, 401, 403, 404, 422},
			Tag: "records", Summary: "List the room's recordings",
			Description: "As startRecord. Newest first. fileSize is the composed MP4's size in bytes (0 until it is stored); state is recording, processing, finished or failed (error says why).",
		}},
		{handle: (*API).downloadRecord, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/records/download/{recordId}", ID: "downloadRecord", Auth: openapi.AuthAny,
			Text: true, Status: 200, Errors: []int{400, 401, 403, 404, 409, 503},
			Tag: "records", Summary: "A download link of a recording",
			Description: "As startRecord. Answers, as plain text, a link to the composed MP4 that anyone may fetch without a token until it expires (storage.urlTTL, 24 h by default): a presigned URL of the S3 storage, or a signed URL of the control plane's own file route for the local storage. 409 record_not_ready while the recording runs or is processed, or when it failed before a file was composed.",
		}},

		// Waiting rooms.
		{handle: (*API).listWaiting, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/waiting", ID: "listWaiting", Auth: openapi.AuthAnyOrSession,
			Status: 200, Response: "WaitingList", Errors: []int{400, 401, 403, 404},
			Query: []openapi.Param{{Name: "after", Type: openapi.ParamText, Description: "The version of the list the caller has: the answer waits until the list differs"},
				{Name: "wait", Type: openapi.ParamInt, Max: 15, Description: "With after: how long to wait for a change, in seconds (default 15)"}},
			Tag: "waiting", Summary: "Who waits to be let in",
			Description: "The client token of the room's client, or whom a join makes owner or moderator (a user token, or the session.token of a moderator's join: the room page). The people waiting in the room's waiting room (the room's waitingRoomAudience), oldest first: name, since, guest (no user account). A person is listed while their page asks (within 25 s; a page that leaves for good goes at once, one that closes or reloads after 10 s). version names the list: with after=<version> the call waits (wait seconds, 15 at most) until the list differs, then answers it; without after it answers at once.",
		}},
		{handle: (*API).admitWaiting, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/waiting/{entryId}/admit", ID: "admitWaiting", Auth: openapi.AuthAnyOrSession,
			Status: 200, Response: "WaitingEntry", Errors: []int{400, 401, 403, 404, 409},
			Tag: "waiting", Summary: "Let one person in",
			Description: "As for listWaiting. The person's page gets its join answer (media token, edge) at its next poll, within a moment. Admitting an admitted entry again answers it; a refused one: 409 waiting_decided; an unknown entry, or one whose page is gone: 404.",
		}},
		{handle: (*API).refuseWaiting, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/waiting/{entryId}/refuse", ID: "refuseWaiting", Auth: openapi.AuthAnyOrSession,
			Request: "RefuseRequest", OptionalBody: true, Status: 200, Response: "WaitingEntry", Errors: []int{400, 401, 403, 404, 409, 413, 422},
			Tag: "waiting", Summary: "Keep one person out",
			Description: "As for listWaiting. The person's page is told (403 waiting_refused, with the reason if given) and cannot come back with the same link: a single-use link was spent when it entered the waiting room, and any join with the same link (a permanent one too) or by the same user is refused with 403 waiting_refused while the refusal is kept (until the link expires; a user's for 4 hours). Refusing a refused entry again answers it; an admitted one: 409 waiting_decided; an unknown or gone one: 404.",
		}},
		{handle: (*API).admitAllWaiting, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/waiting/admit-all", ID: "admitAllWaiting", Auth: openapi.AuthAnyOrSession,
			Status: 200, Response: "WaitingEntryList", Errors: []int{400, 401, 403, 404},
			Tag: "waiting", Summary: "Let everyone waiting in",
			Description: "As for listWaiting. Answers the entries admitted (none is not an error).",
		}},
		{handle: (*API).refuseAllWaiting, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/rooms/{roomId}/waiting/refuse-all", ID: "refuseAllWaiting", Auth: openapi.AuthAnyOrSession,
			Request: "RefuseRequest", OptionalBody: true, Status: 200, Response: "WaitingEntryList", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "waiting", Summary: "Keep everyone waiting out",
			Description: "As for refuseWaiting, for every entry waiting. Answers the entries refused.",
		}},

		// The space's webhook.
		{handle: (*API).createWebhook, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/webhook", ID: "createWebhook", Auth: openapi.AuthUser,
			Request: "WebhookRequest", Status: 201, Response: "Webhook", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "webhooks", Summary: "Create or replace the space's webhook",
			Description: "Space owner. Creates the webhook with a new HMAC secret (201), or, when the space has one, replaces its url (and isActive) keeping the secret (200). The answer carries the secret.",
		}},
		{handle: (*API).updateWebhook, Operation: openapi.Operation{
			Method: "PUT", Path: "/v1/spaces/{spaceId}/webhook", ID: "updateWebhook", Auth: openapi.AuthUser,
			Request: "WebhookRequest", Status: 200, Response: "Webhook", Errors: []int{400, 401, 403, 404, 413, 422},
			Tag: "webhooks", Summary: "Update the space's webhook",
			Description: "Space owner. {url?, isActive?}.",
		}},
		{handle: (*API).getWebhook, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/webhook", ID: "getWebhook", Auth: openapi.AuthUser,
			Status: 200, Response: "Webhook", Errors: []int{400, 401, 403, 404},
			Tag: "webhooks", Summary: "Get the space's webhook",
			Description: "Space owner.",
		}},
		{handle: (*API).deleteWebhook, Operation: openapi.Operation{
			Method: "DELETE", Path: "/v1/spaces/{spaceId}/webhook", ID: "deleteWebhook", Auth: openapi.AuthUser,
			Status: 200, Response: "IDReply", Errors: []int{400, 401, 403, 404},
			Tag: "webhooks", Summary: "Delete the space's webhook",
			Description: "Space owner.",
		}},
		{handle: (*API).refreshWebhookSecret, Operation: openapi.Operation{
			Method: "PUT", Path: "/v1/spaces/{spaceId}/webhook/refresh-secret", ID: "refreshWebhookSecret", Auth: openapi.AuthUser,
			Status: 200, Response: "Webhook", Errors: []int{400, 401, 403, 404},
			Tag: "webhooks", Summary: "Draw a new webhook secret",
			Description: "Space owner.",
		}},

		{handle: (*API).listWebhookDeliveries, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/webhook/deliveries", ID: "listWebhookDeliveries", Auth: openapi.AuthUser,
			Status: 200, Response: "WebhookDeliveryList", Errors: []int{400, 401, 403, 404}, Paged: true,
			Tag: "webhooks", Summary: "The webhook delivery log",
			Description: "Space owner. The space's deliveries, newest first: each event's status (pending, delivered, failed), attempts, the last attempt's HTTP status and error, and when it is tried next. Deliveries stay in the log for webhooks.keep (7 days) once finished. Query: offset, limit (default 50, max 500).",
		}},
		{handle: (*API).redeliverWebhook, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/spaces/{spaceId}/webhook/deliveries/{deliveryId}/redeliver", ID: "redeliverWebhook", Auth: openapi.AuthUser,
			Status: 201, Response: "WebhookDelivery", Errors: []int{400, 401, 403, 404, 409},
			Tag: "webhooks", Summary: "Deliver an event again",
			Description: "Space owner. Queues the delivery's event again as a new delivery (answered, with redeliveryOf); the event keeps its id (X-Spacecast-Event-Id), so a receiver that already has it drops it. 409 webhook_inactive when the space has no active webhook.",
		}},

		// Call analytics.
		{handle: (*API).listCalls, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/analytics/calls", ID: "listCalls", Auth: openapi.AuthUser,
			Status: 200, Response: "CallList", Errors: []int{400, 401, 403, 404}, Paged: true,
			Query: []openapi.Param{{Name: "roomId", Description: "Only this room's calls"},
				{Name: "date", Description: "Only calls started this UTC day", Type: openapi.ParamDate}},
			Tag: "analytics", Summary: "Call history",
			Description: "Space owner or moderator. The space's calls as the edges reported them, newest first: a call runs from a room's first participant until it has been empty on every edge for the finish grace (finishedAt is when it emptied). participantsCount: in the call now (0 once finished); maxParticipantsCount: most at once; totalParticipantsCount: stays (a reconnect counts again); uniqueParticipantsCount: distinct identities. Query: roomId (one room's calls), date (YYYY-MM-DD, calls started that UTC day), offset, limit.",
		}},
		{handle: (*API).callReport, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/spaces/{spaceId}/analytics/report", ID: "callReport", Auth: openapi.AuthUser,
			Status: 200, Response: "CallReport", Errors: []int{400, 401, 403, 404, 422}, CSV: true,
			Query: []openapi.Param{{Name: "callId", Description: "The call", Required: true},
				{Name: "roomId", Description: "Its room (checked when given)"},
				{Name: "format", Type: openapi.ParamEnum, Enum: []string{"json", "csv"}, Default: "json"}},
			Tag: "analytics", Summary: "One call's participants",
			Description: "Space owner or moderator. The call (callId, required; roomId, if given, must be its room) with each participant's stay: identity, name, joinedAt, leftAt (null while present), durationSeconds. format=json (the default) or csv (text/csv with a header row: callId, roomId, identity, name, joinedAt, leftAt, durationSeconds; the stand-in for the reference's xlsx).",
		}},

		// Joining a call.
		{handle: (*API).joinRoom, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/rooms/{alias}/join", ID: "joinRoom", Auth: openapi.AuthOptionalUser,
			Request: "JoinRequest", Status: 200, Response: "JoinAnswer", Accepted: "WaitingAnswer", Errors: []int{400, 401, 403, 404, 410, 413, 422, 429, 503}, OptionalBody: true,
			Tag: "join", Summary: "Join a room",
			Description: "What the room page calls. The credential, in order of precedence: sessionToken (an earlier join's session), accessToken (a generate-access link, spent atomically: of concurrent joins with one single-use link exactly one succeeds, the others get 410 access_link_used), embedToken (single-use likewise: 410 embed_token_used), the Authorization user token, or nothing for a public room in a public space (a private space is open to its members only: 401). Roles: owner and moderators (room roles; a link with role moderator; the space's owner and moderators in a public room) get roomAdmin and may publish everything; participants publish what the room's flags allow; in a webinar participants become viewers and cannot publish. The answer names the edge (edge.url, a LiveKit signalling URL), a LiveKit media token (room = the room's id, short TTL), ICE servers with TURN REST credentials and a session credential for reconnects. The session never outlives what admitted the participant (the link's expiry, the user token's) and a rejoin with it answers a session that ends no later than the one presented; a rejoin derives the role again from what holds then (the user's current room role and the room's visibility, the link's role; a guest's session is refused once the room or its space is private). 503 with Retry-After when no edge can take the call. The media token carries the room's maxParticipants in its roomConfig (LiveKit's room settings), which the edge enforces. Rate-limited per source address (rateLimit.joinPerAddress), and joins without any credential (guests) more tightly (rateLimit.guestJoinPerAddress): 429 rate_limited with Retry-After. Waiting room: when the room's waitingRoomAudience makes the participant wait (guests: whoever joins without a user account, by a link or as an anonymous guest; everyone: all but owners and moderators; never on a reconnect with sessionToken), the answer is 202 with status waiting, an entry id and a ticket, and no media token: a single-use link or embed token is spent then, and the ticket is what it bought. Poll POST /v1/rooms/{alias}/wait with the ticket. A link or user a moderator refused is refused again: 403 waiting_refused.",
		}},
		{handle: (*API).waitRoom, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/rooms/{alias}/wait", ID: "waitRoom", Auth: openapi.AuthNone,
			Request: "WaitRequest", Status: 200, Response: "JoinAnswer", Accepted: "WaitingAnswer", Errors: []int{400, 403, 404, 410, 413, 422, 503},
			Tag: "join", Summary: "Wait to be let in",
			Description: "The poll of a participant in a waiting room; the ticket of the 202 join answer is its credential. Held while nothing changes (wait seconds, 15 at most and by default), then 202 with the same waiting answer; poll again at once: a place is kept while its page asks (each poll keeps it 25 s). Once a moderator admits the participant: 200 with the join answer (status joined: media token, edge, session), and the ticket buys it again for 10 minutes if the answer is lost. Refused: 403 waiting_refused (the message carries the moderator's reason). A place that was left, timed out or never was: 410 waiting_gone. A room whose waitingRoomAudience no longer makes the participant wait lets it in.",
		}},
		{handle: (*API).leaveWaiting, Operation: openapi.Operation{
			Method: "POST", Path: "/v1/rooms/{alias}/wait/leave", ID: "leaveWaiting", Auth: openapi.AuthNone,
			Request: "LeaveWaitingRequest", Status: 200, Errors: []int{400, 413, 422},
			Tag: "join", Summary: "Leave a waiting room",
			Description: "The participant gives up its place at once; with reconnect true (a page that closes or reloads: navigator.sendBeacon on pagehide) the place is kept 10 s for the page to come back with its ticket. A decided entry stays as it is (a refusal is not undone). 200 whether or not the ticket held a place.",
		}},
		{handle: (*API).listRegions, Operation: openapi.Operation{
			Method: "GET", Path: "/v1/regions", ID: "listRegions", Auth: openapi.AuthNone,
			Status: 200, Response: "RegionList",
			Tag: "join", Summary: "List regions to probe",
			Description: "The regions that have an edge taking participants, each with its edges' probe URLs (GET answers 204 at once, never cached). A client may fetch one probe URL per region, measure the round trip, and pass the results as rtts (region → ms) to the join: placement then picks the nearest region. Public; may be cached for 5 seconds.",
		}},
	}
}
