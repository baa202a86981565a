//! A node's index following the store: papers stored and changed after the index was built are
//! put in it from their stored embeddings, a paper nobody embedded waits until the node given
//! an embedder embeds it, and what was applied survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use paperboy_core::{PaperDraft, PaperRecord, Source};
use paperboy_search::follow::{Follower, embed_changed_after};
use paperboy_search::indexing::{Silent, build_search_index};
use paperboy_search::{Embedder, Mode, ModelDir, Query, SearchIndex, Searcher};
use paperboy_store::{PaperStore, SqliteStore};

fn model() -> ModelDir {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    ModelDir::from_env_or_cache(&cache)
        .expect("the model (PAPERBOY_MODEL_DIR, or fetched with python3 -m pip)")
}

fn paper(arxiv_id: &str, title: &str, abstract_text: &str) -> PaperRecord {
    PaperDraft {
        arxiv_id: Some(arxiv_id.into()),
        title: Some(title.into()),
        abstract_text: Some(abstract_text.into()),
        authors: vec!["Ada Lovelace".into()],
        ..PaperDraft::default()
    }
    .finish(Source::ArxivApi)
    .unwrap()
}

fn keyword_hits(index: &Arc<SearchIndex>, text: &str) -> Vec<i64> {
    Searcher::new(Arc::clone(index), None)
        .search(&Query::new(text).mode(Mode::Keyword))
        .unwrap()
        .hits
        .iter()
        .map(|hit| hit.id.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_follows_papers_stored_and_changed_after_it_was_built() {
    let data = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&data.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    store
        .upsert_papers(vec![
            paper(
                "2101.00001",
                "Graph neural networks for molecules",
                "We predict molecular properties with message passing.",
            ),
            paper(
                "2101.00002",
                "Sparse attention for long documents",
                "Transformers read long documents with sparse attention.",
            ),
        ])
        .await
        .unwrap();
    let embedder = Arc::new(Embedder::load(&model()).unwrap());
    let dir = data.path().join("index");
    let (built, _) = build_search_index(&store, Arc::clone(&embedder), &Silent, &dir)
        .await
        .unwrap();
    let mut index = Arc::new(built);
    let mut follower = Follower::new(&dir).with_grace(Duration::ZERO);
    assert_eq!(
        follower.applied(),
        store.latest_paper_change().await.unwrap()
    );

    // Nothing changed: nothing to do.
    let caught_up = follower.catch_up(&store, &index, None).await.unwrap();
    assert!(caught_up.index.is_none());

    // A revised paper and a new one, embedded by whoever stored them.
    let before = store.latest_paper_change().await.unwrap();
    store
        .upsert_papers(vec![
            PaperRecord {
                version: Some(2),
                ..paper(
                    "2101.00001",
                    "Equivariant message passing for crystals",
                    "We predict crystal properties with equivariant message passing.",
                )
            },
            paper(
                "2101.00003",
                "Retrieval augmented question answering",
                "A retriever feeds passages to a reader that answers questions.",
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        embed_changed_after(&store, &embedder, before)
            .await
            .unwrap(),
        2
    );
    let caught_up = follower.catch_up(&store, &index, None).await.unwrap();
    assert_eq!(
        (caught_up.applied, caught_up.embedded, caught_up.waiting),
        (2, 0, 0)
    );
    index = Arc::new(caught_up.index.unwrap());
    let revised = store
        .paper_by_arxiv_id(&"2101.00001".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let new = store
        .paper_by_arxiv_id(&"2101.00003".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(keyword_hits(&index, "crystals"), [revised.id.0]);
    assert!(
        keyword_hits(&index, "molecules").is_empty(),
        "the old text is gone"
    );
    assert_eq!(keyword_hits(&index, "retriever"), [new.id.0]);
    assert_eq!(index.vectors.len(), 3);
    let semantic = Searcher::new(Arc::clone(&index), Some(Arc::clone(&embedder)))
        .search(&Query::new("answering questions from retrieved passages").mode(Mode::Semantic))
        .unwrap();
    assert_eq!(semantic.hits[0].id, new.id);

    // Stored with nobody embedding it: it waits while the follower has no embedder, and the
    // one with an embedder embeds it once it has waited long enough.
    store
        .upsert_papers(vec![paper(
            "2101.00004",
            "Diffusion models for audio",
            "Audio is generated by denoising diffusion.",
        )])
        .await
        .unwrap();
    let caught_up = follower.catch_up(&store, &index, None).await.unwrap();
    assert_eq!((caught_up.applied, caught_up.waiting), (0, 1));
    assert!(caught_up.index.is_none());
    let caught_up = follower
        .catch_up(&store, &index, Some(&embedder))
        .await
        .unwrap();
    assert_eq!(
        (caught_up.applied, caught_up.embedded, caught_up.waiting),
        (1, 1, 0)
    );
    index = Arc::new(caught_up.index.unwrap());
    assert_eq!(keyword_hits(&index, "diffusion").len(), 1);

    // What was applied is on disk: a restarted node starts from there.
    let latest = store.latest_paper_change().await.unwrap();
    assert_eq!(Follower::new(&dir).applied(), latest);
    let reopened = Arc::new(SearchIndex::open(&dir).unwrap());
    assert_eq!(reopened.vectors.len(), 4);
    assert_eq!(keyword_hits(&reopened, "crystals"), [revised.id.0]);
    assert!(
        Follower::new(&dir)
            .catch_up(&store, &reopened, None)
            .await
            .unwrap()
            .index
            .is_none()
    );

    // A rebuild by another command swaps the folder: the follower reads the new one.
    build_search_index(&store, Arc::clone(&embedder), &Silent, &dir)
        .await
        .unwrap();
    let caught_up = follower.catch_up(&store, &index, None).await.unwrap();
    assert!(caught_up.reopened);
    assert_eq!(caught_up.index.unwrap().vectors.len(), 4);
}
