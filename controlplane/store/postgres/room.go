package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/spacecast/spacecast/controlplane/store"
)

const roomCols = `client_id, id, space_id, owner_id, alias, channel_id, name, type, max_participants, is_public, flags,
	waiting_room_audience, redirect_url, created_at, updated_at`

// roomBits are the bits of rooms.flags.
const (
	bitChat = 1 << iota
	bitScreensharing
	bitCamera
	bitMicrophone
	bitScreenMedia
	bitRecord
	bitAutoRecording
	bitHandRaising
	bitSelfRenaming
)

// roomBits packs the boolean flags into rooms.flags.
func roomBits(f store.RoomFlags) int32 {
	var b int32
	set := func(on bool, bit int32) {
		if on {
			b |= bit
		}
	}
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

func scanRoom(r pgx.Row) (store.Room, error) {
	var rm store.Room
	var bits int32
	var maxP int32
	var created, updated int64
	f := &rm.Flags
	if err := r.Scan(&rm.ClientID, &rm.ID, &rm.SpaceID, &rm.OwnerID, &rm.Alias, &rm.ChannelID, &rm.Name,
		&rm.Type, &maxP, &rm.IsPublic, &bits, &f.WaitingRoomAudience, &f.RedirectURL, &created, &updated); err != nil {
		return store.Room{}, err
	}
	rm.MaxParticipants = int(maxP)
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

// CreateRoom stores the room and gives its owner store.RoomRoleOwner, in
// one transaction. A taken alias or id gives store.ErrConflict; a space or
// owner that is not of the client store.ErrNotFound.
func (s *Store) CreateRoom(ctx context.Context, r store.Room) error {
	const op = "create room"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rooms (`+roomCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			r.ClientID, r.ID, r.SpaceID, r.OwnerID, r.Alias, r.ChannelID, r.Name, r.Type, int32(r.MaxParticipants), r.IsPublic,
			roomBits(r.Flags), r.Flags.WaitingRoomAudience, r.Flags.RedirectURL, ms(r.CreatedAt), ms(r.UpdatedAt)); err != nil {
			return translate(op, err)
		}
		_, err := tx.Exec(ctx, upsertRoomMember, r.ClientID, r.ID, r.OwnerID, store.RoomRoleOwner, ms(r.CreatedAt))
		return translate(op, err)
	})
}

const upsertRoomMember = `INSERT INTO room_members (client_id, room_id, user_id, role, created_at) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (client_id, room_id, user_id) DO UPDATE SET role = excluded.role`

// GetRoom returns one room of a space of the client.
func (s *Store) GetRoom(ctx context.Context, client store.ClientID, space store.SpaceID, id store.RoomID) (store.Room, error) {
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomCols+` FROM rooms WHERE client_id = $1 AND space_id = $2 AND id = $3`,
		client, space, id))
	return r, translate("get room", err)
}

// GetRoomByAlias returns the room with the alias, whatever its client.
func (s *Store) GetRoomByAlias(ctx context.Context, alias string) (store.Room, error) {
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomCols+` FROM rooms WHERE alias = $1`, alias))
	return r, translate("get room by alias", err)
}

// GetRoomByID returns the room with the id, whatever its client.
func (s *Store) GetRoomByID(ctx context.Context, id store.RoomID) (store.Room, error) {
	r, err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomCols+` FROM rooms WHERE id = $1`, id))
	return r, translate("get room by id", err)
}

// ListRooms lists the rooms of a space, newest first (ties by id), with
// their total. An unknown space gives store.ErrNotFound.
func (s *Store) ListRooms(ctx context.Context, client store.ClientID, space store.SpaceID, p store.Page) ([]store.Room, int, error) {
	const op = "list rooms"
	p = p.Normalize()
	var out []store.Room
	var total int
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM spaces WHERE client_id = $1 AND id = $2`, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM rooms WHERE client_id = $1 AND space_id = $2`, client, space).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+roomCols+` FROM rooms WHERE client_id = $1 AND space_id = $2
			ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`, client, space, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanRoom)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateRoom replaces the mutable fields (name, type, isPublic, max
// participants, flags) and UpdatedAt.
func (s *Store) UpdateRoom(ctx context.Context, r store.Room) error {
	tag, err := s.pool.Exec(ctx, `UPDATE rooms SET name = $1, type = $2, max_participants = $3, is_public = $4, flags = $5,
		waiting_room_audience = $6, redirect_url = $7, updated_at = $8 WHERE client_id = $9 AND space_id = $10 AND id = $11`,
		r.Name, r.Type, int32(r.MaxParticipants), r.IsPublic, roomBits(r.Flags), r.Flags.WaitingRoomAudience, r.Flags.RedirectURL,
		ms(r.UpdatedAt), r.ClientID, r.SpaceID, r.ID)
	return one("update room", tag, err)
}

// DeleteRoom removes the room with its roles (a cascade) and its access
// links (no foreign key: migration 0004), in one transaction.
func (s *Store) DeleteRoom(ctx context.Context, client store.ClientID, space store.SpaceID, id store.RoomID) error {
	const op = "delete room"
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM rooms WHERE client_id = $1 AND space_id = $2 AND id = $3`, client, space, id)
		if err := one(op, tag, err); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM access_links WHERE client_id = $1 AND room_id = $2`, client, id)
		return err
	})
}

func scanRoomMember(r pgx.Row) (store.RoomMember, error) {
	var m store.RoomMember
	var created int64
	if err := r.Scan(&m.RoomID, &m.UserID, &m.Role, &created); err != nil {
		return store.RoomMember{}, err
	}
	m.CreatedAt = fromMS(created)
	return m, nil
}

// SetRoomMember inserts or replaces a user's role in a room; replacing
// keeps the original CreatedAt.
func (s *Store) SetRoomMember(ctx context.Context, client store.ClientID, m store.RoomMember) error {
	_, err := s.pool.Exec(ctx, upsertRoomMember, client, m.RoomID, m.UserID, m.Role, ms(m.CreatedAt))
	return translate("set room member", err)
}

// GetRoomMember returns a user's role in a room.
func (s *Store) GetRoomMember(ctx context.Context, client store.ClientID, room store.RoomID, user store.UserID) (store.RoomMember, error) {
	m, err := scanRoomMember(s.pool.QueryRow(ctx, `SELECT room_id, user_id, role, created_at FROM room_members
		WHERE client_id = $1 AND room_id = $2 AND user_id = $3`, client, room, user))
	return m, translate("get room member", err)
}

// ListRoomMembers lists a room's explicit roles, oldest first, a page of
// them with the total. An unknown room gives store.ErrNotFound.
func (s *Store) ListRoomMembers(ctx context.Context, client store.ClientID, room store.RoomID, p store.Page) ([]store.RoomMember, int, error) {
	const op = "list room members"
	p = p.Normalize()
	var out []store.RoomMember
	var total int
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM rooms WHERE client_id = $1 AND id = $2`, client, room); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM room_members WHERE client_id = $1 AND room_id = $2`, client, room).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT room_id, user_id, role, created_at FROM room_members
			WHERE client_id = $1 AND room_id = $2 ORDER BY created_at, user_id LIMIT $3 OFFSET $4`, client, room, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanRoomMember)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// ListVisibleRooms lists the rooms of a space that user may see (public,
// or holding a role), with the user's role, newest first (ties by id), and
// their total, in one snapshot. An unknown space gives store.ErrNotFound.
func (s *Store) ListVisibleRooms(ctx context.Context, client store.ClientID, space store.SpaceID, user store.UserID, p store.Page) ([]store.RoomWithRole, int, error) {
	const op = "list visible rooms"
	p = p.Normalize()
	var out []store.RoomWithRole
	var total int
	const from = ` FROM rooms r LEFT JOIN room_members m ON m.client_id = r.client_id AND m.room_id = r.id AND m.user_id = $3
		WHERE r.client_id = $1 AND r.space_id = $2 AND (r.is_public OR m.role IS NOT NULL)`
	err := s.readTx(ctx, op, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, `SELECT 1 FROM spaces WHERE client_id = $1 AND id = $2`, client, space); err != nil {
			return translate(op, err)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*)`+from, client, space, user).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+roomColsR+`, COALESCE(m.role, '')`+from+`
			ORDER BY r.created_at DESC, r.id DESC LIMIT $4 OFFSET $5`, client, space, user, p.Limit, p.Offset)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (store.RoomWithRole, error) {
			var rr store.RoomWithRole
			var err error
			rr.Room, err = scanRoom(roleRow{r, &rr.Role})
			return rr, err
		})
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

const roomColsR = `r.client_id, r.id, r.space_id, r.owner_id, r.alias, r.channel_id, r.name, r.type, r.max_participants, r.is_public,
	r.flags, r.waiting_room_audience, r.redirect_url, r.created_at, r.updated_at`

// roleRow scans a room row followed by one more column, the role.
type roleRow struct {
	r    pgx.Row
	role *store.RoomRole
}

func (s roleRow) Scan(dest ...any) error { return s.r.Scan(append(dest, s.role)...) }
