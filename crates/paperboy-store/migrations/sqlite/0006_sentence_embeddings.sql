-- Each paper's sentence vectors (its title and every sentence of its abstract, embedded alone),
-- keyed like `embeddings` by a hash of the model and the paper's text, and kept apart from them:
-- papers embedded before sentences were used have a vector but no row here, and get one at the
-- next reindex without their vector being computed again.
CREATE TABLE sentence_embeddings (
    content_hash TEXT PRIMARY KEY,
    vectors      BLOB NOT NULL              -- encoded by the search crate (paperboy_search::sentences)
) WITHOUT ROWID;
