//! Moving a whole store into another (`paperboy store copy`): from the embedded SQLite file to
//! PostgreSQL when a site outgrows one node, or back.
//!
//! Both backends have the same tables and columns in their own types; [`TABLES`] lists them
//! with each column's kind, and each backend reads and writes rows of [`Value`]s by those kinds
//! ([`CopyStore`]). Tables are copied in foreign-key order, each in key order, a batch per
//! transaction, ids kept (so links, sessions and manage links keep working, and nothing is
//! embedded again: embeddings are rows like the others). A copy stopped half-way resumes
//! after the last key the target holds; a target holding anything else is refused. It ends by
//! comparing every table's count.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::{Store, StoreError};

/// How a column's values are stored (each backend in its own type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bytes,
    Date,
    Time,
    Bool,
}

/// One table to copy: its key (rows are copied in its order) and every column.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
    /// Rows per batch: fewer for tables of large rows.
    pub batch: u32,
}

impl Table {
    /// The columns, comma-separated, for SQL.
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key columns, comma-separated, for SQL.
    pub(crate) fn key_list(&self) -> String {
        self.key.join(", ")
    }

    /// The kinds of the key columns, in key order.
    pub(crate) fn key_kinds(&self) -> Vec<Kind> {
        self.key
            .iter()
            .map(|key| {
                self.columns
                    .iter()
                    .find(|(name, _)| name == key)
                    .map_or(Kind::Text, |(_, kind)| *kind)
            })
            .collect()
    }

    /// Where the key columns are among the columns.
    pub(crate) fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .filter_map(|key| self.columns.iter().position(|(name, _)| name == key))
            .collect()
    }
}

/// A value of a copied row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Bool(bool),
}

pub type CopiedRow = Vec<Value>;

use Kind::{Bool, Bytes, Date, Int, Text, Time};

/// Every table of Paperboy's data, parents before children. Not copied: `leases` and
/// `rate_limits` (they belong to the running nodes of one database and are forgotten within the
/// hour) and `store_copies` (the copy's own record).
pub const TABLES: &[Table] = &[
    Table {
        name: "papers",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("arxiv_id", Text),
            ("version", Int),
            ("title", Text),
            ("title_key", Text),
            ("abstract", Text),
            ("authors", Text),
            ("published", Date),
            ("updated", Date),
            ("sort_date", Date),
            ("doi", Text),
            ("journal_ref", Text),
            ("comment", Text),
            ("code_url", Text),
            ("project_url", Text),
            ("github_stars", Int),
            ("external_upvotes", Int),
            ("source", Text),
            ("change_seq", Int),
            ("first_seen_at", Time),
            ("changed_at", Time),
            ("local_upvotes", Int),
            ("hidden_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "paper_categories",
        key: &["paper_id", "position"],
        columns: &[("paper_id", Int), ("position", Int), ("category", Text)],
        batch: 5_000,
    },
    Table {
        name: "paper_listings",
        key: &["paper_id", "listing_date"],
        columns: &[("paper_id", Int), ("listing_date", Date)],
        batch: 5_000,
    },
    Table {
        name: "embeddings",
        key: &["content_hash"],
        columns: &[("content_hash", Text), ("vector", Bytes)],
        batch: 2_000,
    },
    Table {
        name: "sentence_embeddings",
        key: &["content_hash"],
        columns: &[("content_hash", Text), ("vectors", Bytes)],
        batch: 500,
    },
    Table {
        name: "subscribers",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("email", Text),
            ("state", Text),
            ("topics", Text),
            ("categories", Text),
            ("frequency", Text),
            ("created_at", Time),
            ("confirmed_at", Time),
            ("last_digest_period", Text),
            ("last_digest_until", Date),
            ("refusals", Int),
            ("link_generation", Int),
        ],
        batch: 2_000,
    },
    Table {
        name: "subscription_requests",
        key: &["token_hash"],
        columns: &[
            ("token_hash", Bytes),
            ("subscriber_id", Int),
            ("preferences", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "digest_items",
        key: &["subscriber_id", "paper_id"],
        columns: &[("subscriber_id", Int), ("paper_id", Int), ("period", Text)],
        batch: 5_000,
    },
    Table {
        name: "outbox",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("idempotency_key", Text),
            ("subscriber_id", Int),
            ("kind", Text),
            ("sender", Text),
            ("recipient", Text),
            ("mailbox", Text),
            ("message_id", Text),
            ("message", Bytes),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("leased_until", Time),
            ("last_error", Text),
            ("created_at", Time),
            ("sent_at", Time),
        ],
        batch: 500,
    },
    Table {
        name: "settings",
        key: &["name"],
        columns: &[("name", Text), ("value", Bytes)],
        batch: 500,
    },
    Table {
        name: "users",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("email", Text),
            ("is_admin", Bool),
            ("hidden_at", Time),
            ("created_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "sign_in_requests",
        key: &["token_hash"],
        columns: &[
            ("token_hash", Bytes),
            ("email", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "sessions",
        key: &["token_hash"],
        columns: &[
            ("token_hash", Bytes),
            ("user_id", Int),
            ("created_at", Time),
            ("expires_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "access_tokens",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("token_hash", Bytes),
            ("label", Text),
            ("scope", Text),
            ("created_at", Time),
            ("last_used_at", Time),
            ("revoked_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "folders",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("name", Text),
            ("created_at", Time),
        ],
        batch: 2_000,
    },
    Table {
        name: "folder_ratings",
        key: &["folder_id", "paper_id"],
        columns: &[
            ("folder_id", Int),
            ("paper_id", Int),
            ("relevant", Bool),
            ("rated_at", Time),
        ],
        batch: 5_000,
    },
    Table {
        name: "votes",
        key: &["user_id", "paper_id"],
        columns: &[("user_id", Int), ("paper_id", Int), ("voted_at", Time)],
        batch: 5_000,
    },
    Table {
        name: "saved_papers",
        key: &["user_id", "paper_id"],
        columns: &[("user_id", Int), ("paper_id", Int), ("saved_at", Time)],
        batch: 5_000,
    },
    Table {
        name: "harvest_sources",
        key: &["source"],
        columns: &[
            ("source", Text),
            ("cursor", Text),
            ("pending", Text),
            ("last_run_at", Time),
            ("last_success_at", Time),
            ("last_error", Text),
            ("runs", Int),
            ("failures", Int),
            ("records", Int),
        ],
        batch: 500,
    },
];

/// Tables of the schema that are deliberately not copied (see [`TABLES`]).
pub const NOT_COPIED: &[&str] = &["leases", "rate_limits", "store_copies"];

/// Row-level access for copying a store (see the module docs).
#[async_trait]
pub trait CopyStore: Send + Sync {
    /// Up to `table.batch` rows of `table` with keys after `after`, in key order.
    async fn rows_after(
        &self,
        table: &Table,
        after: Option<&[Value]>,
    ) -> Result<Vec<CopiedRow>, StoreError>;

    /// The key of the last row of `table` in key order, if it has rows.
    async fn last_key(&self, table: &Table) -> Result<Option<Vec<Value>>, StoreError>;

    /// Inserts copied rows as they are, ids included, in one transaction.
    async fn insert_rows(&self, table: &Table, rows: &[CopiedRow]) -> Result<(), StoreError>;

    /// Makes new ids follow the copied ones (PostgreSQL's identity sequences).
    async fn after_copy(&self) -> Result<(), StoreError>;

    /// The copies into this database: each source, and whether it finished.
    async fn copies(&self) -> Result<Vec<(String, bool)>, StoreError>;

    /// Records that a copy from `source` began, or finished.
    async fn record_copy(&self, source: &str, finished: bool) -> Result<(), StoreError>;

    /// Every column of every Paperboy table in this database, as `(table, column)`.
    async fn schema_columns(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// How a copy is going: told each table's size before it starts, and each batch copied.
pub trait CopyProgress: Send + Sync {
    fn table(&self, name: &str, rows: u64, already: u64);
    fn copied(&self, rows: u64);
}

/// What a copy did.
#[derive(Debug, Default)]
pub struct CopyReport {
    /// Each table with its rows, equal in both stores.
    pub tables: Vec<(String, u64)>,
    /// Whether an interrupted copy was resumed.
    pub resumed: bool,
}

/// Copies every table of `from` into `to`, which must be empty or hold an unfinished copy
/// from the same `source` (then it resumes); see the module docs.
pub async fn copy_store(
    from: &dyn Store,
    to: &dyn Store,
    source: &str,
    progress: &dyn CopyProgress,
) -> Result<CopyReport, StoreError> {
    let copies = to.copies().await?;
    let resumed = copies
        .iter()
        .any(|(earlier, finished)| earlier == source && !finished);
    if !resumed {
        if let Some((earlier, _)) = copies.first() {
            return Err(StoreError::Refused(format!(
                "the target already holds a copy of {earlier}; copy into an empty database"
            )));
        }
        let counts = to.table_counts().await?;
        let holding: Vec<String> = counts
            .iter()
            .filter(|(name, rows)| *rows > 0 && TABLES.iter().any(|table| table.name == name))
            .map(|(name, rows)| format!("{name}: {rows}"))
            .collect();
        if !holding.is_empty() {
            return Err(StoreError::Refused(format!(
                "the target database already holds data ({}); copy into an empty database",
                holding.join(", ")
            )));
        }
        to.record_copy(source, false).await?;
    }
    let source_counts = from.table_counts().await?;
    let count_of = |counts: &[(String, u64)], name: &str| {
        counts
            .iter()
            .find(|(table, _)| table == name)
            .map_or(0, |(_, rows)| *rows)
    };
    let target_counts = to.table_counts().await?;
    for table in TABLES {
        progress.table(
            table.name,
            count_of(&source_counts, table.name),
            count_of(&target_counts, table.name),
        );
        let mut after = to.last_key(table).await?;
        loop {
            let rows = from.rows_after(table, after.as_deref()).await?;
            let Some(last) = rows.last() else { break };
            after = Some(
                table
                    .key_positions()
                    .iter()
                    .map(|&position| last[position].clone())
                    .collect(),
            );
            to.insert_rows(table, &rows).await?;
            progress.copied(rows.len() as u64);
        }
    }
    to.after_copy().await?;
    let source_counts = from.table_counts().await?;
    let target_counts = to.table_counts().await?;
    let mut report = CopyReport {
        tables: Vec::new(),
        resumed,
    };
    let mut differences = Vec::new();
    for table in TABLES {
        let (source_rows, target_rows) = (
            count_of(&source_counts, table.name),
            count_of(&target_counts, table.name),
        );
        if source_rows != target_rows {
            differences.push(format!(
                "{}: {source_rows} in the source, {target_rows} in the target",
                table.name
            ));
        }
        report.tables.push((table.name.to_owned(), source_rows));
    }
    if !differences.is_empty() {
        return Err(StoreError::Refused(format!(
            "the copy's counts differ ({}); the source changed during the copy: stop what \
             writes to it and run the copy again, which goes on where it stopped",
            differences.join("; ")
        )));
    }
    to.record_copy(source, true).await?;
    Ok(report)
}

/// `SELECT` of a batch of `table`'s rows in key order, after the key bound as `$1`.. when
/// `after` (the same SQL serves both backends).
pub(crate) fn select_sql(table: &Table, after: bool) -> String {
    let keys = table.key_list();
    let mut sql = format!("SELECT {} FROM {}", table.column_list(), table.name);
    if after {
        let placeholders: Vec<String> = (1..=table.key.len()).map(|n| format!("${n}")).collect();
        sql.push_str(&format!(" WHERE ({keys}) > ({})", placeholders.join(", ")));
    }
    sql.push_str(&format!(" ORDER BY {keys} LIMIT {}", table.batch));
    sql
}

/// `SELECT` of the last key of `table`.
pub(crate) fn last_key_sql(table: &Table) -> String {
    let order: Vec<String> = table.key.iter().map(|key| format!("{key} DESC")).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT 1",
        table.key_list(),
        table.name,
        order.join(", ")
    )
}

/// `INSERT` of `rows` rows into `table`, values bound in row order as `$1`..; rows whose key
/// is already there are left as they are.
pub(crate) fn insert_sql(table: &Table, rows: usize) -> String {
    let width = table.columns.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let placeholders: Vec<String> = (1..=width)
                .map(|column| format!("${}", row * width + column))
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {} ON CONFLICT DO NOTHING",
        table.name,
        table.column_list(),
        values.join(", ")
    )
}

/// Rows per `INSERT` so that its bound values stay under `max_binds`.
pub(crate) fn rows_per_insert(table: &Table, max_binds: usize) -> usize {
    (max_binds / table.columns.len()).max(1)
}
