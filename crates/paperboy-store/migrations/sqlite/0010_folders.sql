-- Readers' interest folders, each with the papers rated in it (relevant or not relevant), which
-- its classifier learns from. A name is unique per reader.
CREATE TABLE folders (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE folder_ratings (
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    paper_id  INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    relevant  INTEGER NOT NULL,
    rated_at  TEXT NOT NULL,
    PRIMARY KEY (folder_id, paper_id)
) WITHOUT ROWID;
CREATE INDEX folder_ratings_by_paper ON folder_ratings (paper_id);
