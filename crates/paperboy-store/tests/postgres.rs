//! What only the PostgreSQL store has to get right: many nodes opening one database at once,
//! a database migrated by a newer Paperboy, connections refused, many writers of the same papers,
//! and the checks `paperboy check` runs on it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{TestDatabase, postgres, postgres_server_url, with_database};
use paperboy_core::{PaperDraft, PaperRecord, Source};
use paperboy_store::{POSTGRES_SCHEMA_VERSION, PaperStore, PostgresStore, Store, StoreError};
use sqlx::{Connection, PgConnection};

/// How long a refused connection may take to be reported.
const QUICKLY: Duration = Duration::from_secs(10);

fn record(id: &str) -> PaperRecord {
    PaperDraft {
        arxiv_id: Some(id.into()),
        title: Some(format!("Paper {id}")),
        abstract_text: Some("An abstract.".into()),
        authors: vec!["Ada Lovelace".into()],
        categories: vec!["cs.LG".into()],
        ..PaperDraft::default()
    }
    .finish(Source::ArxivApi)
    .unwrap()
}

/// The error, its sources and its debug form, all the text a log might show of it.
fn everything_said(error: &StoreError) -> String {
    let mut said = format!("{error} / {error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        said.push_str(&format!(" / {cause}"));
        source = cause.source();
    }
    said
}

/// `url` with its password replaced by `password`.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (credentials, host) = rest.rsplit_once('@').unwrap();
    let user = credentials
        .split_once(':')
        .map_or(credentials, |(user, _)| user);
    format!("{scheme}://{user}:{password}@{host}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_nodes_opening_a_new_database_at_once_migrate_it_once() {
    let database = TestDatabase::create().await;
    let opened = futures_util::future::join_all(
        (0..8).map(|_| PostgresStore::open(&database.url, Default::default())),
    )
    .await;
    let stores: Vec<PostgresStore> = opened
        .into_iter()
        .map(|opened| opened.expect("every node opens the database"))
        .collect();
    for store in &stores {
        assert_eq!(
            store.schema_version().await.unwrap(),
            Some(POSTGRES_SCHEMA_VERSION)
        );
    }
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    let expected: Vec<i64> = (1..=POSTGRES_SCHEMA_VERSION).collect();
    assert_eq!(versions, expected, "one row per migration: each ran once");
    connection.close().await.unwrap();
    for store in &stores[1..] {
        store.close().await;
    }
    database.drop_after(&stores[0]).await;
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused() {
    let (database, store) = postgres().await;
    store.close().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from a newer Paperboy', TRUE, '\\x00'::bytea, 0)",
    )
    .bind(POSTGRES_SCHEMA_VERSION + 1)
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    match PostgresStore::open(&database.url, Default::default()).await {
        Err(StoreError::NewerSchema { found, known }) => {
            assert_eq!(found, POSTGRES_SCHEMA_VERSION + 1);
            assert_eq!(known, POSTGRES_SCHEMA_VERSION);
        }
        other => panic!("a newer schema should be refused, not {other:?}"),
    }
    database.drop_after(&store).await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_once_and_never_repeated() {
    let server = postgres_server_url();
    let password = "not-the-Paperboy-password-7f3a";
    let started = Instant::now();
    let error = PostgresStore::open(&with_password(&server, password), Default::default())
        .await
        .expect_err("a wrong password is refused");
    assert!(
        started.elapsed() < QUICKLY,
        "refused after {:?}",
        started.elapsed()
    );
    let said = everything_said(&error);
    assert!(!said.contains(password), "the password leaked: {said}");
    assert!(
        matches!(error, StoreError::Database { .. }),
        "a database error, not {said}"
    );
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_reported_at_once() {
    // A port free a moment ago: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let password = "unreachable-secret-91c2";
    let url = format!("postgres://paperboy:{password}@127.0.0.1:{port}/paperboy");
    let started = Instant::now();
    let error = PostgresStore::open(&url, Default::default())
        .await
        .expect_err("nobody listens on the port");
    assert!(
        started.elapsed() < QUICKLY,
        "reported after {:?}",
        started.elapsed()
    );
    let said = everything_said(&error);
    assert!(!said.contains(password), "the password leaked: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_the_same_new_papers_store_each_once() {
    let (database, store) = postgres().await;
    let ids: Vec<String> = (1..=40).map(|n| format!("2612.{n:05}")).collect();
    let tasks: Vec<_> = (0..6)
        .map(|writer| {
            let store = store.clone();
            // Each writer sends the same papers, in its own order.
            let mut batch: Vec<PaperRecord> = ids.iter().map(|id| record(id)).collect();
            batch.rotate_left(writer * 7);
            tokio::spawn(async move { store.upsert_papers(batch).await })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        let summary = task.await.unwrap().expect("no writer fails");
        assert_eq!(summary.inserted + summary.updated + summary.unchanged, 40);
        inserted += summary.inserted;
    }
    assert_eq!(inserted, 40, "each paper inserted by one writer");
    assert_eq!(store.count_papers().await.unwrap(), 40);

    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let (rows, arxiv_ids, seqs): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT arxiv_id), COUNT(DISTINCT change_seq) FROM papers",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!((rows, arxiv_ids, seqs), (40, 40, 40));
    connection.close().await.unwrap();
    assert!(store.integrity_problems().await.unwrap().is_empty());
    database.drop_after(&store).await;
}

#[tokio::test]
async fn the_check_finds_vote_counts_changed_behind_the_stores_back() {
    let (database, store) = postgres().await;
    store
        .upsert_papers(vec![record("2612.00001"), record("2612.00002")])
        .await
        .unwrap();
    assert!(store.integrity_problems().await.unwrap().is_empty());
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query("UPDATE papers SET local_upvotes = 3 WHERE arxiv_id = '2612.00002'")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("UPDATE papers SET change_seq = 1")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let problems = store.integrity_problems().await.unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("3 stored, 0 counted"), "{problems:?}");
    assert!(problems[1].contains("change sequence"), "{problems:?}");
    database.drop_after(&store).await;
}

#[tokio::test]
async fn backups_are_left_to_postgresql_tools() {
    let (database, store) = postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let error = store
        .backup_to(&dir.path().join("backup.sqlite3"))
        .await
        .expect_err("no backup files of PostgreSQL");
    assert!(error.to_string().contains("pg_dump"), "{error}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    database.drop_after(&store).await;
}

#[test]
fn a_url_names_another_database_on_the_same_server() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres", "test_1_2"),
        "postgres://u:p@h:5432/test_1_2"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=require", "t"),
        "postgres://u:p@h:5432/t?sslmode=require"
    );
    assert_eq!(with_database("postgres://h", "t"), "postgres://h/t");
}

/// Whether every connection the store holds to `database` is encrypted (asked of the server).
async fn store_connections_use_tls(database: &common::TestDatabase) -> bool {
    let mut admin = PgConnection::connect(&common::postgres_server_url())
        .await
        .unwrap();
    let encrypted: Option<bool> = sqlx::query_scalar(
        "SELECT bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = $1 AND a.application_name = 'paperboy'",
    )
    .bind(&database.name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    encrypted.expect("the store holds a connection")
}

#[tokio::test]
async fn tls_is_used_where_the_url_asks_for_it_and_the_certificate_is_checked() {
    let ca = std::env::var("PAPERBOY_TEST_POSTGRES_CA").expect(
        "PAPERBOY_TEST_POSTGRES_CA names the test server's certificate (scripts/test sets it)",
    );
    let database = common::TestDatabase::create().await;
    for (parameters, encrypted) in [
        ("sslmode=disable".to_owned(), false),
        ("sslmode=require".to_owned(), true),
        (format!("sslmode=verify-full&sslrootcert={ca}"), true),
    ] {
        let store = PostgresStore::open(
            &format!("{}?{parameters}", database.url),
            Default::default(),
        )
        .await
        .unwrap_or_else(|error| panic!("{parameters}: {error}"));
        assert_eq!(
            store_connections_use_tls(&database).await,
            encrypted,
            "{parameters}"
        );
        store.close().await;
    }
    // A certificate no trusted authority signed is refused when the URL asks for verification.
    let untrusted = format!(
        "{}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
        database.url
    );
    let error = PostgresStore::open(&untrusted, Default::default())
        .await
        .expect_err("an unverified server");
    assert!(
        error.to_string().contains("connecting to PostgreSQL"),
        "{error}"
    );
}
