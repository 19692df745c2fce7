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
		{"GET", "/v1/spaces/{spaceId}/webhook/deliveries", "listWebhookDeliveries", "webhooks", "The webhook delivery log",
			"Space owner. The space's deliveries, newest first: each event's status (pending, delivered, failed), attempts, the last attempt's HTTP status and error, and when it is tried next. Deliveries stay in the log for webhooks.keep (7 days) once finished. Query: offset, limit (default 50, max 500).",
			"user", "", 200, "WebhookDeliveryList", []int{400, 401, 403, 404}},
		{"POST", "/v1/spaces/{spaceId}/webhook/deliveries/{deliveryId}/redeliver", "redeliverWebhook", "webhooks", "Deliver an event again",
			"Space owner. Queues the delivery's event again as a new delivery (answered, with redeliveryOf); the event keeps its id (X-Spacecast-Event-Id), so a receiver that already has it drops it. 409 webhook_inactive when the space has no active webhook.",
			"user", "", 201, "WebhookDelivery", []int{400, 401, 403, 404, 409}},
		{"GET", "/v1/spaces/{spaceId}/analytics/calls", "listCalls", "analytics", "Call history",
			"Space owner or moderator. The space's calls as the edges reported them, newest first: a call runs from a room's first participant until it has been empty on every edge for the finish grace (finishedAt is when it emptied). participantsCount: in the call now (0 once finished); maxParticipantsCount: most at once; totalParticipantsCount: stays (a reconnect counts again); uniqueParticipantsCount: distinct identities. Query: roomId (one room's calls), date (YYYY-MM-DD, calls started that UTC day), offset, limit.",
			"user", "", 200, "CallList", []int{400, 401, 403, 404}},
		{"GET", "/v1/spaces/{spaceId}/analytics/report", "callReport", "analytics", "One call's participants",
			"Space owner or moderator. The call (callId, required; roomId, if given, must be its room) with each participant's stay: identity, name, joinedAt, leftAt (null while present), durationSeconds. format=json (the default) or csv (text/csv with a header row: callId, roomId, identity, name, joinedAt, leftAt, durationSeconds; the stand-in for the reference's xlsx).",
			"user", "", 200, "CallReport", []int{400, 401, 403, 404, 422}},
	}
}

func haSchemas() obj {
	deliveryProps := obj{
		"id":             str("The delivery's id (X-Spacecast-Delivery)"),
		"eventId":        str("The event's id (X-Spacecast-Event-Id): the same on every attempt and redelivery"),
		"eventName":      enum("call_started", "call_finished", "record_started", "record_finished", "record_failed"),
		"roomId":         str(""),
		"callId":         str("The call, for call events"),
		"recordId":       str("The recording, for record events"),
		"occurredAt":     date(),
		"status":         enum("pending", "delivered", "failed"),
		"attempts":       obj{"type": "integer", "description": "Attempts started"},
		"lastStatusCode": obj{"type": "integer", "description": "HTTP status of the last attempt (absent: none, or no answer)"},
		"lastError":      str("Why the last attempt failed"),
		"lastAttemptAt":  obj{"type": []string{"string", "null"}, "format": "date-time"},
		"nextAttemptAt":  obj{"type": []string{"string", "null"}, "format": "date-time", "description": "When a pending delivery is tried next"},
		"deliveredAt":    obj{"type": []string{"string", "null"}, "format": "date-time"},
		"createdAt":      date(),
		"redeliveryOf":   str("The delivery this one repeats"),
	}
	callProps := obj{
		"id":                      str("The call's id"),
		"active":                  boolean("The call is on"),
		"roomId":                  str(""),
		"roomType":                enum("lesson", "webinar"),
		"participantsCount":       obj{"type": "integer", "description": "In the call now (0 once finished)"},
		"maxParticipantsCount":    obj{"type": "integer", "description": "Most at once"},
		"totalParticipantsCount":  obj{"type": "integer", "description": "Stays: a participant who reconnects counts again"},
		"uniqueParticipantsCount": obj{"type": "integer", "description": "Distinct identities"},
		"startedAt":               date(),
		"finishedAt":              obj{"type": []string{"string", "null"}, "format": "date-time", "description": "When the room emptied; null while on"},
	}
	callRequired := []string{"id", "active", "roomId", "participantsCount", "roomType", "totalParticipantsCount", "uniqueParticipantsCount", "startedAt", "finishedAt"}
	reportProps := obj{}
	for k, v := range callProps {
		reportProps[k] = v
	}
	reportProps["participants"] = array(object(obj{
		"identity":        str("The participant's identity (u_<userId>, l_<linkId>, x_<externalUserId>, g_<random>)"),
		"name":            str("Display name"),
		"joinedAt":        date(),
		"leftAt":          obj{"type": []string{"string", "null"}, "format": "date-time", "description": "null while present"},
		"durationSeconds": obj{"type": "integer"},
	}, "identity", "name", "joinedAt", "leftAt", "durationSeconds"))
	return obj{
		"WebhookDelivery":     object(deliveryProps, "id", "eventId", "eventName", "roomId", "occurredAt", "status", "attempts", "createdAt"),
		"WebhookDeliveryList": listOf("WebhookDelivery"),
		"Call":                object(callProps, callRequired...),
		"CallList":            listOf("Call"),
		"CallReport":          object(reportProps, append(callRequired, "participants")...),
	}
}

func haTags() []obj {
	return []obj{{"name": "analytics", "description": "Call history and per-call reports"}}
}

// amend adds to an operation what the table of Operation cannot say
// (query parameters, other content types).
func amend(op Operation, o obj) {
	page := []obj{
		{"name": "offset", "in": "query", "schema": obj{"type": "integer", "minimum": 0}},
		{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 0, "maximum": 500}},
	}
	id := func(name, desc string, required bool) obj {
		return obj{"name": name, "in": "query", "required": required, "description": desc, "schema": obj{"type": "string", "pattern": "^[0-9a-f]{24}$"}}
	}
	var extra []obj
	switch op.ID {
	case "listWebhookDeliveries", "listRoomRoles":
		extra = page
	case "listCalls":
		extra = append([]obj{id("roomId", "Only this room's calls", false),
			{"name": "date", "in": "query", "description": "Only calls started this UTC day", "schema": obj{"type": "string", "format": "date"}}}, page...)
	case "callReport":
		extra = []obj{id("callId", "The call", true), id("roomId", "Its room (checked when given)", false),
			{"name": "format", "in": "query", "schema": obj{"type": "string", "enum": []string{"json", "csv"}, "default": "json"}}}
		resp := o["responses"].(obj)["200"].(obj)
		resp["content"].(obj)["text/csv"] = obj{"schema": obj{"type": "string"}}
	}
	if extra == nil {
		return
	}
	params, _ := o["parameters"].([]obj)
	o["parameters"] = append(params, extra...)
}
