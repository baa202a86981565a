-- Digest subscribers, one per normalised address. AUTOINCREMENT: an id is never reused, so a
-- manage link of a removed subscriber can never open a later one's settings.
CREATE TABLE subscribers (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    email              TEXT NOT NULL UNIQUE,
    state              TEXT NOT NULL,           -- pending | confirmed | unsubscribed | bounced
    topics             TEXT NOT NULL,           -- JSON array of strings
    categories         TEXT NOT NULL,           -- JSON array of category codes
    frequency          TEXT NOT NULL,           -- daily | weekly
    created_at         TEXT NOT NULL,           -- RFC 3339
    confirmed_at       TEXT,
    -- The period key of the last digest queued for them, and its window's last day: topics
    -- look for papers listed after it.
    last_digest_period TEXT,
    last_digest_until  TEXT,
    -- Permanent refusals of the address in a row; at the limit the state becomes bounced.
    refusals           INTEGER NOT NULL DEFAULT 0,
    -- Bumped to invalidate every manage and unsubscribe link sent so far.
    link_generation    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX subscribers_due ON subscribers (state, frequency, id);

-- A request to subscribe or change preferences, waiting for its confirmation link to be
-- followed. Only the token's SHA-256 is kept.
CREATE TABLE subscription_requests (
    token_hash    BLOB PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    preferences   TEXT NOT NULL,                -- JSON, applied on confirmation
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT
) WITHOUT ROWID;
CREATE INDEX subscription_requests_by_subscriber ON subscription_requests (subscriber_id, created_at);

-- Papers a subscriber has been sent, so that a later digest does not repeat them.
CREATE TABLE digest_items (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    paper_id      INTEGER NOT NULL,
    period        TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, paper_id)
) WITHOUT ROWID;

-- Mail waiting to go out, and a record of what went. The idempotency key (one per
-- subscriber and period for digests) is unique: a message is queued at most once, whatever
-- crashes and reruns happen.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    subscriber_id   INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,              -- confirmation | digest
    sender          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    message         BLOB NOT NULL,              -- the bytes to send, rendered once; emptied once sent
    state           TEXT NOT NULL,              -- queued | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,              -- RFC 3339: not tried again before (backoff)
    leased_until    TEXT,                       -- claimed by a worker until then
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
CREATE INDEX outbox_by_subscriber ON outbox (subscriber_id, created_at);

-- Values the server keeps for itself, such as the key that signs manage links.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
