// Package removal owns moderators' removals of participants: the
// Revocations contract through which a removal reaches whoever must refuse
// the removed participant (every control-plane replica and every edge, over
// gossip, in a fleet), Set, the in-process implementation a single
// process (`spacecast dev`, whose edge shares it) uses, and Stored, the one
// of replicas that share a store but no gossip (a removal is a token
// revocation in the store, which every replica reads).
//
// A removal bars the credentials issued at or before it for the removal
// TTL (the session TTL: every session credential issued before the removal
// has expired by then); a credential issued after it (a new link) lets the
// participant back.
package removal
