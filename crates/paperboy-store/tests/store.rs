//! The store contract. Each check takes a `&dyn Store` and runs on every backend (see
//! `common::on_both_backends`): SQLite on a temporary file, PostgreSQL on a new database.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::NaiveDate;
use common::at;
use paperboy_core::{ArxivId, PaperDraft, PaperKey, PaperRecord, Source};
use paperboy_store::harvest::{HarvestOutcome, HarvestState};
use paperboy_store::{PaperQuery, PaperStore, SqliteStore, Store, UpsertSummary};

fn paper(id: Option<&str>, title: &str) -> PaperDraft {
    PaperDraft {
        arxiv_id: id.map(str::to_owned),
        title: Some(title.into()),
        abstract_text: Some(format!("Abstract of {title}.")),
        authors: vec!["Ada Lovelace".into(), "Alan Turing".into()],
        ..PaperDraft::default()
    }
}

fn finish(draft: PaperDraft, source: Source) -> PaperRecord {
    draft.finish(source).unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn summary(inserted: u64, updated: u64, unchanged: u64) -> UpsertSummary {
    UpsertSummary {
        inserted,
        updated,
        unchanged,
    }
}

async fn upserting_the_same_records_twice_changes_nothing(store: &dyn Store) {
    let records = vec![
        finish(
            PaperDraft {
                categories: vec!["cs.LG".into(), "stat.ML".into()],
                primary_category: Some("stat.ML".into()),
                listing_dates: vec!["2024-05-27".into(), "2024-05-28".into()],
                published: Some("2024-05-24".into()),
                code_url: Some("https://github.com/a/b".into()),
                github_stars: Some(12),
                external_upvotes: Some(30),
                doi: Some("10.1/abc".into()),
                ..paper(Some("2405.15738v2"), "ConvLLaVA")
            },
            Source::HfDaily,
        ),
        finish(paper(None, "A paper known by title"), Source::Listing),
    ];
    assert_eq!(
        store.upsert_papers(records.clone()).await.unwrap(),
        summary(2, 0, 0)
    );
    assert_eq!(
        store.upsert_papers(records.clone()).await.unwrap(),
        summary(0, 0, 2)
    );
    assert_eq!(store.count_papers().await.unwrap(), 2);

    let stored = store
        .paper_by_arxiv_id(&ArxivId::parse("2405.15738").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.record, records[0],
        "every field survives the round trip"
    );
    assert_eq!(stored.record.categories, ["stat.ML", "cs.LG"]);
    assert_eq!(store.paper(stored.id).await.unwrap().unwrap(), stored);
}

async fn a_newer_version_replaces_an_older_one(store: &dyn Store) {
    let v1 = finish(
        PaperDraft {
            categories: vec!["cs.IR".into()],
            ..paper(Some("2101.00001v1"), "First title")
        },
        Source::ArxivApi,
    );
    let v2 = finish(
        paper(Some("2101.00001v2"), "Second title"),
        Source::ArxivApi,
    );
    store.upsert_papers(vec![v1.clone()]).await.unwrap();
    assert_eq!(
        store.upsert_papers(vec![v2]).await.unwrap(),
        summary(0, 1, 0)
    );
    assert_eq!(
        store.upsert_papers(vec![v1]).await.unwrap(),
        summary(0, 0, 1),
        "an older version changes nothing"
    );
    let stored = store
        .paper_by_arxiv_id(&ArxivId::parse("2101.00001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.record.title, "Second title");
    assert_eq!(stored.record.version, Some(2));
    assert_eq!(
        stored.record.categories,
        ["cs.IR"],
        "fields the newer version lacks are kept"
    );
}

async fn papers_without_ids_are_deduplicated_by_title(store: &dyn Store) {
    store
        .upsert_papers(vec![finish(
            paper(None, "Attention Is All You Need"),
            Source::Listing,
        )])
        .await
        .unwrap();
    let outcome = store
        .upsert_papers(vec![finish(
            paper(None, "attention is all you need."),
            Source::Listing,
        )])
        .await
        .unwrap();
    assert_eq!(outcome.inserted, 0);
    assert_eq!(store.count_papers().await.unwrap(), 1);
    // Later the paper arrives from arXiv: it takes over the row instead of adding a second one.
    let outcome = store
        .upsert_papers(vec![finish(
            paper(Some("1706.03762"), "Attention Is All You Need"),
            Source::ArxivApi,
        )])
        .await
        .unwrap();
    assert_eq!(outcome, summary(0, 1, 0));
    assert_eq!(store.count_papers().await.unwrap(), 1);
    assert!(
        store
            .paper_by_arxiv_id(&ArxivId::parse("1706.03762").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

async fn listing_dates_accumulate_across_imports(store: &dyn Store) {
    let day = |listing: &str, upvotes: i64| {
        finish(
            PaperDraft {
                listing_dates: vec![listing.into()],
                external_upvotes: Some(upvotes),
                ..paper(Some("2604.07429"), "Listed twice")
            },
            Source::HfDaily,
        )
    };
    store
        .upsert_papers(vec![day("2026-04-16", 42)])
        .await
        .unwrap();
    assert_eq!(
        store
            .upsert_papers(vec![day("2026-04-10", 2)])
            .await
            .unwrap(),
        summary(0, 1, 0)
    );
    let stored = store
        .paper_by_arxiv_id(&ArxivId::parse("2604.07429").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored
            .record
            .listing_dates
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [date("2026-04-10"), date("2026-04-16")]
    );
    assert_eq!(stored.record.external_upvotes, 42);
    assert_eq!(
        store.listing_dates().await.unwrap(),
        [date("2026-04-10"), date("2026-04-16")],
        "each listing day once, oldest first"
    );
    let by_key = |key: &str| {
        let key = PaperKey::parse(key).unwrap();
        async move { paperboy_store::paper_by_key(store, &key).await.unwrap() }
    };
    assert_eq!(by_key("arXiv:2604.07429v3").await.unwrap().id, stored.id);
    assert_eq!(by_key(&stored.id.to_string()).await.unwrap().id, stored.id);
    assert!(by_key("2604.99999").await.is_none());
    assert!(by_key("999999").await.is_none());
    assert!(PaperKey::parse("<script>").is_err());
}

async fn lists_newest_first_with_filters(store: &dyn Store) {
    let dated = |id: &str, published: &str, categories: &[&str]| {
        finish(
            PaperDraft {
                published: Some(published.into()),
                categories: categories.iter().map(|c| c.to_string()).collect(),
                ..paper(Some(id), &format!("Paper {id}"))
            },
            Source::ArxivMetadata,
        )
    };
    store
        .upsert_papers(vec![
            dated("1901.00001", "2019-01-05", &["cs.IR"]),
            dated("1901.00002", "2019-01-20", &["cs.DL", "cs.IR"]),
            dated("1902.00001", "2019-02-10", &["physics.soc-ph"]),
            finish(paper(None, "Undated"), Source::Listing),
        ])
        .await
        .unwrap();
    let ids = |papers: Vec<paperboy_core::Paper>| -> Vec<String> {
        papers
            .into_iter()
            .map(|p| {
                p.record
                    .arxiv_id
                    .map_or_else(|| p.record.title, |id| id.to_string())
            })
            .collect()
    };
    let all = store
        .list_papers(&PaperQuery {
            limit: 10,
            ..PaperQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(all),
        ["1902.00001", "1901.00002", "1901.00001", "Undated"]
    );

    let january = PaperQuery {
        from: Some(date("2019-01-01")),
        until: Some(date("2019-01-31")),
        limit: 10,
        ..PaperQuery::default()
    };
    assert_eq!(
        ids(store.list_papers(&january).await.unwrap()),
        ["1901.00002", "1901.00001"]
    );

    let cs_ir = PaperQuery {
        category: Some("cs.IR".into()),
        limit: 10,
        ..PaperQuery::default()
    };
    assert_eq!(
        ids(store.list_papers(&cs_ir).await.unwrap()),
        ["1901.00002", "1901.00001"]
    );
    let cs = PaperQuery {
        category: Some("cs".into()),
        limit: 10,
        ..PaperQuery::default()
    };
    assert_eq!(
        ids(store.list_papers(&cs).await.unwrap()),
        ["1901.00002", "1901.00001"]
    );
    let physics = PaperQuery {
        category: Some("physics".into()),
        limit: 10,
        ..PaperQuery::default()
    };
    assert_eq!(
        ids(store.list_papers(&physics).await.unwrap()),
        ["1902.00001"]
    );
    // As in a search's filter: case counts, and no character is a wildcard.
    for category in ["CS", "cs.ir", "c_", "c%", "cs.%"] {
        let query = PaperQuery {
            category: Some(category.into()),
            limit: 10,
            ..PaperQuery::default()
        };
        assert!(
            store.list_papers(&query).await.unwrap().is_empty(),
            "{category}"
        );
    }

    let page = PaperQuery {
        limit: 2,
        offset: 1,
        ..PaperQuery::default()
    };
    assert_eq!(
        ids(store.list_papers(&page).await.unwrap()),
        ["1901.00002", "1901.00001"]
    );

    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let chunk = store.papers_after(after, 3).await.unwrap();
        let Some(last) = chunk.last() else { break };
        after = Some(last.id);
        walked.extend(chunk);
    }
    assert_eq!(walked.len(), 4);
    assert!(walked.windows(2).all(|pair| pair[0].id < pair[1].id));
}

async fn a_date_window_finds_papers_by_any_listing_date(store: &dyn Store) {
    let listed = |id: &str, dates: &[&str], published: &str| {
        finish(
            PaperDraft {
                listing_dates: dates.iter().map(|d| d.to_string()).collect(),
                published: Some(published.into()),
                ..paper(Some(id), &format!("Paper {id}"))
            },
            Source::HfDaily,
        )
    };
    store
        .upsert_papers(vec![
            listed("2608.12313", &["2026-08-13", "2026-08-19"], "2026-08-12"),
            listed("2608.10000", &["2026-08-14"], "2026-08-13"),
        ])
        .await
        .unwrap();
    let day = PaperQuery {
        from: Some(date("2026-08-13")),
        until: Some(date("2026-08-13")),
        limit: 10,
        ..PaperQuery::default()
    };
    let found: Vec<String> = store
        .list_papers(&day)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.record.arxiv_id.unwrap().to_string())
        .collect();
    assert_eq!(
        found,
        ["2608.12313"],
        "listed papers are dated by their listings, not publication"
    );
}

async fn concurrent_writers_queue_instead_of_failing(store: &dyn Store) {
    let batches: Vec<Vec<PaperRecord>> = (0..8)
        .map(|writer| {
            (0..50)
                .map(|n| {
                    finish(
                        paper(
                            Some(&format!("2201.{:05}", writer * 100 + n)),
                            &format!("P{writer}-{n}"),
                        ),
                        Source::ArxivApi,
                    )
                })
                .collect()
        })
        .collect();
    let results =
        futures_util::future::join_all(batches.into_iter().map(|batch| store.upsert_papers(batch)))
            .await;
    for result in results {
        assert_eq!(result.unwrap().inserted, 50);
    }
    assert_eq!(store.count_papers().await.unwrap(), 400);
}

async fn embeddings_are_kept_by_content_hash(store: &dyn Store) {
    let vector: Vec<f32> = (0..384).map(|i| i as f32 / 384.0 - 0.5).collect();
    store
        .put_embeddings(&[
            ("a".repeat(32), vector.clone()),
            ("b".repeat(32), vec![1.0, -2.5]),
        ])
        .await
        .unwrap();
    store
        .put_embeddings(&[("a".repeat(32), vec![9.0])])
        .await
        .unwrap();
    let found = store
        .embeddings(&["a".repeat(32), "b".repeat(32), "c".repeat(32)])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[&"a".repeat(32)],
        vector,
        "the first vector stored for a hash stays"
    );
    assert_eq!(found[&"b".repeat(32)], [1.0, -2.5]);

    // Sentence vectors are kept apart: a paper can have its vector and not yet its sentences.
    assert!(
        store
            .sentence_embeddings(&["a".repeat(32)])
            .await
            .unwrap()
            .is_empty()
    );
    store
        .put_sentence_embeddings(&[("a".repeat(32), vec![1, 2, 3]), ("c".repeat(32), vec![])])
        .await
        .unwrap();
    store
        .put_sentence_embeddings(&[("a".repeat(32), vec![9])])
        .await
        .unwrap();
    let sentences = store
        .sentence_embeddings(&["a".repeat(32), "b".repeat(32), "c".repeat(32)])
        .await
        .unwrap();
    assert_eq!(sentences.len(), 2);
    assert_eq!(
        sentences[&"a".repeat(32)],
        [1, 2, 3],
        "the first blob stored stays"
    );
    assert!(sentences[&"c".repeat(32)].is_empty());
}

async fn a_harvested_page_and_where_the_harvest_continues_are_stored_together(store: &dyn Store) {
    let now = at("2026-11-28T06:00:00Z");
    assert_eq!(store.harvest_state("arxiv:cs").await.unwrap(), None);
    let page = |ids: &[&str]| -> Vec<PaperRecord> {
        ids.iter()
            .map(|id| {
                finish(
                    paper(Some(id), &format!("Harvested {id}")),
                    Source::ArxivMetadata,
                )
            })
            .collect()
    };
    assert_eq!(
        store
            .store_harvest_page(
                "arxiv:cs",
                page(&["2611.00001", "2611.00002"]),
                Some("{\"token\":\"a\"}"),
                now
            )
            .await
            .unwrap(),
        summary(2, 0, 0)
    );
    let later = now + chrono::Duration::minutes(1);
    assert_eq!(
        store
            .store_harvest_page(
                "arxiv:cs",
                page(&["2611.00002", "2611.00003"]),
                Some("{\"token\":\"b\"}"),
                later
            )
            .await
            .unwrap(),
        summary(1, 0, 1)
    );
    assert_eq!(store.count_papers().await.unwrap(), 3);
    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(
        state,
        HarvestState {
            source: "arxiv:cs".into(),
            cursor: None,
            pending: Some("{\"token\":\"b\"}".into()),
            last_run_at: Some(later),
            last_success_at: None,
            last_error: None,
            runs: 0,
            failures: 0,
            records: 4,
        }
    );

    // A failure keeps where the harvest continues; a success clears it and moves the cursor.
    let failed = later + chrono::Duration::minutes(1);
    store
        .finish_harvest(
            "arxiv:cs",
            HarvestOutcome::Failed {
                error: "503 from arXiv".into(),
            },
            failed,
        )
        .await
        .unwrap();
    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(state.pending.as_deref(), Some("{\"token\":\"b\"}"));
    assert_eq!(state.last_error.as_deref(), Some("503 from arXiv"));
    assert_eq!((state.runs, state.failures), (1, 1));
    let succeeded = failed + chrono::Duration::hours(1);
    store
        .finish_harvest(
            "arxiv:cs",
            HarvestOutcome::Succeeded {
                cursor: Some("2026-11-27".into()),
            },
            succeeded,
        )
        .await
        .unwrap();
    store
        .finish_harvest("hf", HarvestOutcome::Succeeded { cursor: None }, succeeded)
        .await
        .unwrap();
    let states = store.harvest_states().await.unwrap();
    assert_eq!(
        states.iter().map(|s| s.source.as_str()).collect::<Vec<_>>(),
        ["arxiv:cs", "hf"]
    );
    let arxiv = &states[0];
    assert_eq!(arxiv.cursor.as_deref(), Some("2026-11-27"));
    assert_eq!(arxiv.pending, None);
    assert_eq!(arxiv.last_error, None);
    assert_eq!(arxiv.last_success_at, Some(succeeded));
    assert_eq!((arxiv.runs, arxiv.failures, arxiv.records), (2, 1, 4));
    // A success without a cursor keeps the one before.
    store
        .finish_harvest(
            "arxiv:cs",
            HarvestOutcome::Succeeded { cursor: None },
            succeeded,
        )
        .await
        .unwrap();
    let arxiv = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(arxiv.cursor.as_deref(), Some("2026-11-27"));
    assert_eq!(states[1].runs, 1);
}

async fn every_table_is_counted_and_a_sound_store_has_no_problems(store: &dyn Store) {
    store
        .upsert_papers(vec![
            finish(
                PaperDraft {
                    categories: vec!["cs.IR".into(), "cs.DL".into()],
                    ..paper(Some("2101.00001"), "Counted")
                },
                Source::ArxivApi,
            ),
            finish(paper(None, "Counted too"), Source::Listing),
        ])
        .await
        .unwrap();
    let counts = store.table_counts().await.unwrap();
    assert_eq!(
        counts
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        [
            "_sqlx_migrations",
            "access_tokens",
            "digest_items",
            "embeddings",
            "folder_ratings",
            "folders",
            "harvest_sources",
            "leases",
            "outbox",
            "paper_categories",
            "paper_listings",
            "papers",
            "rate_limits",
            "saved_papers",
            "sentence_embeddings",
            "sessions",
            "settings",
            "sign_in_requests",
            "store_copies",
            "subscribers",
            "subscription_requests",
            "users",
            "votes",
        ],
        "the same tables, by name, on every backend"
    );
    let count = |table: &str| counts.iter().find(|(name, _)| name == table).unwrap().1;
    assert_eq!(count("papers"), 2);
    assert_eq!(count("paper_categories"), 2);
    assert_eq!(count("votes"), 0);
    assert!(count("_sqlx_migrations") >= 1);
    assert_eq!(
        store.integrity_problems().await.unwrap(),
        Vec::<String>::new()
    );
}

common::on_both_backends!(
    upserting_the_same_records_twice_changes_nothing,
    a_newer_version_replaces_an_older_one,
    papers_without_ids_are_deduplicated_by_title,
    listing_dates_accumulate_across_imports,
    lists_newest_first_with_filters,
    a_date_window_finds_papers_by_any_listing_date,
    concurrent_writers_queue_instead_of_failing,
    embeddings_are_kept_by_content_hash,
    a_harvested_page_and_where_the_harvest_continues_are_stored_together,
    every_table_is_counted_and_a_sound_store_has_no_problems,
);

/// SQLite only: the store is a file that outlives its process.
#[tokio::test]
async fn reopening_keeps_the_data_and_skips_applied_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paperboy.sqlite3");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .upsert_papers(vec![finish(
            paper(Some("2101.00001"), "Kept"),
            Source::ArxivApi,
        )])
        .await
        .unwrap();
    store.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.count_papers().await.unwrap(), 1);
}
