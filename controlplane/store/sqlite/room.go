package sqlite

import (
	"context"
	"database/sql"

	"github.com/spacecast/spacecast/controlplane/store"
)

// roomBits are the bits of rooms.flags.
const (
	bitPublic = 1 << iota
	bitChat
	bitScreensharing
	bitCamera
	bitMicrophone
	bitScreenMedia
	bitRecord
	bitAutoRecording
	bitHandRaising
	bitSelfRenaming
)

// roomBits packs IsPublic and the boolean flags into rooms.flags.
func roomBits(r store.Room) int64 {
	var b int64
	set := func(on bool, bit int64) {
		if on {
			b |= bit
		}
	}
	f := r.Flags
	set(r.IsPublic, bitPublic)
	set(f.IsChatAllowed, bitChat)
	set(f.IsScreensharingAllowed, bitScreensharing)
	set(f.IsCameraPublishingAllowed, bitCamera)
	set(f.IsMicrophonePublishingAllowed, bitMicrophone)
	set(f.IsScreenMediaPublishingAllowed, bitScreenMedia)
	set(f.IsRecordAllowed, bitRecord)
	set(f.IsAutoRecordingAllowed, bitAutoRecording)
	set(f.IsHandRaisingAllowed, bitHandRaising)
	set(f.IsSelfRenamingAllowed, bitSelfRenaming)
	return b
}

func scanRoom(r scanner) (store.Room, error) {
	var rm store.Room
	var bits, created, updated int64
	f := &rm.Flags
	if err := r.Scan(&rm.ClientID, &rm.ID, &rm.SpaceID, &rm.OwnerID, &rm.Alias, &rm.ChannelID, &rm.Name,
		&rm.Type, &rm.MaxParticipants, &bits, &f.WaitingRoomAudience, &f.RedirectURL, &created, &updated); err != nil {
		return store.Room{}, err
	}
	rm.IsPublic = bits&bitPublic != 0
	f.IsChatAllowed = bits&bitChat != 0
	f.IsScreensharingAllowed = bits&bitScreensharing != 0
	f.IsCameraPublishingAllowed = bits&bitCamera != 0
	f.IsMicrophonePublishingAllowed = bits&bitMicrophone != 0
	f.IsScreenMediaPublishingAllowed = bits&bitScreenMedia != 0
	f.IsRecordAllowed = bits&bitRecord != 0
	f.IsAutoRecordingAllowed = bits&bitAutoRecording != 0
	f.IsHandRaisingAllowed = bits&bitHandRaising != 0
	f.IsSelfRenamingAllowed = bits&bitSelfRenaming != 0
	rm.CreatedAt = fromMS(created)
	rm.UpdatedAt = fromMS(updated)
	return rm, nil
}

// CreateRoom stores the room and gives its owner store.RoomRoleOwner, in one
// transaction. A taken alias or id gives store.ErrConflict; a space or owner
// that is not of the client store.ErrNotFound.
func (s *Store) CreateRoom(ctx context.Context, r store.Room) error {
	const op = "create room"
	args := []any{r.ClientID, r.ID, r.SpaceID, r.OwnerID, r.Alias, r.ChannelID, r.Name, r.Type,
		r.MaxParticipants, roomBits(r), r.Flags.WaitingRoomAudience, r.Flags.RedirectURL, ms(r.CreatedAt), ms(r.UpdatedAt)}
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.st.insertRoom).ExecContext(ctx, args...); err != nil {
			return translate(op, err)
		}
		_, err := tx.StmtContext(ctx, s.st.upsertRoomMember).ExecContext(ctx, r.ClientID, r.ID, r.OwnerID,
			store.RoomRoleOwner, ms(r.CreatedAt))
		return translate(op, err)
	})
}

// GetRoom returns one room of a space of the client.
func (s *Store) GetRoom(ctx context.Context, client store.ClientID, space store.SpaceID, id store.RoomID) (store.Room, error) {
	r, err := scanRoom(s.st.getRoom.QueryRowContext(ctx, client, space, id))
	return r, translate("get room", err)
}

// GetRoomByAlias returns the room with the alias, whatever its client.
func (s *Store) GetRoomByAlias(ctx context.Context, alias string) (store.Room, error) {
	r, err := scanRoom(s.st.getRoomByAlias.QueryRowContext(ctx, alias))
	return r, translate("get room by alias", err)
}

// GetRoomByID returns the room with the id, whatever its client (ids are
// unique deployment-wide). Webhook delivery uses it: edges know a room only
// by its id (index rooms_id, migration 0002).
func (s *Store) GetRoomByID(ctx context.Context, id store.RoomID) (store.Room, error) {
	r, err := scanRoom(s.st.getRoomByID.QueryRowContext(ctx, id))
	return r, translate("get room by id", err)
}

// ListRooms lists the rooms of a space, newest first, with their total. An
// unknown space gives store.ErrNotFound.
func (s *Store) ListRooms(ctx context.Context, client store.ClientID, space store.SpaceID, p store.Page) ([]store.Room, int, error) {
	const op = "list rooms"
	p = p.Normalize()
	var out []store.Room
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.spaceExists, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.StmtContext(ctx, s.st.countRooms).QueryRowContext(ctx, client, space).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.StmtContext(ctx, s.st.listRooms).QueryContext(ctx, client, space, p.Limit, p.Offset)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRoom(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, r)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateRoom replaces the mutable fields (name, type, isPublic, max
// participants, flags) and UpdatedAt.
func (s *Store) UpdateRoom(ctx context.Context, r store.Room) error {
	args := []any{r.Name, r.Type, r.MaxParticipants, roomBits(r), r.Flags.WaitingRoomAudience, r.Flags.RedirectURL,
		ms(r.UpdatedAt), r.ClientID, r.SpaceID, r.ID}
	res, err := s.st.updateRoom.ExecContext(ctx, args...)
	return s.notified(one("update room", res, err), store.TopicRooms)
}

// DeleteRoom removes the room with its roles and access links.
func (s *Store) DeleteRoom(ctx context.Context, client store.ClientID, space store.SpaceID, id store.RoomID) error {
	res, err := s.st.deleteRoom.ExecContext(ctx, client, space, id)
	return s.notified(one("delete room", res, err), store.TopicRooms)
}

func scanRoomMember(r scanner) (store.RoomMember, error) {
	var m store.RoomMember
	var created int64
	if err := r.Scan(&m.RoomID, &m.UserID, &m.Role, &created); err != nil {
		return store.RoomMember{}, err
	}
	m.CreatedAt = fromMS(created)
	return m, nil
}

// SetRoomMember inserts or replaces a user's role in a room. A room or user
// that is not of the client gives store.ErrNotFound. Replacing keeps the
// original CreatedAt.
func (s *Store) SetRoomMember(ctx context.Context, client store.ClientID, m store.RoomMember) error {
	_, err := s.st.upsertRoomMember.ExecContext(ctx, client, m.RoomID, m.UserID, m.Role, ms(m.CreatedAt))
	return s.notified(translate("set room member", err), store.TopicRooms)
}

// GetRoomMember returns a user's role in a room.
func (s *Store) GetRoomMember(ctx context.Context, client store.ClientID, room store.RoomID, user store.UserID) (store.RoomMember, error) {
	m, err := scanRoomMember(s.st.getRoomMember.QueryRowContext(ctx, client, room, user))
	return m, translate("get room member", err)
}

// ListRoomMembers lists a room's explicit roles, oldest first, a page of
// them with the total. An unknown room gives store.ErrNotFound.
func (s *Store) ListRoomMembers(ctx context.Context, client store.ClientID, room store.RoomID, p store.Page) ([]store.RoomMember, int, error) {
	const op = "list room members"
	p = p.Normalize()
	var out []store.RoomMember
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.roomExists, client, room); err != nil {
			return translate(op, err)
		}
		if err := tx.StmtContext(ctx, s.st.countRoomMembers).QueryRowContext(ctx, client, room).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.StmtContext(ctx, s.st.listRoomMembers).QueryContext(ctx, client, room, p.Limit, p.Offset)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanRoomMember(rows)
			if err != nil {
				return translate(op, err)
			}
			out = append(out, m)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// ListVisibleRooms lists the rooms of a space that user may see (public,
// or holding a role), with the user's role, newest first (ties by id), and
// their total, in one read transaction. An unknown space gives
// store.ErrNotFound.
func (s *Store) ListVisibleRooms(ctx context.Context, client store.ClientID, space store.SpaceID, user store.UserID, p store.Page) ([]store.RoomWithRole, int, error) {
	const op = "list visible rooms"
	p = p.Normalize()
	var out []store.RoomWithRole
	var total int
	err := s.readTx(ctx, op, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, s.st.spaceExists, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.StmtContext(ctx, s.st.countVisibleRooms).QueryRowContext(ctx, client, space, user).Scan(&total); err != nil {
			return translate(op, err)
		}
		rows, err := tx.StmtContext(ctx, s.st.listVisibleRooms).QueryContext(ctx, client, space, user, p.Limit, p.Offset)
		if err != nil {
			return translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var rr store.RoomWithRole
			var err error
			if rr.Room, err = scanRoom(roleScanner{rows, &rr.Role}); err != nil {
				return translate(op, err)
			}
			out = append(out, rr)
		}
		return translate(op, rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// roleScanner scans a room row followed by one more column, the role.
type roleScanner struct {
	r    scanner
	role *store.RoomRole
}

func (s roleScanner) Scan(dest ...any) error { return s.r.Scan(append(dest, s.role)...) }
