//! The PostgreSQL side of job leases (see [`crate::LeaseStore`]). Expiry is reckoned by the
//! database's clock, so nodes whose clocks drift apart still agree on who holds a lease.

use std::time::Duration;

use async_trait::async_trait;

use crate::{Context, LeaseStore, PostgresStore, StoreError};

#[async_trait]
impl LeaseStore for PostgresStore {
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
}
