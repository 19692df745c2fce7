// Package recording is the control plane's side of call recordings: it
// starts and stops a room's recording on the edge that hosts the call
// (LiveKit's Egress service over Twirp, StartRoomCompositeEgress and
// StopEgress, with a one-minute roomRecord token for the room signed by
// the cluster's API key: the same channel moderation uses), stores the
// edge's answer as the recording's start (its record_started), lists a
// room's recordings and signs their download links (internal/blob:
// presigned S3 URLs, or HMAC-signed URLs of the local store, valid 24 h
// by default).
//
// Which edge records: a room spanning several edges is recorded by one of
// them, the first of the room's edges by node id that takes the start;
// the edges tell each other (edge/room), so a second start anywhere is a
// conflict and a stop reaches the recording edge wherever it is sent.
// The recording's later states (processing, finished, failed) reach the
// store through the edges' reports (edge/reporter, internal/occupancy, controlplane/webhook).
//
// Every call takes an access.ModeratedRoom: the room's API client (a
// client token) or whom a join makes the room's owner or a moderator.
package recording
