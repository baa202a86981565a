//! The embedded store: one SQLite file in WAL mode.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a process crash (a
//! power cut may lose the last few, never consistency). Writes take the lock up front
//! (`BEGIN IMMEDIATE`), so two writers queue instead of failing half-way.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, SecondsFormat, Utc};
use paperboy_core::{ArxivId, Paper, PaperId, PaperRecord};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::migrations::EmbeddedMigrations;
use crate::rows::{
    HashedBlobs, PAPER_COLUMNS, decode_embeddings, encode_embeddings, paper_from_row,
    papers_with_changes,
};
use crate::upsert::{Batch, Keyed, LookupKeys, plan};
use crate::{Context, PaperChange, PaperQuery, PaperStore, StoreError, UpsertSummary};

/// The schema version this binary brings databases to: the last of [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Migrations compiled into the binary, applied in order on open.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "papers",
        include_str!("../migrations/sqlite/0001_papers.sql"),
    ),
    (
        2,
        "embeddings",
        include_str!("../migrations/sqlite/0002_embeddings.sql"),
    ),
    (
        3,
        "subscriptions",
        include_str!("../migrations/sqlite/0003_subscriptions.sql"),
    ),
    (
        4,
        "accounts",
        include_str!("../migrations/sqlite/0004_accounts.sql"),
    ),
    (
        5,
        "harvest",
        include_str!("../migrations/sqlite/0005_harvest.sql"),
    ),
    (
        6,
        "sentence embeddings",
        include_str!("../migrations/sqlite/0006_sentence_embeddings.sql"),
    ),
    (
        7,
        "mailbox",
        include_str!("../migrations/sqlite/0007_mailbox.sql"),
    ),
    (
        8,
        "nodes",
        include_str!("../migrations/sqlite/0008_nodes.sql"),
    ),
    (
        9,
        "access tokens",
        include_str!("../migrations/sqlite/0009_access_tokens.sql"),
    ),
    (
        10,
        "folders",
        include_str!("../migrations/sqlite/0010_folders.sql"),
    ),
];

/// SQLite accepts 32,766 bound values per statement; stay well below.
const MAX_BINDS: usize = 30_000;

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// Opened with `read_only` (see [`SqliteStore::open_read_only`]): nothing is written, not
    /// even a checkpoint on close.
    pub(crate) read_only: bool,
    /// The copy taken before migrations changed the schema of this database, if they did now.
    pub(crate) upgrade_backup: Option<std::path::PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date. Before
    /// migrations change the schema of an existing database, a copy of it is written to
    /// `backups/` beside it (see [`SqliteStore::upgrade_backup`]); a database from a newer
    /// version is refused with [`StoreError::NewerSchema`].
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .page_size(16384)
            .busy_timeout(Duration::from_secs(30))
            // A 32 MiB page cache per connection keeps bulk imports off read().
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory")
            // Checkpoint the WAL every 64 MiB instead of every 4 MiB: bulk imports rewrite the
            // same index pages many times between checkpoints.
            .pragma("wal_autocheckpoint", "16384");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        let mut store = SqliteStore {
            pool,
            read_only: false,
            upgrade_backup: None,
        };
        match store.schema_version().await? {
            Some(found) if found > SCHEMA_VERSION => {
                store.pool.close().await;
                return Err(StoreError::NewerSchema {
                    found,
                    known: SCHEMA_VERSION,
                });
            }
            Some(found) if found < SCHEMA_VERSION => {
                store.upgrade_backup = Some(store.backup_before_upgrade(path, found).await?);
            }
            _ => {}
        }
        Migrator::new(EmbeddedMigrations(MIGRATIONS))
            .await
            .map_err(crate::migrations::failed)?
            .run(&store.pool)
            .await
            .map_err(crate::migrations::failed)?;
        Ok(store)
    }

    /// Creates a database at an older schema `version` (what a database an older Paperboy
    /// wrote looks like), for tests of upgrades.
    #[doc(hidden)]
    pub async fn create_at_schema(path: &Path, version: i64) -> Result<(), StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .page_size(16384);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .context("creating an SQLite database")?;
        Migrator::new(EmbeddedMigrations(MIGRATIONS))
            .await
            .map_err(crate::migrations::failed)?
            .run_to(version, &pool)
            .await
            .map_err(crate::migrations::failed)?;
        pool.close().await;
        Ok(())
    }

    /// A write transaction holding the lock from its start (see the module docs).
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("starting a write transaction")
    }
}

impl SqliteStore {
    async fn blobs(
        &self,
        blobs: HashedBlobs,
        hashes: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        let mut found = HashMap::with_capacity(hashes.len());
        for chunk in hashes.chunks(MAX_BINDS) {
            let mut sql = QueryBuilder::<Sqlite>::new(format!(
                "SELECT content_hash, {} FROM {} WHERE content_hash IN (",
                blobs.column, blobs.table
            ));
            let mut list = sql.separated(", ");
            for hash in chunk {
                list.push_bind(hash.as_str());
            }
            sql.push(")");
            let rows = sql
                .build()
                .fetch_all(&mut *conn)
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
        let mut tx = self.begin_write().await?;
        for chunk in entries.chunks(MAX_BINDS / 2) {
            let mut sql = QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO {} (content_hash, {}) ",
                blobs.table, blobs.column
            ));
            sql.push_values(chunk, |mut values, (hash, bytes)| {
                values.push_bind(hash.as_str()).push_bind(bytes.as_slice());
            });
            sql.push(" ON CONFLICT (content_hash) DO NOTHING");
            sql.build().execute(&mut *tx).await.context(blobs.saving)?;
        }
        tx.commit().await.context(blobs.saving)?;
        Ok(())
    }
}

#[async_trait]
impl PaperStore for SqliteStore {
    async fn upsert_papers(&self, records: Vec<PaperRecord>) -> Result<UpsertSummary, StoreError> {
        if records.is_empty() {
            return Ok(UpsertSummary::default());
        }
        let mut tx = self.begin_write().await?;
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
            QueryBuilder::<Sqlite>::new("SELECT p.id FROM papers p WHERE p.hidden_at IS NULL");
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
            // What Category::contains says, in SQL: the code itself or, for an archive, any
            // code starting with `archive.` (instr, unlike LIKE, minds case and has no wildcards).
            sql.push(" AND EXISTS (SELECT 1 FROM paper_categories c WHERE c.paper_id = p.id AND (c.category = ")
                .push_bind(category.to_string());
            if let Some(prefix) = category.archive_prefix() {
                sql.push(" OR instr(c.category, ")
                    .push_bind(prefix)
                    .push(") = 1");
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

    async fn count_papers(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM papers")
            .fetch_one(&self.pool)
            .await
            .context("counting papers")?;
        Ok(count.unsigned_abs())
    }

    async fn newest_day(
        &self,
        on_or_before: Option<NaiveDate>,
    ) -> Result<Option<NaiveDate>, StoreError> {
        let day: Option<NaiveDate> = sqlx::query_scalar(
            "SELECT MAX(sort_date) FROM papers WHERE $1 IS NULL OR sort_date <= $1",
        )
        .bind(on_or_before)
        .fetch_one(&self.pool)
        .await
        .context("finding the newest day with papers")?;
        Ok(day)
    }

    async fn listing_dates(&self) -> Result<Vec<NaiveDate>, StoreError> {
        let dates: Vec<NaiveDate> = sqlx::query_scalar(
            "SELECT DISTINCT listing_date FROM paper_listings ORDER BY listing_date",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing the days with papers")?;
        Ok(dates)
    }
}

fn push_date_range(sql: &mut QueryBuilder<Sqlite>, column: &str, query: &PaperQuery) {
    if let Some(from) = query.from {
        sql.push(format_args!(" AND {column} >= ")).push_bind(from);
    }
    if let Some(until) = query.until {
        sql.push(format_args!(" AND {column} <= ")).push_bind(until);
    }
}

/// Folds a batch of records into the store inside `tx` (see [`Store::upsert_papers`]).
pub(crate) async fn upsert_in(
    tx: &mut SqliteConnection,
    records: Vec<PaperRecord>,
) -> Result<UpsertSummary, StoreError> {
    if records.is_empty() {
        return Ok(UpsertSummary::default());
    }
    let batch = Batch::new(records);
    let stored_ids = matching_ids(&mut *tx, &batch.lookup_keys()).await?;
    let stored = load_papers(&mut *tx, &stored_ids).await?;
    let plan = plan(batch, stored);

    let mut seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(change_seq), 0) FROM papers")
        .fetch_one(&mut *tx)
        .await
        .context("reading the change sequence")?;
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);

    let inserted = insert_papers(&mut *tx, &plan.inserts, &mut seq, &now).await?;
    for (id, keyed) in &plan.updates {
        seq += 1;
        update_paper(&mut *tx, *id, keyed, seq, &now).await?;
    }
    let mut children: Vec<(PaperId, &PaperRecord)> = inserted;
    children.extend(plan.updates.iter().map(|(id, keyed)| (*id, &keyed.record)));
    write_children(&mut *tx, &children).await?;

    Ok(plan.summary)
}

/// Ids of the stored papers a batch may match (see [`LookupKeys`]).
async fn matching_ids(
    conn: &mut SqliteConnection,
    keys: &LookupKeys,
) -> Result<Vec<PaperId>, StoreError> {
    let lookups = [
        ("SELECT id FROM papers WHERE arxiv_id IN (", &keys.arxiv_ids),
        (
            "SELECT id FROM papers WHERE arxiv_id IS NULL AND title_key IN (",
            &keys.titles_of_id_less,
        ),
        (
            "SELECT id FROM papers WHERE title_key IN (",
            &keys.titles_of_any,
        ),
    ];
    let mut found = Vec::new();
    for (head, values) in lookups {
        for chunk in values.chunks(MAX_BINDS) {
            let mut sql = QueryBuilder::<Sqlite>::new(head);
            let mut list = sql.separated(", ");
            for value in chunk {
                list.push_bind(value.as_str());
            }
            sql.push(")");
            let ids: Vec<i64> = sql
                .build_query_scalar()
                .fetch_all(&mut *conn)
                .await
                .context("matching incoming papers to stored ones")?;
            found.extend(ids.into_iter().map(PaperId));
        }
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// Loads whole papers (with categories and listing dates), in the order of `ids`.
async fn load_papers(
    conn: &mut SqliteConnection,
    ids: &[PaperId],
) -> Result<Vec<Paper>, StoreError> {
    let mut papers: HashMap<i64, Paper> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS) {
        let rows = select_in(
            conn,
            &format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id IN ("),
            chunk,
            "",
        )
        .await
        .context("loading papers")?;
        for row in rows {
            let paper = paper_from_row(&row)?;
            papers.insert(paper.id.0, paper);
        }
        let categories = select_in(
            conn,
            "SELECT paper_id, category FROM paper_categories WHERE paper_id IN (",
            chunk,
            " ORDER BY paper_id, position",
        )
        .await
        .context("loading categories")?;
        for row in categories {
            let id: i64 = row.get(0);
            if let Some(paper) = papers.get_mut(&id) {
                paper.record.categories.push(row.get(1));
            }
        }
        let listings = select_in(
            conn,
            "SELECT paper_id, listing_date FROM paper_listings WHERE paper_id IN (",
            chunk,
            "",
        )
        .await
        .context("loading listing dates")?;
        for row in listings {
            let id: i64 = row.get(0);
            let date: NaiveDate = row.try_get(1).map_err(|error| {
                StoreError::Corrupt(format!(
                    "table paper_listings, paper {id}: a listing date: {error}"
                ))
            })?;
            if let Some(paper) = papers.get_mut(&id) {
                paper.record.listing_dates.insert(date);
            }
        }
    }
    Ok(ids.iter().filter_map(|id| papers.remove(&id.0)).collect())
}

async fn select_in(
    conn: &mut SqliteConnection,
    head: &str,
    ids: &[PaperId],
    tail: &str,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    let mut sql = QueryBuilder::<Sqlite>::new(head);
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.0);
    }
    sql.push(")").push(tail);
    sql.build().fetch_all(conn).await
}

/// The values of a paper row, in [`WRITE_COLUMNS`] order.
const WRITE_COLUMNS: &str = "arxiv_id, version, title, title_key, abstract, authors, published, updated, \
     sort_date, doi, journal_ref, comment, code_url, project_url, github_stars, external_upvotes, \
     source, change_seq, changed_at";
const WRITE_COLUMN_COUNT: usize = 19;

fn push_paper_values(
    values: &mut sqlx::query_builder::Separated<'_, Sqlite, &str>,
    keyed: &Keyed,
    seq: i64,
    now: &str,
) {
    let record = &keyed.record;
    values
        .push_bind(record.arxiv_id.as_ref().map(|id| id.to_string()))
        .push_bind(record.version.map(i64::from))
        .push_bind(record.title.clone())
        .push_bind(keyed.title_key.clone())
        .push_bind(record.abstract_text.clone())
        .push_bind(serde_json::to_string(&record.authors).unwrap_or_else(|_| "[]".into()))
        .push_bind(record.published)
        .push_bind(record.updated)
        .push_bind(record.sort_date())
        .push_bind(record.doi.clone())
        .push_bind(record.journal_ref.clone())
        .push_bind(record.comment.clone())
        .push_bind(record.code_url.clone())
        .push_bind(record.project_url.clone())
        .push_bind(record.github_stars.map(i64::from))
        .push_bind(i64::from(record.external_upvotes))
        .push_bind(record.source.as_str())
        .push_bind(seq)
        .push_bind(now.to_owned());
}

/// Inserts new papers in multi-row statements; returns each one's new id. The ids are assigned
/// here, after the largest one in use: the transaction holds SQLite's write lock, so nobody else
/// can take them meanwhile.
async fn insert_papers<'r>(
    conn: &mut SqliteConnection,
    records: &'r [Keyed],
    seq: &mut i64,
    now: &str,
) -> Result<Vec<(PaperId, &'r PaperRecord)>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut next_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM papers")
        .fetch_one(&mut *conn)
        .await
        .context("reading the next paper id")?;
    let mut inserted = Vec::with_capacity(records.len());
    let rows_per_statement = MAX_BINDS / (WRITE_COLUMN_COUNT + 2);
    for chunk in records.chunks(rows_per_statement) {
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "INSERT INTO papers (id, {WRITE_COLUMNS}, first_seen_at) "
        ));
        sql.push_values(chunk, |mut values, keyed| {
            *seq += 1;
            values.push_bind(next_id);
            push_paper_values(&mut values, keyed, *seq, now);
            values.push_bind(now.to_owned());
            inserted.push((PaperId(next_id), &keyed.record));
            next_id += 1;
        });
        sql.build()
            .execute(&mut *conn)
            .await
            .context("inserting papers")?;
    }
    Ok(inserted)
}

async fn update_paper(
    conn: &mut SqliteConnection,
    id: PaperId,
    keyed: &Keyed,
    seq: i64,
    now: &str,
) -> Result<(), StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new(format!("UPDATE papers SET ({WRITE_COLUMNS}) = ("));
    let mut values = sql.separated(", ");
    push_paper_values(&mut values, keyed, seq, now);
    sql.push(") WHERE id = ").push_bind(id.0);
    sql.build()
        .execute(&mut *conn)
        .await
        .context("updating a paper")?;
    Ok(())
}

/// Rewrites the categories of these papers and adds their listing dates.
async fn write_children(
    conn: &mut SqliteConnection,
    papers: &[(PaperId, &PaperRecord)],
) -> Result<(), StoreError> {
    if papers.is_empty() {
        return Ok(());
    }
    let ids: Vec<PaperId> = papers.iter().map(|(id, _)| *id).collect();
    for chunk in ids.chunks(MAX_BINDS) {
        let mut sql =
            QueryBuilder::<Sqlite>::new("DELETE FROM paper_categories WHERE paper_id IN (");
        let mut list = sql.separated(", ");
        for id in chunk {
            list.push_bind(id.0);
        }
        sql.push(")");
        sql.build()
            .execute(&mut *conn)
            .await
            .context("clearing categories")?;
    }

    let categories: Vec<(i64, i64, &str)> = papers
        .iter()
        .flat_map(|(id, record)| {
            record
                .categories
                .iter()
                .enumerate()
                .map(move |(position, category)| (id.0, position as i64, category.as_str()))
        })
        .collect();
    for chunk in categories.chunks(MAX_BINDS / 3) {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO paper_categories (paper_id, position, category) ",
        );
        sql.push_values(chunk, |mut values, (id, position, category)| {
            values
                .push_bind(*id)
                .push_bind(*position)
                .push_bind(category.to_string());
        });
        sql.build()
            .execute(&mut *conn)
            .await
            .context("writing categories")?;
    }

    let listings: Vec<(i64, NaiveDate)> = papers
        .iter()
        .flat_map(|(id, record)| record.listing_dates.iter().map(move |date| (id.0, *date)))
        .collect();
    for chunk in listings.chunks(MAX_BINDS / 2) {
        let mut sql =
            QueryBuilder::<Sqlite>::new("INSERT INTO paper_listings (paper_id, listing_date) ");
        sql.push_values(chunk, |mut values, (id, date)| {
            values.push_bind(*id).push_bind(*date);
        });
        sql.push(" ON CONFLICT DO NOTHING");
        sql.build()
            .execute(&mut *conn)
            .await
            .context("writing listing dates")?;
    }
    Ok(())
}
