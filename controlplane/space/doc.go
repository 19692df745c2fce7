// Package space owns what a client's users build and manage: spaces and,
// inside them, rooms, room roles, invites, guest links (generate-access),
// embed tokens, the space's webhook settings and its delivery log (read
// and redeliver).
//
// Every change that needs a permission takes the capability package access
// makes for it (an access.ManagedSpace to create a room, an
// access.ManagedRoom to generate a link, an access.OwnedSpace to set the
// webhook), so the rule is checked before the change can be asked for;
// the rules that depend on what is asked are checked here: only a space's
// owner invites moderators and changes the origins allowed to frame its
// rooms, only a room's owner grants the moderator role, and the owner
// keeps role_room_owner.
package space
