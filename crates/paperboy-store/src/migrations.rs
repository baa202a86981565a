//! Migrations compiled into the binary, each backend with its own list of
//! `(version, description, SQL)`.

use std::borrow::Cow;
use std::pin::Pin;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationSource, MigrationType};

use crate::StoreError;

#[derive(Debug)]
pub(crate) struct EmbeddedMigrations(pub(crate) &'static [(i64, &'static str, &'static str)]);

pub(crate) fn failed(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Migration(Box::new(error))
}

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send + 's>>
    {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect())
        })
    }
}
