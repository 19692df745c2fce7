// Package api serves the /v1 REST surface on fasthttp. It decodes and
// validates requests, calls the service that holds the rules, and maps
// the service's error to an HTTP status and a machine code in one
// function, classify.
//
// One route table (routeTable, in routes.go) drives everything: each route
// declares its method and path, its OpenAPI operation (id, who may call,
// request and answer schemas, documentation), its handler and what of the
// read cache its writes make stale. The router matches and authenticates
// by it (Operation.Auth: a client token, a user or personal token, either,
// or none), Handle forgets what the route invalidates, and Operations
// hands the same table to openapi.Document.
//
// The rules live in the services: access (who the caller is, the access
// matrix of spaces and rooms, the read cache), space (managing spaces,
// rooms, roles, invites, guest links, embed tokens, webhook settings and
// the delivery log), join (the join and rejoin of a room), moderation
// (live participants on the edges) and analytics (call history). The
// token endpoints (POST /v1/auth/token, /v1/auth/revoke), users (with
// their deletion) and personal tokens are served here over the store.
//
// Tokens: a client token (aud client) may create users (it alone) and read
// public rooms by alias; a user token (aud user, or a personal token scp_...)
// does everything a user may. Every store call is scoped by the caller's
// client, so another client's entity answers 404 exactly like a missing one.
// Refresh tokens rotate (a spent one presented again revokes its whole
// family); POST /v1/auth/revoke revokes a token (RFC 7009); every JWT is
// checked against the shared revocations (auth.Denylist).
//
// Decoding: bodies are JSON objects; unknown fields are ignored (an
// integrator's code may send extras); a wrong type is 400 invalid_type, a
// missing or unacceptable value 422, both naming the field. Creates answer
// 201; updates 200 with the entity; deletes 200 with {"id"}. A handler
// asks access for the capability its operation needs before it reads the
// body, so a caller without the right role learns nothing from a
// validation error.
package api
