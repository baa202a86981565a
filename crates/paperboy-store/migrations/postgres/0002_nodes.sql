-- Leases of the jobs that must run on one node at a time (see the SQLite migration 0008).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- `paperboy store copy` into this database (see the SQLite migration 0008).
CREATE TABLE store_copies (
    source      TEXT PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

-- Requests per client in fixed windows (see the SQLite migration 0008).
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    count        BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_start ON rate_limits (window_start);
