//! What the harvest tests share: the fixture server and the OAI-PMH fixtures.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod oai;
pub mod server;

use std::sync::Arc;

use paperboy_store::SqliteStore;

/// A fresh store in a folder that lives as long as the returned guard.
pub async fn fresh_store() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}
