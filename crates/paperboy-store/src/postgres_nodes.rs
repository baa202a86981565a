//! The PostgreSQL side of what nodes share (see [`crate::NodeStore`]). Time is reckoned by the
//! database's clock, so nodes whose clocks drift apart still agree on who holds a lease and
//! when a rate-limit window ends.

use std::time::Duration;

use async_trait::async_trait;

use crate::{Context, NodeStore, PostgresStore, StoreError};

#[async_trait]
impl NodeStore for PostgresStore {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) \
             VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp() \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl.as_secs_f64())
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
        let seconds = window.as_secs_f64();
        let (count, left): (i64, f64) = sqlx::query_as(
            "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, now(), 1) \
             ON CONFLICT (key) DO UPDATE SET \
             window_start = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => $2) \
                 THEN now() ELSE rate_limits.window_start END, \
             count = CASE WHEN rate_limits.window_start <= now() - make_interval(secs => $2) \
                 THEN 1 ELSE rate_limits.count + 1 END \
             RETURNING count, \
             EXTRACT(EPOCH FROM window_start + make_interval(secs => $2) - now())::float8",
        )
        .bind(key)
        .bind(seconds)
        .fetch_one(&self.pool)
        .await
        .context("counting a request")?;
        if count == 1 {
            sqlx::query(
                "DELETE FROM rate_limits WHERE window_start <= now() - make_interval(secs => $1)",
            )
            .bind(seconds)
            .execute(&self.pool)
            .await
            .context("forgetting past rate-limit windows")?;
        }
        if count <= i64::from(limit) {
            return Ok(None);
        }
        Ok(Some(Duration::from_secs_f64(left.max(0.0))))
    }
}
