//! What several nodes on one store rely on, on both backends: the change sequence that search
//! indexes follow, the leases that elect one node for the schedules, and `store copy` (every
//! column copied, and a round trip SQLite → PostgreSQL → SQLite that keeps every row).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::address;
use paperboy_core::subscription::Preferences;
use paperboy_core::{PaperDraft, PaperRecord, Source};
use paperboy_store::copy::{CopyProgress, CopyStore, NOT_COPIED, TABLES, copy_store};
use paperboy_store::{AccountStore, MailStore, PaperStore, Store};

fn record(id: &str, title: &str) -> PaperRecord {
    PaperDraft {
        arxiv_id: Some(id.to_owned()),
        title: Some(title.into()),
        abstract_text: Some(format!("Abstract of {title}.")),
        authors: vec!["Ada Lovelace".into()],
        categories: vec!["cs.IR".into()],
        ..PaperDraft::default()
    }
    .finish(Source::ArxivApi)
    .unwrap()
}

async fn every_insert_change_and_hiding_is_a_later_change(store: &dyn Store) {
    assert_eq!(store.latest_paper_change().await.unwrap(), 0);
    store
        .upsert_papers(vec![
            record("2101.00001", "One"),
            record("2101.00002", "Two"),
        ])
        .await
        .unwrap();
    let first = store.paper_changes_after(0, 100).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first[0].seq < first[1].seq);
    let after_inserts = store.latest_paper_change().await.unwrap();
    assert_eq!(after_inserts, first[1].seq);

    // Nothing new: nothing to apply.
    assert!(
        store
            .paper_changes_after(after_inserts, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // A changed paper comes again, alone, with a later number.
    store
        .upsert_papers(vec![record("2101.00002", "Two, revised")])
        .await
        .unwrap();
    let changed = store.paper_changes_after(after_inserts, 100).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].paper.record.title, "Two, revised");
    assert!(changed[0].seq > after_inserts);

    // Hiding is a change too, and the paper comes flagged; showing it again is another.
    let hidden = first[0].paper.id;
    assert!(
        store
            .set_paper_hidden(hidden, true, Utc::now())
            .await
            .unwrap()
    );
    let changes = store
        .paper_changes_after(changed[0].seq, 100)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].paper.id, hidden);
    assert!(changes[0].paper.hidden);
    assert!(
        store
            .set_paper_hidden(hidden, false, Utc::now())
            .await
            .unwrap()
    );
    let shown = store
        .paper_changes_after(changes[0].seq, 100)
        .await
        .unwrap();
    assert_eq!(shown.len(), 1);
    assert!(!shown[0].paper.hidden);

    // The limit pages through them in order of their latest change: the revised paper's
    // change is now older than the hidden-and-shown one's.
    let paged = store.paper_changes_after(0, 1).await.unwrap();
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].paper.id, changed[0].paper.id);
}

async fn one_holder_at_a_time_until_its_lease_expires_or_is_released(store: &dyn Store) {
    let long = Duration::from_secs(60);
    assert!(
        store
            .claim_lease("schedules", "node-a", long)
            .await
            .unwrap()
    );
    // Renewing is claiming again.
    assert!(
        store
            .claim_lease("schedules", "node-a", long)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_lease("schedules", "node-b", long)
            .await
            .unwrap()
    );
    // Another lease is independent.
    assert!(store.claim_lease("other", "node-b", long).await.unwrap());

    // Released: the next claimant gets it at once.
    store.release_lease("schedules", "node-a").await.unwrap();
    assert!(
        store
            .claim_lease("schedules", "node-b", Duration::from_millis(300))
            .await
            .unwrap()
    );
    // Releasing someone else's lease does nothing.
    store.release_lease("schedules", "node-a").await.unwrap();
    assert!(
        !store
            .claim_lease("schedules", "node-a", long)
            .await
            .unwrap()
    );

    // Not renewed: it expires and another takes it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        store
            .claim_lease("schedules", "node-a", long)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_lease("schedules", "node-b", long)
            .await
            .unwrap()
    );
}

async fn requests_are_counted_per_key_in_fixed_windows(store: &dyn Store) {
    let hour = Duration::from_secs(3600);
    for _ in 0..3 {
        assert_eq!(
            store
                .count_request("sign_in 192.0.2.1", 3, hour)
                .await
                .unwrap(),
            None
        );
    }
    let wait = store
        .count_request("sign_in 192.0.2.1", 3, hour)
        .await
        .unwrap()
        .expect("the fourth request is over the limit");
    assert!(wait > Duration::from_secs(3500) && wait <= hour, "{wait:?}");
    // Another client, or another limit for the same client, counts apart.
    assert_eq!(
        store
            .count_request("sign_in 192.0.2.2", 3, hour)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .count_request("subscribe 192.0.2.1", 3, hour)
            .await
            .unwrap(),
        None
    );

    // When the window ends, counting starts again.
    let short = Duration::from_millis(300);
    assert_eq!(store.count_request("short", 1, short).await.unwrap(), None);
    assert!(
        store
            .count_request("short", 1, short)
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.count_request("short", 1, short).await.unwrap(), None);
}

async fn every_column_of_the_schema_is_copied(store: &dyn Store) {
    let columns = store.schema_columns().await.unwrap();
    assert!(!columns.is_empty());
    for (table, column) in &columns {
        if NOT_COPIED.contains(&table.as_str()) {
            continue;
        }
        let spec = TABLES
            .iter()
            .find(|spec| spec.name == table)
            .unwrap_or_else(|| panic!("table {table} is not in copy::TABLES"));
        assert!(
            spec.columns.iter().any(|(name, _)| name == column),
            "column {table}.{column} is not in copy::TABLES"
        );
    }
    for spec in TABLES {
        for (name, _) in spec.columns {
            assert!(
                columns
                    .iter()
                    .any(|(table, column)| table == spec.name && column == name),
                "copy::TABLES names {}.{name}, which the schema lacks",
                spec.name
            );
        }
    }
}

common::on_both_backends!(
    every_insert_change_and_hiding_is_a_later_change,
    one_holder_at_a_time_until_its_lease_expires_or_is_released,
    requests_are_counted_per_key_in_fixed_windows,
    every_column_of_the_schema_is_copied,
);

struct Quiet;

impl CopyProgress for Quiet {
    fn table(&self, _name: &str, _rows: u64, _already: u64) {}
    fn copied(&self, _rows: u64) {}
}

/// Every row of every copied table, as values, table by table.
async fn all_rows(store: &dyn Store) -> Vec<(String, Vec<Vec<paperboy_store::copy::Value>>)> {
    let mut tables = Vec::new();
    for table in TABLES {
        let mut rows = Vec::new();
        let mut after: Option<Vec<paperboy_store::copy::Value>> = None;
        loop {
            let batch = store.rows_after(table, after.as_deref()).await.unwrap();
            let Some(last) = batch.last() else { break };
            after = Some(
                table
                    .key
                    .iter()
                    .map(|key| {
                        let position = table.columns.iter().position(|(name, _)| name == key);
                        last[position.unwrap()].clone()
                    })
                    .collect(),
            );
            rows.extend(batch);
        }
        tables.push((table.name.to_owned(), rows));
    }
    tables
}

#[tokio::test]
async fn a_copy_to_postgres_and_back_keeps_every_row() {
    let (_dir, sqlite) = common::sqlite().await;
    let now = Utc::now();
    sqlite
        .upsert_papers(
            (0..30)
                .map(|n| record(&format!("2101.{n:05}"), &format!("Paper {n}")))
                .collect(),
        )
        .await
        .unwrap();
    sqlite
        .put_embeddings(&[("hash-a".into(), vec![0.25, -1.0, 3.5])])
        .await
        .unwrap();
    let admin = sqlite
        .add_user(&address("admin@example.org"), true, now)
        .await
        .unwrap();
    let paper = sqlite.papers_after(None, 1).await.unwrap().remove(0);
    sqlite
        .set_vote(admin.id, paper.id, true, now)
        .await
        .unwrap()
        .unwrap();
    sqlite
        .set_saved(admin.id, paper.id, true, now)
        .await
        .unwrap();
    sqlite.set_paper_hidden(paper.id, true, now).await.unwrap();
    sqlite
        .add_confirmed_subscribers(
            &[(address("reader@example.org"), Preferences::default())],
            now,
        )
        .await
        .unwrap();
    let key = sqlite.secret("link-key", b"0123456789").await.unwrap();

    let (_database, postgres) = common::postgres().await;
    let report = copy_store(&sqlite, &postgres, "sqlite://test", &Quiet)
        .await
        .unwrap();
    assert!(!report.resumed);
    assert_eq!(
        report
            .tables
            .iter()
            .find(|(name, _)| name == "papers")
            .unwrap()
            .1,
        30
    );
    // The copy is refused a second time: the target holds data now.
    assert!(
        copy_store(&sqlite, &postgres, "sqlite://test", &Quiet)
            .await
            .is_err()
    );
    // New ids follow the copied ones.
    let later = postgres
        .add_user(&address("later@example.org"), false, now)
        .await
        .unwrap();
    assert!(later.id.0 > admin.id.0);
    assert_eq!(postgres.secret("link-key", b"other").await.unwrap(), key);
    assert_eq!(
        postgres
            .paper(paper.id)
            .await
            .unwrap()
            .unwrap()
            .local_upvotes,
        1
    );

    let (_back_dir, back) = common::sqlite().await;
    copy_store(&postgres, &back, "postgres://test", &Quiet)
        .await
        .unwrap();
    let mut original = all_rows(&sqlite).await;
    let returned = all_rows(&back).await;
    // The user added on PostgreSQL came back too; everything else is as it was.
    let users = original
        .iter_mut()
        .find(|(name, _)| name == "users")
        .unwrap();
    assert_eq!(
        users.1.len() + 1,
        returned
            .iter()
            .find(|(name, _)| name == "users")
            .unwrap()
            .1
            .len()
    );
    for ((name, rows), (_, back_rows)) in original.iter().zip(&returned) {
        if name != "users" {
            assert_eq!(rows, back_rows, "table {name}");
        }
    }
}

#[tokio::test]
async fn an_interrupted_copy_resumes_where_it_stopped() {
    let (_dir, sqlite) = common::sqlite().await;
    sqlite
        .upsert_papers(
            (0..25)
                .map(|n| record(&format!("2102.{n:05}"), &format!("Paper {n}")))
                .collect(),
        )
        .await
        .unwrap();
    let (_database, postgres) = common::postgres().await;
    // What a copy stopped after its first batches leaves: its record, and some of the papers
    // with their categories.
    postgres.record_copy("sqlite://test", false).await.unwrap();
    let papers = &TABLES[0];
    let first = sqlite.rows_after(papers, None).await.unwrap();
    postgres.insert_rows(papers, &first[..10]).await.unwrap();

    // Another source is refused; the same one resumes.
    assert!(
        copy_store(&sqlite, &postgres, "sqlite://other", &Quiet)
            .await
            .is_err()
    );
    let report = copy_store(&sqlite, &postgres, "sqlite://test", &Quiet)
        .await
        .unwrap();
    assert!(report.resumed);
    assert_eq!(postgres.count_papers().await.unwrap(), 25);
    assert_eq!(all_rows(&sqlite).await, all_rows(&postgres).await);
}
