//! The SQLite side of what nodes share (see [`crate::NodeStore`]). One SQLite file serves one
//! host, so the process's clock is the clock; times are stored as in [`crate::sqlite_mail`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use crate::sqlite_mail::{parse_stamp, stamp};
use crate::{Context, NodeStore, SqliteStore, StoreError};

#[async_trait]
impl NodeStore for SqliteStore {
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

    async fn count_request(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, StoreError> {
        let now = Utc::now();
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let ended = stamp(now - window);
        let (count, start): (i64, String) = sqlx::query_as(
            "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             window_start = CASE WHEN rate_limits.window_start <= $3 \
                 THEN excluded.window_start ELSE rate_limits.window_start END, \
             count = CASE WHEN rate_limits.window_start <= $3 \
                 THEN 1 ELSE rate_limits.count + 1 END \
             RETURNING count, window_start",
        )
        .bind(key)
        .bind(stamp(now))
        .bind(&ended)
        .fetch_one(&self.pool)
        .await
        .context("counting a request")?;
        if count == 1 {
            sqlx::query("DELETE FROM rate_limits WHERE window_start <= $1")
                .bind(&ended)
                .execute(&self.pool)
                .await
                .context("forgetting past rate-limit windows")?;
        }
        if count <= i64::from(limit) {
            return Ok(None);
        }
        let left = parse_stamp(&start)? + window - now;
        Ok(Some(left.to_std().unwrap_or(Duration::ZERO)))
    }
}
