-- 0003: the records about issued tokens that every replica shares.
--
-- token_revocations: revocations in commit order (seq; AUTOINCREMENT never
-- hands out a seq again, even after the highest row was purged), read by
-- every replica after the highest seq it has seen. Not tied to clients by a
-- foreign key: a deleted client's revocation must outlive it.
CREATE TABLE token_revocations (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,
    client_id     TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    issued_before INTEGER,          -- NULL: every token
    created_at    INTEGER NOT NULL,
    until         INTEGER NOT NULL
);
CREATE INDEX token_revocations_until ON token_revocations (until);

-- spent_tokens: the ids (jti) of single-use tokens already used.
CREATE TABLE spent_tokens (
    client_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    spent_at   INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, id)
);
CREATE INDEX spent_tokens_expires ON spent_tokens (expires_at);
