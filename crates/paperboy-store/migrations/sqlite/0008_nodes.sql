-- Leases of the jobs that must run on one node at a time (harvests, digest composition, the
-- outbox worker, clean-ups): the node holding a lease renews it while it runs them; when it
-- stops renewing (it died), another takes the lease once `expires_at` passes.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,               -- the node: host name, process id and a random tag
    expires_at TEXT NOT NULL                -- RFC 3339
) WITHOUT ROWID;

-- `paperboy store copy` into this database: written before the first row is copied and
-- finished after the counts compare equal, so that a copy interrupted half-way can be resumed
-- while a database holding other data is refused.
CREATE TABLE store_copies (
    source      TEXT PRIMARY KEY,           -- the source, password hidden
    started_at  TEXT NOT NULL,
    finished_at TEXT
) WITHOUT ROWID;

-- Requests per client in fixed windows (sign-in links, subscription requests), counted here so
-- that a limit holds whichever node a request lands on. A window's row is replaced when the
-- next one starts, and rows of past windows are deleted as new ones start.
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,          -- what is limited and the client's network
    window_start TEXT NOT NULL,             -- RFC 3339
    count        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_by_start ON rate_limits (window_start);
