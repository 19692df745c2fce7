// Package moderation acts on live calls for their moderators: it lists a
// room's participants, mutes their tracks and removes them, by calling the
// LiveKit RoomService (Twirp) of every edge a RoomLocator names for the
// room, with a one-minute roomAdmin token for that room signed by the
// cluster's API key.
//
// Every call takes an access.ModeratedRoom, so only whom a join makes the
// room's owner or a moderator reaches it. A removal is recorded in
// removal.Revocations before any edge is asked, so that a credential
// issued before it does not bring the participant back through a join,
// even while an edge is unreachable.
package moderation
