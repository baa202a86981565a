//! The PostgreSQL side of harvest state (see [`crate::harvest`]): the same statements as
//! [`crate::sqlite_harvest`], with times as `TIMESTAMPTZ`. A harvested page is written under
//! the papers' write lock, like any other batch of papers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paperboy_core::PaperRecord;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::harvest::{HarvestOutcome, HarvestState};
use crate::postgres::upsert_in;
use crate::{Context, HarvestStore, PostgresStore, StoreError, UpsertSummary};

const COLUMNS: &str = "source, cursor, pending, last_run_at, last_success_at, last_error, \
                       runs, failures, records";

fn state_from_row(row: &PgRow) -> HarvestState {
    let count = |column: &str| u64::try_from(row.get::<i64, _>(column)).unwrap_or(0);
    HarvestState {
        source: row.get("source"),
        cursor: row.get("cursor"),
        pending: row.get("pending"),
        last_run_at: row.get("last_run_at"),
        last_success_at: row.get("last_success_at"),
        last_error: row.get("last_error"),
        runs: count("runs"),
        failures: count("failures"),
        records: count("records"),
    }
}

#[async_trait]
impl HarvestStore for PostgresStore {
    async fn harvest_state(&self, source: &str) -> Result<Option<HarvestState>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM harvest_sources WHERE source = $1"
        )))
        .bind(source)
        .fetch_optional(&self.pool)
        .await
        .context("reading a harvest state")?;
        Ok(row.as_ref().map(state_from_row))
    }

    async fn harvest_states(&self) -> Result<Vec<HarvestState>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM harvest_sources ORDER BY source"
        )))
        .fetch_all(&self.pool)
        .await
        .context("reading harvest states")?;
        Ok(rows.iter().map(state_from_row).collect())
    }

    async fn store_harvest_page(
        &self,
        source: &str,
        records: Vec<PaperRecord>,
        pending: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertSummary, StoreError> {
        let written = i64::try_from(records.len()).unwrap_or(i64::MAX);
        let mut tx = self.begin_paper_write().await?;
        let summary = upsert_in(&mut tx, records).await?;
        sqlx::query(
            "INSERT INTO harvest_sources (source, pending, last_run_at, records)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (source) DO UPDATE SET
                 pending = $2, last_run_at = $3,
                 records = harvest_sources.records + $4",
        )
        .bind(source)
        .bind(pending)
        .bind(now)
        .bind(written)
        .execute(&mut *tx)
        .await
        .context("recording a harvested page")?;
        tx.commit().await.context("committing a harvested page")?;
        Ok(summary)
    }

    async fn finish_harvest(
        &self,
        source: &str,
        outcome: HarvestOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = match outcome {
            HarvestOutcome::Succeeded { cursor } => sqlx::query(
                "INSERT INTO harvest_sources (source, cursor, last_run_at, last_success_at, runs)
                 VALUES ($1, $2, $3, $3, 1)
                 ON CONFLICT (source) DO UPDATE SET
                     cursor = COALESCE($2, harvest_sources.cursor), pending = NULL,
                     last_run_at = $3, last_success_at = $3, last_error = NULL,
                     runs = harvest_sources.runs + 1",
            )
            .bind(source)
            .bind(cursor)
            .bind(now),
            HarvestOutcome::Failed { error } => sqlx::query(
                "INSERT INTO harvest_sources (source, last_run_at, last_error, runs, failures)
                 VALUES ($1, $2, $3, 1, 1)
                 ON CONFLICT (source) DO UPDATE SET
                     last_run_at = $2, last_error = $3, runs = harvest_sources.runs + 1,
                     failures = harvest_sources.failures + 1",
            )
            .bind(source)
            .bind(now)
            .bind(error),
        };
        query
            .execute(&self.pool)
            .await
            .context("recording the end of a harvest")?;
        Ok(())
    }
}
