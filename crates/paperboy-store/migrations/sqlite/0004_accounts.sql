-- Readers who signed in. One row per normalised address, like subscribers: a subscriber and
-- the user of the same address are one person. AUTOINCREMENT: ids are never reused.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT NOT NULL UNIQUE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    hidden_at  TEXT,                      -- hidden by an admin: cannot sign in, votes not counted
    created_at TEXT NOT NULL
);

-- Sign-in links sent and not yet followed. Only the token's SHA-256 is kept.
CREATE TABLE sign_in_requests (
    token_hash BLOB PRIMARY KEY,
    email      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
) WITHOUT ROWID;
CREATE INDEX sign_in_requests_by_email ON sign_in_requests (email, created_at);

-- Signed-in browsers. Only the cookie's SHA-256 is kept.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- One upvote per user and paper, with its time: trending is computed from these events.
CREATE TABLE votes (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    voted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, paper_id)
) WITHOUT ROWID;
CREATE INDEX votes_by_time ON votes (voted_at, paper_id);
CREATE INDEX votes_by_paper ON votes (paper_id);

-- A user's reading list.
CREATE TABLE saved_papers (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    saved_at TEXT NOT NULL,
    PRIMARY KEY (user_id, paper_id)
) WITHOUT ROWID;

-- The count of votes by users who are not hidden, kept with the paper in the same transaction
-- as every vote, so lists sort and show it without counting.
ALTER TABLE papers ADD COLUMN local_upvotes INTEGER NOT NULL DEFAULT 0;
-- Hidden by an admin: left out of lists, searches, trending and digests.
ALTER TABLE papers ADD COLUMN hidden_at TEXT;
