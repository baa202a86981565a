-- Sentence embeddings, keyed by a hash of the model and the embedded text: an unchanged paper is
-- never embedded twice (re-imports, reindexing), and the index can always be rebuilt from here.
CREATE TABLE embeddings (
    content_hash TEXT PRIMARY KEY,
    vector       BLOB NOT NULL              -- little-endian f32 values
) WITHOUT ROWID;
