package openapi

// The operations of a control plane with several replicas on one store:
// user deletion, the webhook delivery log, call analytics. Kept apart from
// spec.go; Operations, schemas, the tag list and operation take them in
// through haOperations, haSchemas, haTags and amend.

func haOperations() []Operation {
	return []Operation{
		{"DELETE", "/v1/users/{userId}", "deleteUser", "users", "Delete a user",
			"With the client token of the user's client (a user token gets 403 client_token_required). Removes the user with its space memberships, room roles and personal tokens (the spaces and rooms it owns stay) and revokes every token the user holds — access, refresh and embed tokens and the session credentials of its joins — on every replica within a second; in a fleet its participants are disconnected from every edge. Another client's user: 404.",
			"client", "", 200, "IDReply", []int{400, 401, 403, 404}},
	}
}

func haSchemas() obj { return obj{} }

func haTags() []obj { return nil }

// amend adds to an operation what the table of Operation cannot say
// (query parameters, other content types).
func amend(op Operation, o obj) {}
