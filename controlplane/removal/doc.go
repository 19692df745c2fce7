// Package removal owns moderators' removals of participants: the
// Revocations contract through which a removal reaches whoever must refuse
// the removed participant (every control-plane replica and every edge, over
// gossip, in a fleet), and Set, the in-process implementation a single
// replica (and `spacecast dev`, whose edge shares it) uses.
//
// A removal bars the credentials issued at or before it for the removal
// TTL (the session TTL: every session credential issued before the removal
// has expired by then); a credential issued after it (a new link) lets the
// participant back.
package removal
