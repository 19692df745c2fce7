// Package api serves the /v1 REST surface on fasthttp: routing, request
// decoding and validation, the access rules, and the one function
// (classify) that maps domain errors to an HTTP status and a machine code.
//
// Tokens: a client token (aud client) may create users (it alone) and read
// public rooms by alias; a user token (aud user, or a personal token scp_...) does
// everything a user may. Every store call is scoped by the caller's client,
// so another client's entity answers 404 exactly like a missing one.
//
// Access matrix (space roles: owner, moderator, user; room roles: owner,
// moderator, user):
//
//	method                                   client token   user token
//	POST /v1/users                           yes            403
//	GET users/me, personal tokens            403            yes
//	spaces: create, list                     403            yes
//	space: get, list rooms                   403            public space, or member
//	space: update                            403            space owner, moderator
//	space: delete, allowed-origins PUT,      403            space owner
//	  webhook (all methods)
//	allowed-origins GET                      403            space owner, moderator
//	invites: create                          403            owner (any role), moderator (role_space_user)
//	invite: activate                         403            any user holding the id (single use)
//	rooms: create                            403            space owner, moderator
//	room: get                                403            room owner/member; public room in a visible space
//	room-by-alias                            public room    as room: get
//	room: update, roles, generate-access     403            room owner, moderator (a moderator grants role_room_user only)
//	room: embed-token                        403            whoever may see the room (a token for themselves)
//	room: delete                             403            room owner, space owner
//	join                                     403            room role; in a public room also space
//	                                                        owner/moderator (moderator) and others (participant)
//	participants: list, mute, remove         403            whoever a join makes owner or moderator
//
// Moderation calls the LiveKit RoomService (Twirp) of every edge a
// RoomLocator names for the room, with a one-minute roomAdmin token for
// that room signed by the cluster's API key. A removal is also recorded in
// Options.Revocations for the session TTL (gossiped to every replica and
// edge in a fleet, kept on this replica otherwise): joins refuse the removed
// identity a credential issued before the removal (session, link) or a user
// token, and edges refuse the media tokens it held.
//
// Tokens: refresh tokens rotate (a spent one presented again revokes its
// whole family); POST /v1/auth/revoke revokes a token (RFC 7009); every
// JWT is checked against the shared revocations (auth.Denylist). Sessions
// never outlive what admitted them and a rejoin derives the role again;
// embed tokens sign a user in to the room page once.
//
// A private room admits only its owner and members, even against the
// space's owner; a public room in a private space admits no anonymous
// guest. Joins also accept a generate-access token, a session
// credential, or nothing for a public room.
//
// Decoding: bodies are JSON objects; unknown fields are ignored (an
// integrator's code may send extras); a wrong type is 400 invalid_type, a
// missing or unacceptable value 422, both naming the field. Creates answer
// 201; updates 200 with the entity; deletes 200 with {"id"}.
package api
