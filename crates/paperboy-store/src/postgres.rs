//! The shared store for many nodes: PostgreSQL.
//!
//! The same tables and guarantees as the SQLite store, in PostgreSQL's types, with what many
//! writers at once need: migrations run under sqlx's advisory lock (N nodes starting together
//! migrate once), papers are written under one advisory transaction lock (ids and the change
//! sequence then grow in commit order, as SQLite's single writer gives them), outbox claims use
//! `FOR UPDATE SKIP LOCKED`, and bulk writes bind whole columns as arrays (`UNNEST`) instead of
//! one parameter per value.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use paperboy_core::{ArxivId, Paper, PaperId, PaperRecord};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, QueryBuilder, Row};

use crate::migrations::EmbeddedMigrations;
use crate::rows::{
    HashedBlobs, PAPER_COLUMNS, decode_embeddings, encode_embeddings, paper_from_row,
    papers_with_changes,
};
use crate::upsert::{Batch, Keyed, plan};
use crate::{Context, PaperChange, PaperQuery, PaperStore, StoreError, UpsertSummary};

/// The schema version this binary brings PostgreSQL databases to: the last of [`MIGRATIONS`].
pub const POSTGRES_SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "nodes",
        include_str!("../migrations/postgres/0002_nodes.sql"),
    ),
    (
        3,
        "access tokens",
        include_str!("../migrations/postgres/0003_access_tokens.sql"),
    ),
    (
        4,
        "folders",
        include_str!("../migrations/postgres/0004_folders.sql"),
    ),
];

/// The advisory lock every transaction that writes papers holds until it ends ("paperboy").
const PAPER_WRITE_LOCK: i64 = 0x7061_7065_7262_6f79;

/// Rows per `UNNEST` statement: large enough to cost one round trip per thousands of papers,
/// small enough to keep each statement's arrays a few megabytes.
const ROWS_PER_STATEMENT: usize = 5_000;

/// How long opening waits for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a PostgreSQL store is opened.
#[derive(Debug, Clone, Copy)]
pub struct PostgresOptions {
    /// The most connections this process holds open at once.
    pub max_connections: u32,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
        }
    }
}

/// The PostgreSQL implementation of [`Store`](crate::Store).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://USER:PASSWORD@HOST:PORT/DB`, with
    /// `?sslmode=require` and the other libpq parameters where wanted) and brings its schema up
    /// to date; a database of a newer schema is refused with [`StoreError::NewerSchema`].
    pub async fn open(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|error| {
                StoreError::Refused(format!("the database URL is not valid: {error}"))
            })?
            .application_name("paperboy");
        // One connection first, so that a wrong address or password is reported as itself
        // (the pool would only say that it timed out waiting for a connection).
        let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&connect))
            .await
            .map_err(|_| {
                StoreError::Refused(format!(
                    "PostgreSQL did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .context("connecting to PostgreSQL")?;
        first.close().await.context("connecting to PostgreSQL")?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await
            .context("connecting to PostgreSQL")?;
        let store = PostgresStore { pool };
        if let Err(error) = store.migrate().await {
            store.pool.close().await;
            return Err(error);
        }
        Ok(store)
    }

    /// The schema version the database is at; `None` for a database Paperboy never used.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let has_table: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&self.pool)
                .await
                .context("reading the schema version")?;
        if has_table.is_none() {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .context("reading the schema version")
    }

    /// Applies the migrations this database lacks. sqlx holds a session advisory lock while it
    /// migrates, so nodes starting together wait for the first and then find nothing to do.
    async fn migrate(&self) -> Result<(), StoreError> {
        if let Some(found) = self.schema_version().await?
            && found > POSTGRES_SCHEMA_VERSION
        {
            return Err(StoreError::NewerSchema {
                found,
                known: POSTGRES_SCHEMA_VERSION,
            });
        }
        Migrator::new(EmbeddedMigrations(MIGRATIONS))
            .await
            .map_err(crate::migrations::failed)?
            .run(&self.pool)
            .await
            .map_err(crate::migrations::failed)
    }

    /// A transaction holding the papers' write lock (see the module docs).
    pub(crate) async fn begin_paper_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting a write transaction")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PAPER_WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .context("waiting for the papers' write lock")?;
        Ok(tx)
    }

    async fn blobs(
        &self,
        blobs: HashedBlobs,
        hashes: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let mut found = HashMap::with_capacity(hashes.len());
        for chunk in hashes.chunks(ROWS_PER_STATEMENT) {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT content_hash, {} FROM {} WHERE content_hash = ANY($1)",
                blobs.column, blobs.table
            )))
            .bind(chunk)
            .fetch_all(&self.pool)
            .await
            .context(blobs.loading)?;
            found.extend(rows.into_iter().map(|row| (row.get(0), row.get(1))));
        }
        Ok(found)
    }

    /// Saves blobs in one transaction; a hash already stored keeps its blob.
    async fn put_blobs(
        &self,
        blobs: HashedBlobs,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.context(blobs.saving)?;
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            let (hashes, bytes): (Vec<&str>, Vec<&[u8]>) = chunk
                .iter()
                .map(|(hash, bytes)| (hash.as_str(), bytes.as_slice()))
                .unzip();
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {} (content_hash, {}) SELECT * FROM UNNEST($1::text[], $2::bytea[]) \
                 ON CONFLICT (content_hash) DO NOTHING",
                blobs.table, blobs.column
            )))
            .bind(hashes)
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .context(blobs.saving)?;
        }
        tx.commit().await.context(blobs.saving)?;
        Ok(())
    }
}

#[async_trait]
impl PaperStore for PostgresStore {
    async fn upsert_papers(&self, records: Vec<PaperRecord>) -> Result<UpsertSummary, StoreError> {
        if records.is_empty() {
            return Ok(UpsertSummary::default());
        }
        let mut tx = self.begin_paper_write().await?;
        let summary = upsert_in(&mut tx, records).await?;
        tx.commit().await.context("committing a batch of papers")?;
        Ok(summary)
    }

    async fn paper(&self, id: PaperId) -> Result<Option<Paper>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        Ok(load_papers(&mut conn, &[id]).await?.pop())
    }

    async fn papers(&self, ids: &[PaperId]) -> Result<Vec<Paper>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        load_papers(&mut conn, ids).await
    }

    async fn paper_by_arxiv_id(&self, id: &ArxivId) -> Result<Option<Paper>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM papers WHERE arxiv_id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .context("looking up a paper by arXiv id")?;
        match found {
            Some(id) => Ok(load_papers(&mut conn, &[PaperId(id)]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn list_papers(&self, query: &PaperQuery) -> Result<Vec<Paper>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        let mut sql =
            QueryBuilder::<Postgres>::new("SELECT p.id FROM papers p WHERE p.hidden_at IS NULL");
        if query.from.is_some() || query.until.is_some() {
            // A paper is in the window when one of its listing dates is, or, never listed, when
            // its publication date is.
            sql.push(" AND (EXISTS (SELECT 1 FROM paper_listings l WHERE l.paper_id = p.id");
            push_date_range(&mut sql, "l.listing_date", query);
            sql.push(") OR (NOT EXISTS (SELECT 1 FROM paper_listings l WHERE l.paper_id = p.id)");
            push_date_range(&mut sql, "p.published", query);
            sql.push("))");
        }
        if let Some(category) = &query.category {
            // What Category::contains says: the code itself or, for an archive, any code
            // starting with `archive.` (LIKE with its wildcards escaped, so the index serves it).
            sql.push(" AND EXISTS (SELECT 1 FROM paper_categories c WHERE c.paper_id = p.id AND (c.category = ")
                .push_bind(category.to_string());
            if let Some(prefix) = category.archive_prefix() {
                sql.push(" OR c.category LIKE ")
                    .push_bind(format!("{}%", escape_like(&prefix)))
                    .push(" ESCAPE '\\'");
            }
            sql.push("))");
        }
        sql.push(
            " ORDER BY p.sort_date DESC NULLS LAST, p.external_upvotes + p.local_upvotes DESC, \
             p.id DESC LIMIT ",
        )
        .push_bind(i64::from(query.limit))
        .push(" OFFSET ")
        .push_bind(i64::from(query.offset));
        let ids: Vec<PaperId> = sql
            .build_query_scalar::<i64>()
            .fetch_all(&mut *conn)
            .await
            .context("listing papers")?
            .into_iter()
            .map(PaperId)
            .collect();
        load_papers(&mut conn, &ids).await
    }

    async fn papers_after(
        &self,
        after: Option<PaperId>,
        limit: u32,
    ) -> Result<Vec<Paper>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        let ids: Vec<PaperId> = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM papers WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.map_or(0, |id| id.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .context("walking papers in id order")?
        .into_iter()
        .map(PaperId)
        .collect();
        load_papers(&mut conn, &ids).await
    }

    async fn count_papers(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM papers")
            .fetch_one(&self.pool)
            .await
            .context("counting papers")?;
        Ok(count.unsigned_abs())
    }

    async fn listing_dates(&self) -> Result<Vec<NaiveDate>, StoreError> {
        sqlx::query_scalar("SELECT DISTINCT listing_date FROM paper_listings ORDER BY listing_date")
            .fetch_all(&self.pool)
            .await
            .context("listing the days with papers")
    }

    async fn newest_day(
        &self,
        on_or_before: Option<NaiveDate>,
    ) -> Result<Option<NaiveDate>, StoreError> {
        sqlx::query_scalar(
            "SELECT MAX(sort_date) FROM papers WHERE $1::date IS NULL OR sort_date <= $1",
        )
        .bind(on_or_before)
        .fetch_one(&self.pool)
        .await
        .context("finding the newest day with papers")
    }

    async fn embeddings(&self, hashes: &[String]) -> Result<HashMap<String, Vec<f32>>, StoreError> {
        decode_embeddings(self.blobs(HashedBlobs::EMBEDDINGS, hashes).await?)
    }

    async fn put_embeddings(&self, embeddings: &[(String, Vec<f32>)]) -> Result<(), StoreError> {
        self.put_blobs(HashedBlobs::EMBEDDINGS, &encode_embeddings(embeddings))
            .await
    }

    async fn sentence_embeddings(
        &self,
        hashes: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        self.blobs(HashedBlobs::SENTENCES, hashes).await
    }

    async fn put_sentence_embeddings(
        &self,
        sentences: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        self.put_blobs(HashedBlobs::SENTENCES, sentences).await
    }

    async fn paper_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PaperChange>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        let changed: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, change_seq FROM papers WHERE change_seq > $1 ORDER BY change_seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .context("reading the papers changed lately")?;
        let ids: Vec<PaperId> = changed.iter().map(|(id, _)| PaperId(*id)).collect();
        let papers = load_papers(&mut conn, &ids).await?;
        Ok(papers_with_changes(papers, &changed))
    }

    async fn latest_paper_change(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(change_seq), 0) FROM papers")
            .fetch_one(&self.pool)
            .await
            .context("reading the change sequence")
    }
}

/// `text` with LIKE's wildcards and escape character escaped.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

fn push_date_range(sql: &mut QueryBuilder<Postgres>, column: &str, query: &PaperQuery) {
    if let Some(from) = query.from {
        sql.push(format_args!(" AND {column} >= ")).push_bind(from);
    }
    if let Some(until) = query.until {
        sql.push(format_args!(" AND {column} <= ")).push_bind(until);
    }
}

/// Folds a batch of records into the store inside `tx`, which holds the papers' write lock
/// (see [`PaperStore::upsert_papers`]).
pub(crate) async fn upsert_in(
    tx: &mut PgConnection,
    records: Vec<PaperRecord>,
) -> Result<UpsertSummary, StoreError> {
    if records.is_empty() {
        return Ok(UpsertSummary::default());
    }
    let batch = Batch::new(records);
    let keys = batch.lookup_keys();
    let mut stored_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM papers WHERE arxiv_id = ANY($1) \
         UNION SELECT id FROM papers WHERE arxiv_id IS NULL AND title_key = ANY($2) \
         UNION SELECT id FROM papers WHERE title_key = ANY($3)",
    )
    .bind(&keys.arxiv_ids)
    .bind(&keys.titles_of_id_less)
    .bind(&keys.titles_of_any)
    .fetch_all(&mut *tx)
    .await
    .context("matching incoming papers to stored ones")?;
    stored_ids.sort_unstable();
    let stored_ids: Vec<PaperId> = stored_ids.into_iter().map(PaperId).collect();
    let stored = load_papers(&mut *tx, &stored_ids).await?;
    let plan = plan(batch, stored);

    let (mut seq, mut next_id): (i64, i64) =
        sqlx::query_as("SELECT COALESCE(MAX(change_seq), 0), COALESCE(MAX(id), 0) + 1 FROM papers")
            .fetch_one(&mut *tx)
            .await
            .context("reading the change sequence")?;
    let now = Utc::now();

    let mut children: Vec<(PaperId, &PaperRecord)> = Vec::new();
    for chunk in plan.inserts.chunks(ROWS_PER_STATEMENT) {
        let mut rows = PaperColumns::default();
        for keyed in chunk {
            seq += 1;
            rows.push(next_id, keyed, seq);
            children.push((PaperId(next_id), &keyed.record));
            next_id += 1;
        }
        rows.bind(sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO papers ({WRITE_COLUMNS}, changed_at, first_seen_at) \
             SELECT *, $20, $20 FROM UNNEST({UNNEST_TYPES})"
        ))))
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("inserting papers")?;
    }
    for chunk in plan.updates.chunks(ROWS_PER_STATEMENT) {
        let mut rows = PaperColumns::default();
        for (id, keyed) in chunk {
            seq += 1;
            rows.push(id.0, keyed, seq);
            children.push((*id, &keyed.record));
        }
        rows.bind(sqlx::query(AssertSqlSafe(format!(
            "UPDATE papers p SET ({WRITE_COLUMNS}, changed_at) = \
             (u.id, u.arxiv_id, u.version, u.title, u.title_key, u.abstract, u.authors, \
              u.published, u.updated, u.sort_date, u.doi, u.journal_ref, u.comment, u.code_url, \
              u.project_url, u.github_stars, u.external_upvotes, u.source, u.change_seq, $20) \
             FROM UNNEST({UNNEST_TYPES}) AS u ({WRITE_COLUMNS}) WHERE p.id = u.id"
        ))))
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("updating papers")?;
    }
    write_children(&mut *tx, &children).await?;
    Ok(plan.summary)
}

/// The columns a paper write sets, in the order of [`UNNEST_TYPES`] and [`PaperColumns`].
const WRITE_COLUMNS: &str = "id, arxiv_id, version, title, title_key, abstract, authors, \
     published, updated, sort_date, doi, journal_ref, comment, code_url, project_url, \
     github_stars, external_upvotes, source, change_seq";
const UNNEST_TYPES: &str = "$1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::date[], $9::date[], $10::date[], $11::text[], $12::text[], \
     $13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::text[], \
     $19::bigint[]";

/// A batch of paper rows as one array per column, for `UNNEST`.
#[derive(Default)]
struct PaperColumns {
    id: Vec<i64>,
    arxiv_id: Vec<Option<String>>,
    version: Vec<Option<i64>>,
    title: Vec<String>,
    title_key: Vec<String>,
    abstract_text: Vec<String>,
    authors: Vec<String>,
    published: Vec<Option<NaiveDate>>,
    updated: Vec<Option<NaiveDate>>,
    sort_date: Vec<Option<NaiveDate>>,
    doi: Vec<Option<String>>,
    journal_ref: Vec<Option<String>>,
    comment: Vec<Option<String>>,
    code_url: Vec<Option<String>>,
    project_url: Vec<Option<String>>,
    github_stars: Vec<Option<i64>>,
    external_upvotes: Vec<i64>,
    source: Vec<&'static str>,
    change_seq: Vec<i64>,
}

impl PaperColumns {
    fn push(&mut self, id: i64, keyed: &Keyed, seq: i64) {
        let record = &keyed.record;
        self.id.push(id);
        self.arxiv_id
            .push(record.arxiv_id.as_ref().map(|id| id.to_string()));
        self.version.push(record.version.map(i64::from));
        self.title.push(record.title.clone());
        self.title_key.push(keyed.title_key.clone());
        self.abstract_text.push(record.abstract_text.clone());
        self.authors
            .push(serde_json::to_string(&record.authors).unwrap_or_else(|_| "[]".into()));
        self.published.push(record.published);
        self.updated.push(record.updated);
        self.sort_date.push(record.sort_date());
        self.doi.push(record.doi.clone());
        self.journal_ref.push(record.journal_ref.clone());
        self.comment.push(record.comment.clone());
        self.code_url.push(record.code_url.clone());
        self.project_url.push(record.project_url.clone());
        self.github_stars.push(record.github_stars.map(i64::from));
        self.external_upvotes
            .push(i64::from(record.external_upvotes));
        self.source.push(record.source.as_str());
        self.change_seq.push(seq);
    }

    fn bind(
        self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(self.id)
            .bind(self.arxiv_id)
            .bind(self.version)
            .bind(self.title)
            .bind(self.title_key)
            .bind(self.abstract_text)
            .bind(self.authors)
            .bind(self.published)
            .bind(self.updated)
            .bind(self.sort_date)
            .bind(self.doi)
            .bind(self.journal_ref)
            .bind(self.comment)
            .bind(self.code_url)
            .bind(self.project_url)
            .bind(self.github_stars)
            .bind(self.external_upvotes)
            .bind(self.source)
            .bind(self.change_seq)
    }
}

/// Rewrites the categories of these papers and adds their listing dates.
async fn write_children(
    conn: &mut PgConnection,
    papers: &[(PaperId, &PaperRecord)],
) -> Result<(), StoreError> {
    for chunk in papers.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| id.0).collect();
        sqlx::query("DELETE FROM paper_categories WHERE paper_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *conn)
            .await
            .context("clearing categories")?;
        let mut category_ids = Vec::new();
        let mut positions = Vec::new();
        let mut categories = Vec::new();
        let mut listing_ids = Vec::new();
        let mut listing_dates = Vec::new();
        for (id, record) in chunk {
            for (position, category) in record.categories.iter().enumerate() {
                category_ids.push(id.0);
                positions.push(position as i64);
                categories.push(category.as_str());
            }
            for date in &record.listing_dates {
                listing_ids.push(id.0);
                listing_dates.push(*date);
            }
        }
        sqlx::query(
            "INSERT INTO paper_categories (paper_id, position, category) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[])",
        )
        .bind(category_ids)
        .bind(positions)
        .bind(categories)
        .execute(&mut *conn)
        .await
        .context("writing categories")?;
        sqlx::query(
            "INSERT INTO paper_listings (paper_id, listing_date) \
             SELECT * FROM UNNEST($1::bigint[], $2::date[]) ON CONFLICT DO NOTHING",
        )
        .bind(listing_ids)
        .bind(listing_dates)
        .execute(&mut *conn)
        .await
        .context("writing listing dates")?;
    }
    Ok(())
}

/// Loads whole papers (with categories and listing dates), in the order of `ids`.
pub(crate) async fn load_papers(
    conn: &mut PgConnection,
    ids: &[PaperId],
) -> Result<Vec<Paper>, StoreError> {
    let mut papers: HashMap<i64, Paper> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let chunk: Vec<i64> = chunk.iter().map(|id| id.0).collect();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PAPER_COLUMNS} FROM papers WHERE id = ANY($1)"
        )))
        .bind(&chunk)
        .fetch_all(&mut *conn)
        .await
        .context("loading papers")?;
        for row in &rows {
            let paper = paper_from_row(row)?;
            papers.insert(paper.id.0, paper);
        }
        let categories = sqlx::query(
            "SELECT paper_id, category FROM paper_categories WHERE paper_id = ANY($1) \
             ORDER BY paper_id, position",
        )
        .bind(&chunk)
        .fetch_all(&mut *conn)
        .await
        .context("loading categories")?;
        for row in categories {
            let id: i64 = row.get(0);
            if let Some(paper) = papers.get_mut(&id) {
                paper.record.categories.push(row.get(1));
            }
        }
        let listings = sqlx::query(
            "SELECT paper_id, listing_date FROM paper_listings WHERE paper_id = ANY($1)",
        )
        .bind(&chunk)
        .fetch_all(&mut *conn)
        .await
        .context("loading listing dates")?;
        for row in listings {
            let id: i64 = row.get(0);
            let date: NaiveDate = row.get(1);
            if let Some(paper) = papers.get_mut(&id) {
                paper.record.listing_dates.insert(date);
            }
        }
    }
    Ok(ids.iter().filter_map(|id| papers.remove(&id.0)).collect())
}
