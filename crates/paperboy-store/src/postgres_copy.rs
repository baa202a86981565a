//! The PostgreSQL side of copying a store (see [`crate::copy`]).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row};

use crate::copy::{
    CopiedRow, CopyStore, Kind, Table, Value, insert_sql, last_key_sql, rows_per_insert, select_sql,
};
use crate::{Context, PostgresStore, StoreError};

/// PostgreSQL accepts 65,535 bound values per statement; stay below.
const MAX_BINDS: usize = 60_000;

/// The tables whose ids come from an identity sequence.
const IDENTITY_TABLES: &[&str] = &["subscribers", "outbox", "users", "access_tokens", "folders"];

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Binds a value as its column's type (a NULL needs one too in PostgreSQL).
fn bind<'q>(query: Query<'q>, value: &Value, kind: Kind) -> Query<'q> {
    match (value, kind) {
        (Value::Null, Kind::Int) => query.bind(None::<i64>),
        (Value::Null, Kind::Bool) => query.bind(None::<bool>),
        (Value::Null, Kind::Bytes) => query.bind(None::<Vec<u8>>),
        (Value::Null, Kind::Date) => query.bind(None::<NaiveDate>),
        (Value::Null, Kind::Time) => query.bind(None::<DateTime<Utc>>),
        (Value::Null, Kind::Text) => query.bind(None::<String>),
        (Value::Int(value), _) => query.bind(*value),
        (Value::Text(value), _) => query.bind(value.clone()),
        (Value::Bytes(value), _) => query.bind(value.clone()),
        (Value::Date(value), _) => query.bind(*value),
        (Value::Time(value), _) => query.bind(*value),
        (Value::Bool(value), _) => query.bind(*value),
    }
}

fn value(row: &PgRow, index: usize, kind: Kind, table: &Table) -> Result<Value, StoreError> {
    let corrupt = |error: sqlx::Error| {
        StoreError::Corrupt(format!(
            "table {}, column {}: {error}",
            table.name, table.columns[index].0
        ))
    };
    let value = match kind {
        Kind::Int => row
            .try_get::<Option<i64>, _>(index)
            .map_err(corrupt)?
            .map(Value::Int),
        Kind::Bool => row
            .try_get::<Option<bool>, _>(index)
            .map_err(corrupt)?
            .map(Value::Bool),
        Kind::Text => row
            .try_get::<Option<String>, _>(index)
            .map_err(corrupt)?
            .map(Value::Text),
        Kind::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(index)
            .map_err(corrupt)?
            .map(Value::Bytes),
        Kind::Date => row
            .try_get::<Option<NaiveDate>, _>(index)
            .map_err(corrupt)?
            .map(Value::Date),
        Kind::Time => row
            .try_get::<Option<DateTime<Utc>>, _>(index)
            .map_err(corrupt)?
            .map(Value::Time),
    };
    Ok(value.unwrap_or(Value::Null))
}

#[async_trait]
impl CopyStore for PostgresStore {
    async fn rows_after(
        &self,
        table: &Table,
        after: Option<&[Value]>,
    ) -> Result<Vec<CopiedRow>, StoreError> {
        let sql = select_sql(table, after.is_some());
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (value, kind) in after.unwrap_or_default().iter().zip(table.key_kinds()) {
            query = bind(query, value, kind);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .context("reading rows to copy")?;
        rows.iter()
            .map(|row| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(index, (_, kind))| value(row, index, *kind, table))
                    .collect()
            })
            .collect()
    }

    async fn last_key(&self, table: &Table) -> Result<Option<Vec<Value>>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(last_key_sql(table)))
            .fetch_optional(&self.pool)
            .await
            .context("reading where a copy stopped")?;
        row.map(|row| {
            table
                .key_kinds()
                .into_iter()
                .enumerate()
                .map(|(index, kind)| value(&row, index, kind, table))
                .collect()
        })
        .transpose()
    }

    async fn insert_rows(&self, table: &Table, rows: &[CopiedRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.context("writing copied rows")?;
        for chunk in rows.chunks(rows_per_insert(table, MAX_BINDS)) {
            let mut query = sqlx::query(AssertSqlSafe(insert_sql(table, chunk.len())));
            for row in chunk {
                for (value, (_, kind)) in row.iter().zip(table.columns) {
                    query = bind(query, value, *kind);
                }
            }
            query
                .execute(&mut *tx)
                .await
                .context("writing copied rows")?;
        }
        tx.commit().await.context("writing copied rows")
    }

    async fn after_copy(&self) -> Result<(), StoreError> {
        for table in IDENTITY_TABLES {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )))
            .execute(&self.pool)
            .await
            .context("moving id sequences past the copied ids")?;
        }
        Ok(())
    }

    async fn copies(&self) -> Result<Vec<(String, bool)>, StoreError> {
        sqlx::query_as("SELECT source, finished_at IS NOT NULL FROM store_copies ORDER BY source")
            .fetch_all(&self.pool)
            .await
            .context("reading earlier copies")
    }

    async fn record_copy(&self, source: &str, finished: bool) -> Result<(), StoreError> {
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO store_copies (source, started_at, finished_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET finished_at = excluded.finished_at",
        )
        .bind(source)
        .bind(now)
        .bind(finished.then_some(now))
        .execute(&self.pool)
        .await
        .context("recording a copy")?;
        Ok(())
    }

    async fn schema_columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name != '_sqlx_migrations' \
             ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the schema")
    }
}
