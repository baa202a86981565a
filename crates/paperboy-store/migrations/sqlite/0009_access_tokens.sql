-- Readers' access tokens for feed readers and scripts. Only the secret's SHA-256 is kept; a
-- revoked token's row stays (with `revoked_at`), so that it is refused as revoked and listed.
CREATE TABLE access_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    scope        TEXT NOT NULL,            -- 'read' or 'read-write'
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX access_tokens_by_user ON access_tokens (user_id);
