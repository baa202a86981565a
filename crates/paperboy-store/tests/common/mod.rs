//! What the store's tests share: a fresh store of each backend, the macro that runs a contract
//! check on both, times and addresses from text.
//!
//! PostgreSQL stores live in a new database per test on the server that
//! `PAPERBOY_TEST_POSTGRES_URL` names (`scripts/test` starts a throwaway one and sets it). A
//! check that passes drops its database; one that fails leaves it for a look.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use paperboy_core::EmailAddress;
use paperboy_store::{PostgresStore, SqliteStore, Store};
use sqlx::{Connection, Executor, PgConnection};

/// The variable that names the PostgreSQL server the tests create their databases on.
pub const POSTGRES_URL_VARIABLE: &str = "PAPERBOY_TEST_POSTGRES_URL";

/// Runs each contract check, an `async fn check(store: &dyn Store)`, once per backend, as the
/// tests `sqlite::<check>` and `postgres::<check>`, each on a fresh store of its own.
#[allow(unused_macros)] // tests/postgres.rs has no contract checks
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let (_dir, store) = $crate::common::sqlite().await;
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let (database, store) = $crate::common::postgres().await;
                    super::$check(&store).await;
                    database.drop_after(&store).await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

/// A store in a new temporary folder (kept while the folder is).
pub async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    (dir, store)
}

/// A store on a new database of the test server.
pub async fn postgres() -> (TestDatabase, PostgresStore) {
    let database = TestDatabase::create().await;
    let store = PostgresStore::open(&database.url, Default::default())
        .await
        .unwrap();
    (database, store)
}

/// The URL of the test server (its maintenance database), from `PAPERBOY_TEST_POSTGRES_URL`.
pub fn postgres_server_url() -> String {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => panic!(
            "{POSTGRES_URL_VARIABLE} is not set, and the store's tests run on PostgreSQL too: \
             `scripts/test` starts a throwaway PostgreSQL server and sets it; or set it to \
             postgres://USER:PASSWORD@HOST:PORT/postgres for a server where USER may create \
             databases (each test makes its own)"
        ),
    }
}

/// `url` naming the database `name` instead of its own (the query string is kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // The path starts at the first '/' after the authority, which cannot hold one unencoded.
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut named = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        named.push('?');
        named.push_str(query);
    }
    named
}

/// A database of its own on the test server: `test_<pid>_<n>`, unique per process and call.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = postgres_server_url();
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot connect to the test server {POSTGRES_URL_VARIABLE} names: {error}")
            });
        // A database of this name can only be left by a dead process whose id this one reuses.
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&server, &name);
        TestDatabase { name, url, server }
    }

    /// Closes `store` (the database's last user) and drops the database.
    pub async fn drop_after(self, store: &dyn Store) {
        store.close().await;
        let mut admin = PgConnection::connect(&self.server).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().into()
}

pub fn address(text: &str) -> EmailAddress {
    text.parse().unwrap()
}
