-- 0001: the initial schema.
--
-- Every tenant-owned table carries client_id and its primary key starts with
-- it; references between tenant rows are composite (client_id, id) foreign
-- keys, so a row can never point at another client's row. Times are UTC unix
-- milliseconds. Booleans are 0/1.

CREATE TABLE clients (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    client_id     TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    email_key     TEXT,   -- lower-cased e-mail; NULL when there is none
    username      TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE UNIQUE INDEX users_email ON users (client_id, email_key);

CREATE TABLE personal_tokens (
    client_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, user_id) REFERENCES users (client_id, id) ON DELETE CASCADE
);
CREATE INDEX personal_tokens_user ON personal_tokens (client_id, user_id);

CREATE TABLE spaces (
    client_id       TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    owner_id        TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    logo            TEXT    NOT NULL,
    is_public       INTEGER NOT NULL,
    allowed_origins TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE INDEX spaces_owner ON spaces (client_id, owner_id, id);

CREATE TABLE space_members (
    client_id  TEXT    NOT NULL,
    space_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, space_id, user_id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE,
    FOREIGN KEY (client_id, user_id) REFERENCES users (client_id, id) ON DELETE CASCADE
);
CREATE INDEX space_members_user ON space_members (client_id, user_id, space_id);

CREATE TABLE invites (
    client_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    space_id   TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    used_by    TEXT    NOT NULL DEFAULT '',
    used_at    INTEGER,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);
CREATE INDEX invites_space ON invites (client_id, space_id);

CREATE TABLE rooms (
    client_id             TEXT    NOT NULL,
    id                    TEXT    NOT NULL,
    space_id              TEXT    NOT NULL,
    owner_id              TEXT    NOT NULL,
    alias                 TEXT    NOT NULL UNIQUE,
    channel_id            TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    type                  TEXT    NOT NULL,
    max_participants      INTEGER NOT NULL,
    -- is_public and the boolean room flags as one bit set (see roomBits in
    -- room.go): GetRoom runs on every request, and each column costs.
    flags                 INTEGER NOT NULL,
    waiting_room_audience TEXT    NOT NULL,
    redirect_url          TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);
CREATE INDEX rooms_space ON rooms (client_id, space_id, created_at);

CREATE TABLE room_members (
    client_id  TEXT    NOT NULL,
    room_id    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, room_id, user_id),
    FOREIGN KEY (client_id, room_id) REFERENCES rooms (client_id, id) ON DELETE CASCADE,
    FOREIGN KEY (client_id, user_id) REFERENCES users (client_id, id) ON DELETE CASCADE
);
CREATE INDEX room_members_user ON room_members (client_id, user_id);

CREATE TABLE access_links (
    client_id           TEXT    NOT NULL,
    id                  TEXT    NOT NULL,
    space_id            TEXT    NOT NULL,
    room_id             TEXT    NOT NULL,
    username            TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    external_user_id    TEXT    NOT NULL,
    external_meeting_id TEXT    NOT NULL,
    email               TEXT    NOT NULL,
    phone               TEXT    NOT NULL,
    is_permanent        INTEGER NOT NULL,
    created_by          TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    used_at             INTEGER,
    uses                INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, room_id) REFERENCES rooms (client_id, id) ON DELETE CASCADE
);
CREATE INDEX access_links_room ON access_links (client_id, room_id);

CREATE TABLE webhooks (
    client_id  TEXT    NOT NULL,
    space_id   TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    is_active  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, space_id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);

CREATE TABLE signing_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    expires_at INTEGER
);
