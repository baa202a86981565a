//! The SQLite side of job leases (see [`crate::LeaseStore`]). One SQLite file serves one host,
//! so the process's clock is the clock; times are stored as in [`crate::sqlite_mail`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use crate::sqlite_mail::stamp;
use crate::{Context, LeaseStore, SqliteStore, StoreError};

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(stamp(until))
        .bind(stamp(now))
        .fetch_optional(&self.pool)
        .await
        .context("claiming a lease")?;
        Ok(held.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("releasing a lease")?;
        Ok(())
    }
}
