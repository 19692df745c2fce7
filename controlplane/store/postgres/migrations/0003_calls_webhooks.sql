-- 0003: call tracking and the webhook outbox.
--
-- call_edges / call_edge_rooms: what each reporting edge last said (any
-- replica may take any edge's report). calls: one row per call, at most
-- one unfinished per room. call_sessions: each participant's stay.
-- webhook_deliveries: the outbox, written in the transaction that changes
-- the state the event tells of, claimed by any replica for an attempt.

CREATE TABLE call_edges (
    edge    TEXT    NOT NULL PRIMARY KEY,
    boot    TEXT    NOT NULL,
    seq     BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX call_edges_seen ON call_edges (seen_at);

CREATE TABLE call_edge_rooms (
    edge         TEXT    NOT NULL,
    room_id      TEXT    NOT NULL,
    participants BIGINT NOT NULL,
    PRIMARY KEY (edge, room_id)
);
CREATE INDEX call_edge_rooms_room ON call_edge_rooms (room_id);

CREATE TABLE calls (
    client_id        TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    space_id         TEXT    NOT NULL,
    room_id          TEXT    NOT NULL,
    room_type        TEXT    NOT NULL,
    started_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    empty_since      BIGINT,
    participants     BIGINT NOT NULL,
    max_participants BIGINT NOT NULL,
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
    joined_at BIGINT NOT NULL,
    left_at   BIGINT,
    PRIMARY KEY (client_id, call_id, sid),
    FOREIGN KEY (client_id, call_id) REFERENCES calls (client_id, id) ON DELETE CASCADE
);
CREATE INDEX call_sessions_open ON call_sessions (edge) WHERE left_at IS NULL;

CREATE TABLE webhook_deliveries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    space_id        TEXT    NOT NULL,
    room_id         TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    call_id         TEXT    NOT NULL,
    record_id       TEXT    NOT NULL,
    occurred_at     BIGINT NOT NULL,
    status          TEXT    NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    last_status     BIGINT NOT NULL,
    last_error      TEXT    NOT NULL,
    delivered_at    BIGINT,
    created_at      BIGINT NOT NULL,
    redelivery_of   TEXT    NOT NULL,
    lease_owner     TEXT    NOT NULL,
    lease_until     BIGINT,
    UNIQUE (client_id, id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_room ON webhook_deliveries (room_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_space ON webhook_deliveries (client_id, space_id, seq);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

-- A queued delivery wakes the deliverers of every replica.
CREATE TRIGGER webhook_deliveries_queued AFTER INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('deliveries');
