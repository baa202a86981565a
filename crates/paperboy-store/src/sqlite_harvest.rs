//! The SQLite side of harvest state (see [`crate::harvest`]). Times are stored as in
//! [`crate::sqlite_mail`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::HarvestStore;
use crate::harvest::{HarvestOutcome, HarvestState};
use crate::sqlite::upsert_in;
use crate::sqlite_mail::{parse_stamp, stamp};
use crate::{Context, SqliteStore, StoreError, UpsertSummary};

const COLUMNS: &str = "source, cursor, pending, last_run_at, last_success_at, last_error, \
                       runs, failures, records";

fn optional_stamp(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.get::<Option<String>, _>(column)
        .as_deref()
        .map(parse_stamp)
        .transpose()
}

fn state_from_row(row: &SqliteRow) -> Result<HarvestState, StoreError> {
    let count = |column: &str| u64::try_from(row.get::<i64, _>(column)).unwrap_or(0);
    Ok(HarvestState {
        source: row.get("source"),
        cursor: row.get("cursor"),
        pending: row.get("pending"),
        last_run_at: optional_stamp(row, "last_run_at")?,
        last_success_at: optional_stamp(row, "last_success_at")?,
        last_error: row.get("last_error"),
        runs: count("runs"),
        failures: count("failures"),
        records: count("records"),
    })
}

#[async_trait]
impl HarvestStore for SqliteStore {
    async fn harvest_state(&self, source: &str) -> Result<Option<HarvestState>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM harvest_sources WHERE source = ?"
        )))
        .bind(source)
        .fetch_optional(&self.pool)
        .await
        .context("reading a harvest state")?;
        row.as_ref().map(state_from_row).transpose()
    }

    async fn harvest_states(&self) -> Result<Vec<HarvestState>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM harvest_sources ORDER BY source"
        )))
        .fetch_all(&self.pool)
        .await
        .context("reading harvest states")?;
        rows.iter().map(state_from_row).collect()
    }

    async fn store_harvest_page(
        &self,
        source: &str,
        records: Vec<paperboy_core::PaperRecord>,
        pending: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertSummary, StoreError> {
        let written = records.len() as i64;
        let mut tx = self.begin_write().await?;
        let summary = upsert_in(&mut tx, records).await?;
        sqlx::query(
            "INSERT INTO harvest_sources (source, pending, last_run_at, records)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (source) DO UPDATE SET
                 pending = ?2, last_run_at = ?3, records = records + ?4",
        )
        .bind(source)
        .bind(pending)
        .bind(stamp(now))
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
                 VALUES (?1, ?2, ?3, ?3, 1)
                 ON CONFLICT (source) DO UPDATE SET
                     cursor = COALESCE(?2, cursor), pending = NULL, last_run_at = ?3,
                     last_success_at = ?3, last_error = NULL, runs = runs + 1",
            )
            .bind(source)
            .bind(cursor)
            .bind(stamp(now)),
            HarvestOutcome::Failed { error } => sqlx::query(
                "INSERT INTO harvest_sources (source, last_run_at, last_error, runs, failures)
                 VALUES (?1, ?2, ?3, 1, 1)
                 ON CONFLICT (source) DO UPDATE SET
                     last_run_at = ?2, last_error = ?3, runs = runs + 1,
                     failures = failures + 1",
            )
            .bind(source)
            .bind(stamp(now))
            .bind(error),
        };
        query
            .execute(&self.pool)
            .await
            .context("recording the end of a harvest")?;
        Ok(())
    }
}
