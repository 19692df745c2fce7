-- 0005: call tracking and the webhook outbox.
--
-- call_edges / call_edge_rooms: what each reporting edge last said (any
-- replica may take any edge's report). calls: one row per call, at most
-- one unfinished per room. call_sessions: each participant's stay.
-- webhook_deliveries: the outbox, written in the transaction that changes
-- the state the event tells of, claimed by any replica for an attempt.

CREATE TABLE call_edges (
    edge    TEXT    NOT NULL PRIMARY KEY,
    boot    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
);
CREATE INDEX call_edges_seen ON call_edges (seen_at);

CREATE TABLE call_edge_rooms (
    edge         TEXT    NOT NULL,
    room_id      TEXT    NOT NULL,
    participants INTEGER NOT NULL,
    PRIMARY KEY (edge, room_id)
);
CREATE INDEX call_edge_rooms_room ON call_edge_rooms (room_id);

CREATE TABLE calls (
    client_id        TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    space_id         TEXT    NOT NULL,
    room_id          TEXT    NOT NULL,
    room_type        TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    empty_since      INTEGER,
    participants     INTEGER NOT NULL,
    max_participants INTEGER NOT NULL,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, room_id) REFERENCES rooms (client_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX calls_active ON calls (room_id) WHERE finished_at IS NULL;
CREATE INDEX calls_space ON calls (client_id, space_id, started_at);
CREATE INDEX calls_empty ON calls (empty_since) WHERE finished_at IS NULL AND empty_since IS NOT NULL;

CREATE TABLE call_sessions (
    client_id TEXT    NOT NULL,
    call_id   TEXT    NOT NULL,
    sid       TEXT    NOT NULL,
    room_id   TEXT    NOT NULL,
    edge      TEXT    NOT NULL,
    identity  TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    joined_at INTEGER NOT NULL,
    left_at   INTEGER,
    PRIMARY KEY (client_id, call_id, sid),
    FOREIGN KEY (client_id, call_id) REFERENCES calls (client_id, id) ON DELETE CASCADE
);
CREATE INDEX call_sessions_open ON call_sessions (edge) WHERE left_at IS NULL;

CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    space_id        TEXT    NOT NULL,
    room_id         TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    call_id         TEXT    NOT NULL,
    record_id       TEXT    NOT NULL,
    occurred_at     INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    redelivery_of   TEXT    NOT NULL,
    lease_owner     TEXT    NOT NULL,
    lease_until     INTEGER,
    UNIQUE (client_id, id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_room ON webhook_deliveries (room_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_space ON webhook_deliveries (client_id, space_id, seq);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
