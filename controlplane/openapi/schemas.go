package openapi

func str(desc string) obj     { return obj{"type": "string", "description": desc} }
func strMax(n int) obj        { return obj{"type": "string", "maxLength": n} }
func boolean(desc string) obj { return obj{"type": "boolean", "description": desc} }
func date() obj               { return obj{"type": "string", "format": "date-time"} }
func enum(vals ...string) obj { return obj{"type": "string", "enum": vals} }
func array(items any) obj     { return obj{"type": "array", "items": items} }
func object(props obj, required ...string) obj {
	o := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}
func listOf(name string) obj {
	return object(obj{"items": array(ref(name)), "total": obj{"type": "integer"}}, "items", "total")
}

var roomFlags = []string{"isChatAllowed", "isScreensharingAllowed", "isCameraPublishingAllowed", "isMicrophonePublishingAllowed",
	"isScreenMediaPublishingAllowed", "isRecordAllowed", "isAutoRecordingAllowed", "isHandRaisingAllowed", "isSelfRenamingAllowed"}

func roomProps() obj {
	p := obj{
		"name":                strMax(200),
		"isPublic":            boolean("Public rooms admit every user who may see the space, and guests without credentials"),
		"type":                obj{"type": "string", "enum": []string{"lesson", "webinar"}, "description": "lesson: everyone may broadcast (within the flags); webinar: only owner and moderators broadcast"},
		"maxParticipants":     obj{"type": "integer", "minimum": 0, "maximum": 10000, "description": "0: the deployment default"},
		"waitingRoomAudience": enum("nobody", "guests", "everyone"),
		"redirectUrl":         obj{"type": "string", "format": "uri", "maxLength": 2048, "description": "Where the page goes when the call ends"},
	}
	for _, f := range roomFlags {
		p[f] = obj{"type": "boolean"}
	}
	return p
}

func schemas() obj {
	room := roomProps()
	extra := obj{"id": str("Room id"), "alias": str("Short random URL-safe alias"), "channelId": str(""), "spaceId": str(""),
		"ownerId": str(""), "role": str("The caller's room role, if any"), "createdAt": date(), "updatedAt": date()}
	for k, v := range extra {
		room[k] = v
	}
	roomRequest := object(roomProps(), "name")
	roomRequest["description"] = "Create requires name; update applies only the fields present."
	out := obj{
		"Error": object(obj{"code": str("Machine code"), "message": str("Human text"), "field": str("The offending request field")}, "code", "message"),
		"OAuthError": object(obj{"error": enum("invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type", "unsupported_token_type", "slow_down"),
			"error_description": str("")}, "error"),
		"TokenRequest": object(obj{
			"grant_type":    enum("client_credentials", "password", "refresh_token"),
			"client_id":     str("Required for client_credentials and password (unless a client token is in Authorization)"),
			"client_secret": str(""),
			"username":      str("The user's e-mail (password grant)"),
			"password":      str("password grant"),
			"refresh_token": str("refresh_token grant: spent by the grant (the answer carries its successor); a spent one presented again revokes every token of its sign-in"),
		}, "grant_type"),
		"RevokeRequest": object(obj{
			"token":           str("The token to revoke: refresh, access or personal"),
			"token_type_hint": enum("refresh_token", "access_token"),
			"client_id":       str("Optional client authentication"),
			"client_secret":   str(""),
		}, "token"),
		"TokenReply": object(obj{"token_type": enum("Bearer"), "access_token": str("JWT (HS256, kid header); claims sub, aud client|user, type, cId, jti, iat, exp"),
			"refresh_token": str("JWT"), "expires_in": obj{"type": "integer", "description": "Access token lifetime in seconds"}},
			"token_type", "access_token", "refresh_token"),
		"IDReply": object(obj{"id": str("")}, "id"),
		"CreateUser": object(obj{"email": obj{"type": "string", "format": "email", "maxLength": 254}, "password": obj{"type": "string", "minLength": 8, "maxLength": 256},
			"username": strMax(100), "phone": strMax(32)}, "email", "password", "username"),
		"User":                object(obj{"id": str(""), "email": str(""), "username": str(""), "phone": str(""), "createdAt": date()}, "id", "email", "username"),
		"CreatePersonalToken": object(obj{"name": strMax(100), "expiresIn": obj{"type": "integer", "minimum": 0, "description": "Seconds; 0 or absent: no expiry"}}, "name"),
		"PersonalToken": object(obj{"id": str(""), "name": str(""), "token": str("scp_...: only in the create answer"),
			"createdAt": date(), "expiresAt": obj{"type": []string{"string", "null"}, "format": "date-time"}}, "id", "name", "createdAt"),
		"PersonalTokenList": listOf("PersonalToken"),
		"Space": object(obj{"name": strMax(200), "isPublic": boolean("Open to every user of the client"), "description": strMax(2000),
			"logo": obj{"type": "string", "format": "uri"}, "allowedOrigins": array(str("Origin allowed to frame the room page"))}, "name"),
		"SpaceView": object(obj{"id": str(""), "name": str(""), "description": str(""), "logo": str(""), "isPublic": boolean(""), "ownerId": str(""),
			"allowedOrigins": array(obj{"type": "string"}), "role": enum("role_space_owner", "role_space_moderator", "role_space_user"),
			"createdAt": date(), "updatedAt": date()}, "id", "name", "isPublic"),
		"SpaceList":       listOf("SpaceView"),
		"Origins":         object(obj{"origins": array(obj{"type": "string", "examples": []string{"https://example.com", "https://*.example.com"}})}, "origins"),
		"CreateInvite":    object(obj{"role": enum("role_space_moderator", "role_space_user"), "ttl": obj{"type": "integer", "minimum": 60, "maximum": 2592000}}, "role"),
		"Invite":          object(obj{"id": str(""), "spaceId": str(""), "role": str(""), "expiresAt": date()}, "id", "spaceId", "role"),
		"Room":            roomRequest,
		"RoomView":        object(room, "id", "alias", "name", "type"),
		"RoomList":        listOf("RoomView"),
		"CreateRoomReply": object(obj{"id": str(""), "alias": str(""), "channelId": str("")}, "id", "alias", "channelId"),
		"RoleRequest":     object(obj{"targetUserId": str(""), "role": enum("role_room_user", "role_room_moderator")}, "targetUserId", "role"),
		"RoomRole":        object(obj{"roomId": str(""), "userId": str(""), "role": enum("role_room_owner", "role_room_moderator", "role_room_user")}, "roomId", "userId", "role"),
		"RoomRoleList":    listOf("RoomRole"),
		"GenerateAccess": object(obj{"username": strMax(100), "role": enum("user", "moderator"), "externalUserId": strMax(200),
			"externalMeetingId": strMax(200), "ttl": obj{"type": "integer", "minimum": 1, "maximum": 432000, "default": 86400},
			"isPermanent": boolean("Reusable until expiry; otherwise single-use"), "email": obj{"type": "string", "format": "email"}, "phone": strMax(32)},
			"username", "role"),
		"GenerateAccessReply": object(obj{"url": str("<publicURL>/room/<alias>?participantName=<username>&accessToken=<token>"),
			"accessToken": str("The link's token (a JWT)"), "expiresAt": date()}, "url"),
		"EmbedRequest": object(obj{"ttl": obj{"type": "integer", "minimum": 1, "maximum": 600, "default": 60, "description": "Lifetime in seconds"}}),
		"EmbedReply": object(obj{"url": str("<publicURL>/room/<alias>?embedToken=<token>: the iframe's src"),
			"embedToken": str("Single-use, short-lived (a JWT)"), "expiresAt": date()}, "url", "embedToken", "expiresAt"),
		"WebhookRequest": object(obj{"url": obj{"type": "string", "format": "uri"}, "isActive": boolean("")}),
		"Webhook": object(obj{"url": str(""), "secret": str("HMAC-SHA256 key of deliveries"), "isActive": boolean(""),
			"createdAt": date(), "updatedAt": date()}, "url", "secret", "isActive"),
		"Track": object(obj{"sid": str(""), "name": str(""), "kind": enum("audio", "video", "data"),
			"source": enum("camera", "microphone", "screen_share", "screen_share_audio", "unknown"), "muted": boolean("")},
			"sid", "kind", "source", "muted"),
		"Participant": object(obj{"identity": str("As in the join answer"), "sid": str("The edge's participant id"), "name": str(""),
			"state": enum("joining", "joined", "active", "disconnected"), "joinedAt": date(), "isPublisher": boolean(""),
			"nodeId": str("The edge hosting the participant"), "tracks": array(ref("Track"))}, "identity", "sid", "state", "tracks"),
		"ParticipantList": listOf("Participant"),
		"MuteRequest": object(obj{"trackSid": strMax(64), "muted": boolean("true mutes, false unmutes"),
			"source": enum("camera", "microphone", "screen_share", "screen_share_audio")}, "muted"),
		"MuteReply":   object(obj{"tracks": array(ref("Track"))}, "tracks"),
		"RemoveReply": object(obj{"identity": str(""), "connected": boolean("Whether an edge had the participant connected")}, "identity", "connected"),
		"JoinRequest": object(obj{
			"accessToken":     str("A generate-access token"),
			"sessionToken":    str("The session.token of an earlier join (reconnect)"),
			"embedToken":      str("A single-use embed token (POST .../embed-token): joins as the user it was made for"),
			"participantName": strMax(100),
			"regionHint":      strMax(64),
			"rtts":            obj{"type": "object", "additionalProperties": obj{"type": "integer", "minimum": 0, "maximum": 60000}, "description": "region → measured RTT in ms"},
		}),
		"Grants": object(obj{"canPublish": boolean(""), "canPublishSources": array(enum("camera", "microphone", "screen_share", "screen_share_audio")),
			"canSubscribe": boolean(""), "canPublishData": boolean(""), "canUpdateOwnMetadata": boolean(""), "canRename": boolean("the participant may change its own name (isSelfRenamingAllowed; moderators always)"), "roomAdmin": boolean(""), "hidden": boolean(""),
			"canRecord": boolean("the participant may start and stop the room's recording (owners and moderators of a room with isRecordAllowed)")},
			"canPublish", "canPublishSources", "canSubscribe", "canPublishData", "canUpdateOwnMetadata", "canRename", "roomAdmin", "hidden", "canRecord"),
		"RegionList": object(obj{"regions": array(object(obj{
			"name":      str("Region name, as rtts and regionHint name it"),
			"probeUrls": array(obj{"type": "string", "description": "GET → 204; measure the round trip"}),
		}, "name", "probeUrls"))}, "regions"),
		"JoinAnswer": object(obj{
			"status":              enum("joined"),
			"identity":            str("Unique in the room: u_<userId>, l_<linkId>, x_<externalUserId>, g_<random>"),
			"name":                str("Display name"),
			"role":                enum("owner", "moderator", "participant", "viewer"),
			"grants":              ref("Grants"),
			"room":                ref("RoomView"),
			"session":             object(obj{"token": str("Accepted by a later join as sessionToken"), "expiresAt": date()}, "token", "expiresAt"),
			"edge":                object(obj{"url": str("LiveKit signalling base URL (ws:// or wss://)"), "region": str(""), "nodeId": str("")}, "url", "region", "nodeId"),
			"mediaToken":          str("LiveKit access token (HS256, signed with the cluster's API key); video grant room = the room's id"),
			"mediaTokenExpiresAt": date(),
			"iceServers":          array(object(obj{"urls": array(obj{"type": "string"}), "username": str("TURN REST username <expiry>:<identity>"), "credential": str("")}, "urls")),
		}, "status", "identity", "name", "role", "grants", "room", "session", "edge", "mediaToken", "iceServers"),
	}
	for k, v := range waitingSchemas() {
		out[k] = v
	}
	for k, v := range outboxSchemas() {
		out[k] = v
	}
	return out
}

// waitingSchemas are the schemas of the waiting rooms.
func waitingSchemas() obj {
	entry := object(obj{
		"id":        str("The entry's id"),
		"name":      str("Display name"),
		"identity":  str("The identity it joins with once admitted"),
		"guest":     boolean("Without a user account (a link's or an anonymous guest)"),
		"role":      enum("participant", "viewer"),
		"state":     enum("waiting", "admitted", "refused"),
		"reason":    str("A refusal's reason"),
		"since":     date(),
		"decidedAt": date(),
	}, "id", "name", "identity", "guest", "role", "state", "since")
	return obj{
		"WaitingAnswer": object(obj{
			"status":      enum("waiting"),
			"id":          str("The entry moderators see"),
			"ticket":      str("The waiter's credential: POST /v1/rooms/{alias}/wait takes it (shown to the waiter only)"),
			"identity":    str("The identity it joins with once admitted"),
			"name":        str("Display name"),
			"role":        enum("participant", "viewer"),
			"since":       date(),
			"room":        ref("RoomView"),
			"pollSeconds": obj{"type": "integer", "description": "How long a poll is held while nothing changes"},
		}, "status", "id", "ticket", "identity", "name", "role", "since", "room", "pollSeconds"),
		"WaitRequest": object(obj{
			"ticket":     strMax(256),
			"wait":       obj{"type": "integer", "minimum": 0, "maximum": 15, "default": 15, "description": "Seconds to hold the poll while nothing changes"},
			"regionHint": strMax(64),
			"rtts":       obj{"type": "object", "additionalProperties": obj{"type": "integer", "minimum": 0, "maximum": 60000}, "description": "region → measured RTT in ms (used once admitted)"},
		}, "ticket"),
		"LeaveWaitingRequest": object(obj{
			"ticket":    strMax(256),
			"reconnect": boolean("The page closes or reloads: keep the place 10 s for it to come back"),
		}, "ticket"),
		"RefuseRequest":    object(obj{"reason": obj{"type": "string", "maxLength": 500, "description": "Shown to the person refused"}}),
		"WaitingEntry":     entry,
		"WaitingEntryList": listOf("WaitingEntry"),
		"WaitingList": object(obj{"items": array(ref("WaitingEntry")), "total": obj{"type": "integer"},
			"version": str("Names this list: send it back as after to wait for a change")}, "items", "total", "version"),
	}
}

// outboxSchemas are the schemas of the webhook delivery log and of call
// analytics.
func outboxSchemas() obj {
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
		"Record": object(obj{"id": str("Recording id"), "name": str("The room's name and the start time"),
			"fileSize": obj{"type": "integer", "description": "The composed MP4's size in bytes (0 until it is stored)"},
			"roomId":   str(""), "spaceId": str(""), "callId": str("The call that was live when the recording started"),
			"state": enum("recording", "processing", "finished", "failed"), "error": str("Why a failed recording failed"),
			"durationSeconds": obj{"type": "number"}, "createdAt": date(), "startedAt": date(),
			"finishedAt": obj{"type": []string{"string", "null"}, "format": "date-time"}},
			"id", "name", "fileSize", "roomId", "spaceId", "callId", "state", "durationSeconds", "createdAt", "startedAt", "finishedAt"),
		"RecordList":        listOf("Record"),
		"StopRecordRequest": object(obj{"recordId": str("The recording to stop (default: the one running)")}),
		"CallReport":        object(reportProps, append(callRequired, "participants")...),
	}
}
