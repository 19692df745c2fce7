-- 0001: the schema of SQLite's migrations 0001 to 0003, in PostgreSQL's
-- types.
--
-- Every tenant-owned table carries client_id and its primary key starts
-- with it; references between tenant rows are composite (client_id, id)
-- foreign keys, so a row can never point at another client's row. Times are
-- UTC unix milliseconds (BIGINT), as in the SQLite store: one precision,
-- one comparison rule.

CREATE TABLE clients (
    id          TEXT   NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    secret_hash TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    client_id     TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    id            TEXT   NOT NULL,
    email         TEXT   NOT NULL,
    email_key     TEXT,  -- lower-cased e-mail; NULL when there is none
    username      TEXT   NOT NULL,
    phone         TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE UNIQUE INDEX users_email ON users (client_id, email_key);

CREATE TABLE personal_tokens (
    client_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    token_hash TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
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
    is_public       BOOLEAN NOT NULL,
    allowed_origins TEXT[]  NOT NULL DEFAULT '{}',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE INDEX spaces_owner ON spaces (client_id, owner_id, id);

CREATE TABLE space_members (
    client_id  TEXT   NOT NULL,
    space_id   TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, space_id, user_id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE,
    FOREIGN KEY (client_id, user_id) REFERENCES users (client_id, id) ON DELETE CASCADE
);
CREATE INDEX space_members_user ON space_members (client_id, user_id, space_id);

CREATE TABLE invites (
    client_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    space_id   TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    used_by    TEXT   NOT NULL DEFAULT '',
    used_at    BIGINT,
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
    is_public             BOOLEAN NOT NULL,
    -- the boolean room flags as one bit set (see roomBits in room.go)
    flags                 INTEGER NOT NULL,
    waiting_room_audience TEXT    NOT NULL,
    redirect_url          TEXT    NOT NULL,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    PRIMARY KEY (client_id, id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);
CREATE INDEX rooms_space ON rooms (client_id, space_id, created_at DESC, id DESC);
CREATE INDEX rooms_id ON rooms (id);

CREATE TABLE room_members (
    client_id  TEXT   NOT NULL,
    room_id    TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
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
    is_permanent        BOOLEAN NOT NULL,
    created_by          TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    used_at             BIGINT,
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
    is_active  BOOLEAN NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (client_id, space_id),
    FOREIGN KEY (client_id, space_id) REFERENCES spaces (client_id, id) ON DELETE CASCADE
);

CREATE TABLE signing_keys (
    id         TEXT   NOT NULL PRIMARY KEY,
    secret     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    expires_at BIGINT
);

-- token_revocations: revocations in commit order. seq is drawn under a
-- transaction-level advisory lock held until commit (see token.go), so a
-- seq never commits below one a reader has already seen. Not tied to
-- clients by a foreign key: a deleted client's revocation must outlive it.
CREATE TABLE token_revocations (
    seq           BIGINT NOT NULL PRIMARY KEY,
    kind          TEXT   NOT NULL,
    client_id     TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    issued_before BIGINT,          -- NULL: every token
    created_at    BIGINT NOT NULL,
    until         BIGINT NOT NULL
);
CREATE SEQUENCE token_revocations_seq AS BIGINT;
CREATE INDEX token_revocations_until ON token_revocations (until);

CREATE TABLE spent_tokens (
    client_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    spent_at   BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE INDEX spent_tokens_expires ON spent_tokens (expires_at);
