//! What the store's tests share: a fresh SQLite store, times and addresses from text.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use paperboy_core::EmailAddress;
use paperboy_store::SqliteStore;

/// A store in a new temporary folder (kept while the folder is).
pub async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    (dir, store)
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().into()
}

pub fn address(text: &str) -> EmailAddress {
    text.parse().unwrap()
}
