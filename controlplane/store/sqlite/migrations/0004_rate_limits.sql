-- 0004: token buckets shared by the replicas of one store (GCRA: a bucket
-- is its theoretical arrival time, UTC unix microseconds).
CREATE TABLE rate_limits (
    key TEXT    NOT NULL PRIMARY KEY,
    tat INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_tat ON rate_limits (tat);
