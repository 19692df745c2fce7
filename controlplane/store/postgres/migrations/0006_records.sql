-- 0006: recordings of calls, as the edges that make them report them.
--
-- One row per recording, named by the edge that records; files is the
-- JSON list of its stored files ([{"key","bytes"}]), file_key and
-- file_size the composed MP4's (the download).

CREATE TABLE records (
    client_id   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    space_id    TEXT    NOT NULL,
    room_id     TEXT    NOT NULL,
    call_id     TEXT    NOT NULL,
    edge        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    file_key    TEXT    NOT NULL,
    file_size   BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    files       TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, room_id) REFERENCES rooms (client_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX records_id ON records (id);
CREATE INDEX records_room ON records (client_id, room_id, started_at);
CREATE INDEX records_open ON records (edge) WHERE state IN ('recording', 'processing');
