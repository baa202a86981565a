-- Papers: one row per paper, keyed by arXiv id when it has one, else by its title key.
CREATE TABLE papers (
    id               INTEGER PRIMARY KEY,
    arxiv_id         TEXT UNIQUE,
    version          INTEGER,
    title            TEXT NOT NULL,
    title_key        TEXT NOT NULL,
    abstract         TEXT NOT NULL,
    authors          TEXT NOT NULL,              -- JSON array of names, in order
    published        TEXT,                       -- YYYY-MM-DD, first version
    updated          TEXT,                       -- YYYY-MM-DD, latest version
    sort_date        TEXT,                       -- latest listing date, else published
    doi              TEXT,
    journal_ref      TEXT,
    comment          TEXT,
    code_url         TEXT,
    project_url      TEXT,
    github_stars     INTEGER,
    external_upvotes INTEGER NOT NULL DEFAULT 0,
    source           TEXT NOT NULL,
    change_seq       INTEGER NOT NULL,           -- increases on every insert or change
    first_seen_at    TEXT NOT NULL,              -- RFC 3339, when the store first had it
    changed_at       TEXT NOT NULL               -- RFC 3339, last insert or change
);
-- Papers known only by title are found by their key; the few lookups of a title among papers
-- with arXiv ids (importing a listing) scan the table instead of every insert paying for an index.
CREATE INDEX papers_title_key_without_id ON papers (title_key) WHERE arxiv_id IS NULL;
CREATE INDEX papers_sort_date ON papers (sort_date DESC, external_upvotes DESC, id DESC);
CREATE INDEX papers_change_seq ON papers (change_seq);

-- arXiv categories of a paper; position 0 is the primary category.
CREATE TABLE paper_categories (
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (paper_id, position)
) WITHOUT ROWID;
CREATE INDEX paper_categories_category ON paper_categories (category, paper_id);

-- Days on which a paper appeared in a daily list.
CREATE TABLE paper_listings (
    paper_id     INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    listing_date TEXT NOT NULL,
    PRIMARY KEY (paper_id, listing_date)
) WITHOUT ROWID;
CREATE INDEX paper_listings_date ON paper_listings (listing_date, paper_id);
