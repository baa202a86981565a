//! Operating the PostgreSQL store: closing it, counting its tables, checking it. Backups and
//! restores are the database's own tools (pg_dump, base backups, replicas).

use async_trait::async_trait;

use crate::{PostgresStore, Store};

#[async_trait]
impl Store for PostgresStore {
    async fn close(&self) {
        self.pool.close().await;
    }
}
