//! Operating the PostgreSQL store: closing it, counting its tables, checking it. Backups and
//! restores are the database's own tools (pg_dump, base backups, replicas).
//!
//! What [`Store::integrity_problems`] checks here is what PostgreSQL does not already guarantee
//! and Paperboy relies on, each one query over a table or an index:
//!
//! - every paper's `local_upvotes` is the number of its votes by users who are not hidden
//!   (kept in the same transaction as the votes; a difference means a write went around the
//!   store);
//! - no two papers share a `change_seq` (the search index follows it to find changes);
//! - no index is left invalid (a `CREATE INDEX CONCURRENTLY` that failed), so none is silently
//!   unused or unenforced.
//!
//! Rows of categories, listings, votes or sessions without their paper or user cannot exist:
//! foreign keys refuse them. Damage below the tables (pages, checksums) is for PostgreSQL's own
//! tools (`amcheck`, `pg_checksums`), which need privileges and time a check should not take.

use std::path::Path;

use async_trait::async_trait;

use crate::{Context, PostgresStore, Store, StoreError};

/// How many papers a finding names before it says how many more there are.
const LISTED: usize = 10;

#[async_trait]
impl Store for PostgresStore {
    async fn close(&self) {
        self.pool.close().await;
    }

    /// Refused: a PostgreSQL database is copied by PostgreSQL's own tools.
    async fn backup_to(&self, _path: &Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(
            "write a backup file of a PostgreSQL database: use PostgreSQL's own tools \
             (pg_dump, pg_basebackup, or a replica)",
        ))
    }

    /// See the module docs for what is checked.
    async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();

        let miscounted: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT p.id, p.local_upvotes, COALESCE(v.counted, 0) FROM papers p \
             LEFT JOIN (SELECT v.paper_id, COUNT(*) AS counted FROM votes v \
                        JOIN users u ON u.id = v.user_id WHERE u.hidden_at IS NULL \
                        GROUP BY v.paper_id) v ON v.paper_id = p.id \
             WHERE p.local_upvotes <> COALESCE(v.counted, 0) ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await
        .context("checking the papers' vote counts")?;
        if !miscounted.is_empty() {
            problems.push(format!(
                "{} papers have a vote count that differs from their votes by visible users \
                 ({})",
                miscounted.len(),
                listed(miscounted.iter().map(|(id, stored, counted)| {
                    format!("paper {id}: {stored} stored, {counted} counted")
                }))
            ));
        }

        let shared: Vec<(i64, Vec<i64>)> = sqlx::query_as(
            "SELECT change_seq, array_agg(id ORDER BY id) FROM papers GROUP BY change_seq \
             HAVING COUNT(*) > 1 ORDER BY change_seq",
        )
        .fetch_all(&self.pool)
        .await
        .context("checking the change sequence")?;
        if !shared.is_empty() {
            problems.push(format!(
                "{} change sequence numbers are shared by several papers, so the search index \
                 may miss changes ({})",
                shared.len(),
                listed(shared.iter().map(|(seq, ids)| {
                    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                    format!("{seq}: papers {}", ids.join(", "))
                }))
            ));
        }

        let invalid: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relnamespace = current_schema()::text::regnamespace AND NOT i.indisvalid \
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .context("checking the indexes")?;
        problems.extend(invalid.into_iter().map(|index| {
            format!("index {index} is invalid (a failed build); drop it and create it again")
        }));
        Ok(problems)
    }

    /// Every table of the store's schema (sqlx's `_sqlx_migrations` included, as on SQLite)
    /// with its number of rows, by name.
    async fn table_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing the tables")?;
        // In byte order, as SQLite sorts them, whatever the database's collation.
        tables.sort_unstable();
        let mut counts = Vec::with_capacity(tables.len());
        for table in tables {
            // The name comes from the catalog, quoted as PostgreSQL quotes identifiers.
            let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&self.pool)
                .await
                .context("counting rows")?;
            counts.push((table, count.unsigned_abs()));
        }
        Ok(counts)
    }
}

/// The first few of `items`, joined, and how many more there are.
fn listed(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    let mut named: Vec<String> = items.take(LISTED).collect();
    if total > LISTED {
        named.push(format!("and {} more", total - LISTED));
    }
    named.join("; ")
}
