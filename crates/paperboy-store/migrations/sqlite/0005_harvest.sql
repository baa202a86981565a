-- Per harvested source ('arxiv:cs', 'hf'): how far complete harvests got, where a harvest in
-- flight continues (written with each stored page), and how the runs went, for /metrics and
-- /admin.
CREATE TABLE harvest_sources (
    source          TEXT PRIMARY KEY,
    cursor          TEXT,                 -- arXiv: the newest datestamp of complete harvests
    pending         TEXT,                 -- the harvester's resumption state, JSON; NULL when idle
    last_run_at     TEXT,
    last_success_at TEXT,
    last_error      TEXT,                 -- the last run's failure; NULL after a success
    runs            INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    records         INTEGER NOT NULL DEFAULT 0   -- records written by all runs
) WITHOUT ROWID;
