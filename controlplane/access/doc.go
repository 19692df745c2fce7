// Package access owns who the caller is and what it may do with spaces
// and rooms: it authenticates the credential a request presents (a client
// or user JWT, a personal token) into a Caller, loads spaces and rooms
// with the caller's role in them (rooms and room roles through a short
// read cache), and decides the access matrix.
//
// Each decision answers a capability: a value that only this package makes,
// and that the operations needing the permission take, so that an
// operation cannot be reached without its check.
//
//	capability      made by               who gets it (the caller's roles)
//	VisibleSpace    SeeSpace              anyone when the space is public; its members
//	ManagedSpace    ManageSpace           space owner, space moderator
//	OwnedSpace      OwnSpace              space owner
//	VisibleRoom     SeeRoom, RoomByAlias  anyone with a room role; in a public room,
//	                                      whoever may see its space (RoomByAlias: a
//	                                      client token too, for a public room)
//	ManagedRoom     ManageRoom            room owner, room moderator
//	OwnedRoom       OwnRoom               room owner, space owner
//	ModeratedRoom   Moderate              whom a join makes owner or moderator
//	                ModerateWaiting       the same, or the room's client (a client
//	                                      token: the integrator decides who comes in
//	                                      from the waiting room)
//	                ModerateInCall        a participant whose session the join
//	                                      service found owner or moderator (the
//	                                      room page)
//
// A private room admits only its owner and members, even against the
// space's owner. CallRole is the role a signed-in user gets in a call: the
// room's owner and moderators by their room role, room users participate;
// in a public room the user may see, the space's owner and moderators
// moderate and everyone else participates.
//
// Every store read is scoped by the caller's client: another client's
// entity is store.ErrNotFound, exactly like a missing one. Errors are
// typed (ErrUserToken, ErrClientToken, *DeniedError, *EntityError around
// the store's sentinels); the HTTP layer maps them to a status.
package access
