package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Column lists, in the order the scan functions read them.
const (
	clientCols = `id, name, secret_hash, created_at`
	userCols   = `client_id, id, email, username, phone, password_hash, created_at`
	tokenCols  = `client_id, id, user_id, name, token_hash, created_at, expires_at`
	spaceCols  = `client_id, id, owner_id, name, description, logo, is_public, allowed_origins, created_at, updated_at`
	inviteCols = `client_id, id, space_id, role, created_by, created_at, expires_at, used_by, used_at`
	roomCols   = `client_id, id, space_id, owner_id, alias, channel_id, name, type, max_participants, flags,
		waiting_room_audience, redirect_url, created_at, updated_at`
	linkCols = `client_id, id, space_id, room_id, username, role, external_user_id, external_meeting_id,
		email, phone, is_permanent, created_by, created_at, expires_at, used_at, uses`
	roomColsR = `r.client_id, r.id, r.space_id, r.owner_id, r.alias, r.channel_id, r.name, r.type, r.max_participants, r.flags,
		r.waiting_room_audience, r.redirect_url, r.created_at, r.updated_at`
	webhookCols = `client_id, space_id, url, secret, is_active, created_at, updated_at`
	keyCols     = `id, secret, created_at, retired_at, expires_at`

	revocationCols = `seq, kind, client_id, subject, issued_before, created_at, until`
)

// spaceRank orders space roles so that an upsert never lowers one.
const spaceRank = `CASE %s WHEN 'role_space_owner' THEN 3 WHEN 'role_space_moderator' THEN 2 WHEN 'role_space_user' THEN 1 ELSE 0 END`

// statements are every query of the store, prepared once. Writer statements
// run on the single writer connection (inside transactions through
// tx.StmtContext); reader statements on the reader pool.
type statements struct {
	all     []*sql.Stmt
	queries []string // the SQL of all[i], for the query-plan test

	ping *sql.Stmt

	// clients
	insertClient, getClient, listClients, setClientSecret, deleteClient *sql.Stmt
	// users and personal tokens
	insertUser, getUser, getUserByEmail, deleteUser                  *sql.Stmt
	insertToken, listTokens, getTokenByHash, deleteToken, userExists *sql.Stmt
	// spaces, members, invites
	insertSpace, getSpace, listSpaces, countSpaces, updateSpace, deleteSpace  *sql.Stmt
	insertMember, getMember, listMembers, spaceExists                         *sql.Stmt
	insertInvite, getInvite, activateInvite, inviteState, upsertMemberNoLower *sql.Stmt
	// rooms and room members
	insertRoom, getRoom, getRoomByAlias, listRooms, countRooms, updateRoom, deleteRoom *sql.Stmt
	upsertRoomMember, getRoomMember, listRoomMembers, roomExists, getRoomByID          *sql.Stmt
	// access links
	insertLink, getLink, redeemLink, linkState *sql.Stmt
	// webhooks
	putWebhook, getWebhook, deleteWebhook *sql.Stmt
	// signing keys
	insertKey, listKeys, retireKey, deleteExpiredKeys *sql.Stmt
	// token revocations and spent tokens
	insertRevocation, purgeRevocations, listRevocations, spendToken, purgeSpent *sql.Stmt
	// visible rooms
	listVisibleRooms, countVisibleRooms *sql.Stmt
	// shared rate limits
	takeRate, rateState, refundRate, pruneRate *sql.Stmt
	countRoomMembers                           *sql.Stmt
}

func (st *statements) prepare(ctx context.Context, w, r *sql.DB) error {
	list := []struct {
		dst **sql.Stmt
		db  *sql.DB
		q   string
	}{
		{&st.ping, r, `SELECT 1`},

		{&st.insertClient, w, `INSERT INTO clients (` + clientCols + `) VALUES (?, ?, ?, ?)`},
		{&st.getClient, r, `SELECT ` + clientCols + ` FROM clients WHERE id = ?`},
		{&st.listClients, r, `SELECT ` + clientCols + ` FROM clients ORDER BY created_at DESC, rowid DESC`},
		{&st.setClientSecret, w, `UPDATE clients SET secret_hash = ? WHERE id = ?`},
		{&st.deleteClient, w, `DELETE FROM clients WHERE id = ?`},

		{&st.insertUser, w, `INSERT INTO users (client_id, id, email, email_key, username, phone, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.getUser, r, `SELECT ` + userCols + ` FROM users WHERE client_id = ? AND id = ?`},
		{&st.getUserByEmail, r, `SELECT ` + userCols + ` FROM users WHERE client_id = ? AND email_key = ?`},
		{&st.deleteUser, w, `DELETE FROM users WHERE client_id = ? AND id = ?`},
		{&st.userExists, r, `SELECT 1 FROM users WHERE client_id = ? AND id = ?`},

		{&st.insertToken, w, `INSERT INTO personal_tokens (` + tokenCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&st.listTokens, r, `SELECT ` + tokenCols + ` FROM personal_tokens WHERE client_id = ? AND user_id = ?
			ORDER BY created_at DESC, rowid DESC`},
		{&st.getTokenByHash, r, `SELECT ` + tokenCols + ` FROM personal_tokens WHERE token_hash = ?`},
		{&st.deleteToken, w, `DELETE FROM personal_tokens WHERE client_id = ? AND user_id = ? AND id = ?`},

		{&st.insertSpace, w, `INSERT INTO spaces (` + spaceCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.getSpace, r, `SELECT ` + spaceCols + ` FROM spaces WHERE client_id = ? AND id = ?`},
		{&st.listSpaces, r, `SELECT ` + spaceCols + ` FROM spaces WHERE client_id = ?1 AND id IN (
				SELECT space_id FROM space_members WHERE client_id = ?1 AND user_id = ?2
				UNION SELECT id FROM spaces WHERE client_id = ?1 AND owner_id = ?2)
			ORDER BY created_at DESC, rowid DESC LIMIT ?3 OFFSET ?4`},
		{&st.countSpaces, r, `SELECT COUNT(*) FROM (
				SELECT space_id FROM space_members WHERE client_id = ?1 AND user_id = ?2
				UNION SELECT id FROM spaces WHERE client_id = ?1 AND owner_id = ?2)`},
		{&st.updateSpace, w, `UPDATE spaces SET name = ?, description = ?, logo = ?, is_public = ?, allowed_origins = ?, updated_at = ?
			WHERE client_id = ? AND id = ?`},
		{&st.deleteSpace, w, `DELETE FROM spaces WHERE client_id = ? AND id = ?`},
		{&st.spaceExists, r, `SELECT 1 FROM spaces WHERE client_id = ? AND id = ?`},

		{&st.insertMember, w, `INSERT INTO space_members (client_id, space_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (client_id, space_id, user_id) DO UPDATE SET role = excluded.role`},
		{&st.getMember, r, `SELECT space_id, user_id, role, created_at FROM space_members
			WHERE client_id = ? AND space_id = ? AND user_id = ?`},
		{&st.listMembers, r, `SELECT space_id, user_id, role, created_at FROM space_members
			WHERE client_id = ? AND space_id = ? ORDER BY created_at, rowid`},

		{&st.insertInvite, w, `INSERT INTO invites (` + inviteCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.getInvite, r, `SELECT ` + inviteCols + ` FROM invites WHERE client_id = ? AND space_id = ? AND id = ?`},
		{&st.activateInvite, w, `UPDATE invites SET used_by = ?4, used_at = ?5
			WHERE client_id = ?1 AND space_id = ?2 AND id = ?3 AND used_at IS NULL
			AND (expires_at IS NULL OR expires_at > ?5)
			RETURNING ` + inviteCols},
		{&st.inviteState, w, `SELECT expires_at, used_at FROM invites WHERE client_id = ? AND space_id = ? AND id = ?`},
		{&st.upsertMemberNoLower, w, `INSERT INTO space_members (client_id, space_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (client_id, space_id, user_id) DO UPDATE SET role = excluded.role
			WHERE ` + fmt.Sprintf(spaceRank, "excluded.role") + ` > ` + fmt.Sprintf(spaceRank, "space_members.role")},

		{&st.insertRoom, w, `INSERT INTO rooms (` + roomCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.getRoom, r, `SELECT ` + roomCols + ` FROM rooms WHERE client_id = ? AND space_id = ? AND id = ?`},
		{&st.getRoomByAlias, r, `SELECT ` + roomCols + ` FROM rooms WHERE alias = ?`},
		{&st.getRoomByID, r, `SELECT ` + roomCols + ` FROM rooms WHERE id = ?`},
		{&st.listRooms, r, `SELECT ` + roomCols + ` FROM rooms WHERE client_id = ? AND space_id = ?
			ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`},
		{&st.countRooms, r, `SELECT COUNT(*) FROM rooms WHERE client_id = ? AND space_id = ?`},
		{&st.updateRoom, w, `UPDATE rooms SET name = ?, type = ?, max_participants = ?, flags = ?,
			waiting_room_audience = ?, redirect_url = ?, updated_at = ?
			WHERE client_id = ? AND space_id = ? AND id = ?`},
		{&st.deleteRoom, w, `DELETE FROM rooms WHERE client_id = ? AND space_id = ? AND id = ?`},
		{&st.roomExists, r, `SELECT 1 FROM rooms WHERE client_id = ? AND id = ?`},

		{&st.upsertRoomMember, w, `INSERT INTO room_members (client_id, room_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (client_id, room_id, user_id) DO UPDATE SET role = excluded.role`},
		{&st.getRoomMember, r, `SELECT room_id, user_id, role, created_at FROM room_members
			WHERE client_id = ? AND room_id = ? AND user_id = ?`},
		{&st.listRoomMembers, r, `SELECT room_id, user_id, role, created_at FROM room_members
			WHERE client_id = ? AND room_id = ? ORDER BY created_at, user_id LIMIT ? OFFSET ?`},
		{&st.countRoomMembers, r, `SELECT COUNT(*) FROM room_members WHERE client_id = ? AND room_id = ?`},

		// The link's room must be in the link's space: the INSERT takes its
		// row from rooms, so a mismatch inserts nothing.
		{&st.insertLink, w, `INSERT INTO access_links (` + linkCols + `)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16
			FROM rooms WHERE client_id = ?1 AND space_id = ?3 AND id = ?4`},
		{&st.getLink, r, `SELECT ` + linkCols + ` FROM access_links WHERE client_id = ? AND id = ?`},
		{&st.redeemLink, w, `UPDATE access_links SET used_at = ?3, uses = uses + 1
			WHERE client_id = ?1 AND id = ?2 AND expires_at > ?3 AND (is_permanent = 1 OR used_at IS NULL)
			RETURNING ` + linkCols},
		{&st.linkState, r, `SELECT expires_at FROM access_links WHERE client_id = ? AND id = ?`},

		{&st.putWebhook, w, `INSERT INTO webhooks (` + webhookCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (client_id, space_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
			is_active = excluded.is_active, updated_at = excluded.updated_at`},
		{&st.getWebhook, r, `SELECT ` + webhookCols + ` FROM webhooks WHERE client_id = ? AND space_id = ?`},
		{&st.deleteWebhook, w, `DELETE FROM webhooks WHERE client_id = ? AND space_id = ?`},

		{&st.insertKey, w, `INSERT INTO signing_keys (` + keyCols + `) VALUES (?, ?, ?, ?, ?)`},
		{&st.listKeys, r, `SELECT ` + keyCols + ` FROM signing_keys ORDER BY created_at DESC, rowid DESC`},
		{&st.retireKey, w, `UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE id = ?`},
		{&st.deleteExpiredKeys, w, `DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at < ?`},

		{&st.insertRevocation, w, `INSERT INTO token_revocations (kind, client_id, subject, issued_before, created_at, until)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`},
		{&st.purgeRevocations, w, `DELETE FROM token_revocations WHERE until < ?`},
		{&st.listRevocations, r, `SELECT ` + revocationCols + ` FROM token_revocations WHERE seq > ? AND until > ? ORDER BY seq`},
		{&st.spendToken, w, `INSERT INTO spent_tokens (client_id, id, spent_at, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (client_id, id) DO NOTHING`},
		{&st.purgeSpent, w, `DELETE FROM spent_tokens WHERE expires_at < ?`},

		// The rooms of a space a user may see: public ones (flags bit 1)
		// and those where it holds a role.
		{&st.listVisibleRooms, r, `SELECT ` + roomColsR + `, COALESCE(m.role, '') FROM rooms r
			LEFT JOIN room_members m ON m.client_id = r.client_id AND m.room_id = r.id AND m.user_id = ?3
			WHERE r.client_id = ?1 AND r.space_id = ?2 AND ((r.flags & 1) = 1 OR m.role IS NOT NULL)
			ORDER BY r.created_at DESC, r.id DESC LIMIT ?4 OFFSET ?5`},
		{&st.countVisibleRooms, r, `SELECT COUNT(*) FROM rooms r
			LEFT JOIN room_members m ON m.client_id = r.client_id AND m.room_id = r.id AND m.user_id = ?3
			WHERE r.client_id = ?1 AND r.space_id = ?2 AND ((r.flags & 1) = 1 OR m.role IS NOT NULL)`},

		// GCRA: the new TAT is max(tat, now) + interval, taken only if it
		// is within burst·interval of now. A missing bucket is full.
		{&st.takeRate, w, `INSERT INTO rate_limits (key, tat) VALUES (?1, ?2 + ?3)
			ON CONFLICT (key) DO UPDATE SET tat = MAX(tat, ?2) + ?3 WHERE MAX(tat, ?2) + ?3 - ?2 <= ?4
			RETURNING tat`},
		{&st.rateState, w, `SELECT tat FROM rate_limits WHERE key = ?`},
		{&st.refundRate, w, `UPDATE rate_limits SET tat = MAX(tat - ?2, ?3) WHERE key = ?1`},
		{&st.pruneRate, w, `DELETE FROM rate_limits WHERE tat <= ?`},
	}
	for _, p := range list {
		s, err := p.db.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", p.q, err)
		}
		*p.dst = s
		st.all = append(st.all, s)
		st.queries = append(st.queries, p.q)
	}
	return nil
}

func (st *statements) close() {
	for _, s := range st.all {
		_ = s.Close()
	}
	st.all = nil
}
