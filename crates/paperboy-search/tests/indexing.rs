//! Building the index from a store: a paper embedded before sentence vectors existed keeps its
//! stored vector and has only its sentences embedded, an index from before them is built again,
//! and a query finds a paper by the one sentence it shares with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use paperboy_core::{PaperDraft, PaperRecord, Source};
use paperboy_search::indexing::{Silent, build_search_index, content_hash};
use paperboy_search::{Embedder, Mode, ModelDir, Query, SearchIndex, Searcher, paper_text};
use paperboy_store::PaperStore;
use paperboy_store::SqliteStore;

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

#[tokio::test(flavor = "multi_thread")]
async fn papers_embedded_before_sentences_get_only_their_sentences() {
    let data = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&data.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    let papers = [
        paper(
            "2401.00001",
            "Training schedules for small language models",
            "We compare learning-rate schedules for models under one billion parameters. \
             Warm-up length matters more than the decay shape. Vitamin D supplements did not \
             change how often the volunteers caught a cold.",
        ),
        paper(
            "2401.00002",
            "Graph neural networks for molecules",
            "Message passing predicts molecular properties. We add edge features for bond types.",
        ),
        paper(
            "2401.00003",
            "A survey of image segmentation",
            "Segmentation assigns a class to every pixel. We review encoder-decoder designs.",
        ),
    ];
    store.upsert_papers(papers.to_vec()).await.unwrap();
    // An earlier version stored a vector for the first paper and no sentences. The vector is
    // marked (a real one is not a unit axis), to tell it from one computed again.
    let marked: Vec<f32> = (0..paperboy_search::DIMENSIONS)
        .map(|i| if i == 0 { 1.0 } else { 0.0 })
        .collect();
    let first_text = paper_text(&papers[0].title, &papers[0].abstract_text);
    store
        .put_embeddings(&[(content_hash(&first_text), marked.clone())])
        .await
        .unwrap();
    // …and left an index without sentence vectors, which counts as none.
    let dir = data.path().join("index");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("facets.json"), "[]").unwrap();
    assert!(!SearchIndex::exists(&dir));

    let embedder = Arc::new(tokio::task::block_in_place(|| Embedder::load(&model())).unwrap());
    let (index, report) = build_search_index(&store, Arc::clone(&embedder), &Silent, &dir)
        .await
        .unwrap();
    assert_eq!((report.papers, report.embedded, report.reused), (3, 3, 0));
    assert!(SearchIndex::exists(&dir));
    assert_eq!(index.sentences.len(), 3);
    let first_id = store
        .papers_after(None, 10)
        .await
        .unwrap()
        .iter()
        .find(|stored| stored.record.arxiv_id == papers[0].arxiv_id)
        .unwrap()
        .id;
    assert_eq!(
        index.vectors.vector_of(first_id),
        Some(marked),
        "the stored vector was used, not computed again"
    );
    // Titles and sentences: 1 + 3, 1 + 2, 1 + 2.
    assert_eq!(index.sentences.sentences(), 10);

    let (_, again) = build_search_index(&store, Arc::clone(&embedder), &Silent, &dir)
        .await
        .unwrap();
    assert_eq!((again.embedded, again.reused), (0, 3));

    // One sentence of the first paper answers the query (its whole text is about something
    // else): every candidate has its best sentence scored, and the first paper's is by far the
    // closest, which ranks it first in both modes that read meaning.
    let reopened = SearchIndex::open(&dir).unwrap();
    let searcher = Searcher::new(Arc::new(reopened), Some(embedder));
    let query = "does vitamin D prevent the common cold";
    let candidates = tokio::task::block_in_place(|| {
        searcher.candidates(&Query::new(query).mode(Mode::Semantic))
    })
    .unwrap();
    assert_eq!(candidates.sentence.len(), 3);
    let (best_id, best) = candidates.sentence[0];
    assert_eq!(best_id, first_id);
    assert!(
        best > 0.5 && candidates.sentence[1].1 < best - 0.3,
        "{:?}",
        candidates.sentence
    );
    for mode in [Mode::Semantic, Mode::Hybrid] {
        let page =
            tokio::task::block_in_place(|| searcher.search(&Query::new(query).mode(mode))).unwrap();
        assert_eq!(page.hits[0].id, first_id, "{mode:?}: {:?}", page.hits);
    }

    // A folder whose vectors an earlier version wrote (before they were mapped) counts as no
    // index, and says why: `serve` builds it again from the stored embeddings. (The file is
    // changed in place here, which the index never does, so nothing may map it meanwhile.)
    drop(searcher);
    drop(index);
    assert!(!SearchIndex::is_outdated(&dir));
    let vectors = dir.join("vectors.bin");
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[..8].copy_from_slice(b"PBVEC001");
    std::fs::write(&vectors, &bytes).unwrap();
    assert!(SearchIndex::is_outdated(&dir));
    assert!(!SearchIndex::exists(&dir));
    assert!(SearchIndex::open(&dir).is_err());
}
