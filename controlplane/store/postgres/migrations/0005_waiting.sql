-- 0005: waiting rooms.
--
-- waiting: one row per person in a room's waiting room, from the join
-- that made it wait until it expires. The waiter's page polls with a
-- ticket (only its hash is kept); moderators list the room's waiting
-- rows and decide on them (one conditional update each). A refused row is
-- kept until its expiry, so that the same link or user is refused again.
CREATE TABLE waiting (
    client_id   TEXT   NOT NULL,
    id          TEXT   NOT NULL,
    room_id     TEXT   NOT NULL,
    ticket_hash TEXT   NOT NULL UNIQUE,
    identity    TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    role        TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    link_id     TEXT   NOT NULL,
    family      TEXT   NOT NULL,
    issued_at   BIGINT,
    session_until BIGINT,
    state       TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    decided_at  BIGINT,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, room_id) REFERENCES rooms (client_id, id) ON DELETE CASCADE
);
CREATE INDEX waiting_room ON waiting (client_id, room_id, state, created_at, id);
CREATE INDEX waiting_refused_link ON waiting (client_id, room_id, link_id) WHERE state = 'refused' AND link_id <> '';
CREATE INDEX waiting_refused_user ON waiting (client_id, room_id, user_id) WHERE state = 'refused' AND user_id <> '';
CREATE INDEX waiting_expires ON waiting (expires_at);

-- Every replica's waiting pages and moderators' lists wake on these: an
-- entry comes or goes, a decision, or an expiry brought forward (a page
-- that left and may reload). A page's regular touch, which only pushes
-- the expiry back, is not a change.
CREATE TRIGGER waiting_added_or_gone AFTER INSERT OR DELETE ON waiting
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('waiting');
CREATE TRIGGER waiting_changed AFTER UPDATE ON waiting
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION spacecast_notify('waiting');
