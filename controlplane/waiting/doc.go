// Package waiting owns rooms' waiting rooms: who waits (the room's
// waitingRoomAudience: nobody, guests — participants without a user
// account — or everyone but owners and moderators), the entries of those
// who wait, and the moderators' decisions on them.
//
// An entry lives in the store (store.WaitingRooms), so every control-plane
// replica sees the same waiting room: the waiter's page may ask one
// replica while a moderator decides on another. The waiter holds a ticket
// (only its hash is stored) and long-polls with it (Await); moderators
// long-poll the list (Watch). Both wake on this replica's own writes at
// once and on other replicas' through the store's change notifications
// (Changed, fed from store.Changes with TopicWaiting).
//
// An entry is present while its page asks: each poll keeps it for
// Presence, a page that leaves for good removes it (Leave), and a page
// that is closed or reloads keeps it for Reconnect, long enough to come
// back with its ticket. Deciding is one conditional update: of moderators
// deciding on one entry at once exactly one does. A refusal is kept
// (until the link that admitted the person expires, or RefusalHold for a
// user or guest) so that the same link or user is refused again; an
// admission lets the ticket be exchanged for a join answer (the join
// service does that) for AdmitHold.
package waiting
