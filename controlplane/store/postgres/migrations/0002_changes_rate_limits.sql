-- 0002: change notifications and shared rate limits.
--
-- Every replica LISTENs on spacecast_changes (see listen.go); these
-- triggers NOTIFY it with the topic of what changed, in the transaction
-- that changed it (delivered at commit, once per topic and transaction),
-- whatever statement did it: a cascade counts too.
CREATE FUNCTION spacecast_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('spacecast_changes', TG_ARGV[0]);
    RETURN NULL;
END
$$;

-- Read caches of rooms and room roles (and the space rules around them).
CREATE TRIGGER rooms_changed AFTER UPDATE OR DELETE ON rooms
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('rooms');
CREATE TRIGGER room_members_changed AFTER INSERT OR UPDATE OR DELETE ON room_members
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('rooms');
CREATE TRIGGER spaces_changed AFTER UPDATE OR DELETE ON spaces
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('rooms');
-- Signing keys and token revocations.
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('keys');
CREATE TRIGGER token_revocations_added AFTER INSERT ON token_revocations
    FOR EACH ROW EXECUTE FUNCTION spacecast_notify('revocations');

-- Token buckets shared by the replicas (GCRA: a bucket is its theoretical
-- arrival time, UTC unix microseconds). Unlogged: a crash of the database
-- empties the table, which refills every bucket, and in exchange no
-- rate-limited request waits for a WAL flush.
CREATE UNLOGGED TABLE rate_limits (
    key TEXT   NOT NULL PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
