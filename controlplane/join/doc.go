// Package join owns the join of a room: from the credential a participant
// presents to the edge it connects to, with what it may do there.
//
// The credential is, in order of precedence: a session credential (a
// reconnect: the role is derived again from what holds now), a
// generate-access link token, an embed token, a user or personal token,
// or nothing (a guest, in a public room of a public space only). The
// service finds who joins and with what role (access.CallRole for a
// signed-in user), asks the placer for an edge, and only then spends a
// single-use link or embed token, so that a refused placement leaves it
// usable. It then refuses a credential that a moderator's removal bars
// (removal.Revocations) and answers a session credential that never
// outlives what admitted the participant, a LiveKit media token and TURN
// credentials.
package join
