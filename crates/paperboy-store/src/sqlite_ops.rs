//! Operating the SQLite store: opening it read-only, online backups, checking a file before a
//! restore, schema versions, integrity checks and the checkpoint on close.
//!
//! A backup is `VACUUM INTO` a new file: one read transaction, so it is a consistent snapshot
//! while writers go on (WAL readers never block writers), and the copy is compact and holds
//! every table. It is written under a temporary name beside its destination, synced, made
//! private (0600), then linked to its name, which fails rather than replace an existing file.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::sqlite::SCHEMA_VERSION;
use crate::{Context, SqliteStore, Store, StoreError};

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Where the automatic copies taken before schema upgrades go, beside the database file.
pub const BACKUPS_DIR: &str = "backups";

impl SqliteStore {
    /// Opens an existing database only to read it, also where this process may not write: a
    /// data folder owned by someone else, or a read-only file system. When the folder cannot
    /// be written and no write-ahead log is pending, the file is opened as immutable (SQLite
    /// then needs no `-shm` file beside it). The schema must be this version's.
    pub async fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Refused(format!(
                "there is no database at {}",
                path.display()
            )));
        }
        let immutable = !folder_writable(folder_of(path)) && !has_pending_wal(path);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(immutable)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .context("opening the SQLite database read-only")?;
        let store = SqliteStore {
            pool,
            read_only: true,
            upgrade_backup: None,
        };
        let found = match store.schema_version().await {
            Ok(found) => found,
            Err(error) => {
                store.pool.close().await;
                return Err(error);
            }
        };
        let refusal = match found {
            None => Some(StoreError::Refused(format!(
                "{} is not a Paperboy database (it has no schema versions)",
                path.display()
            ))),
            Some(found) if found > SCHEMA_VERSION => Some(StoreError::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            }),
            Some(found) if found < SCHEMA_VERSION => Some(StoreError::OlderSchemaReadOnly {
                found,
                known: SCHEMA_VERSION,
            }),
            Some(_) => None,
        };
        if let Some(refusal) = refusal {
            store.pool.close().await;
            return Err(refusal);
        }
        Ok(store)
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The schema version the database is at: the last migration applied, `None` for a
    /// database Paperboy never migrated (a new, empty file).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        schema_version_of(&self.pool).await
    }

    async fn vacuum_into(&self, temporary: &Path) -> Result<(), StoreError> {
        let target = temporary.to_str().ok_or_else(|| {
            StoreError::Refused(format!(
                "{} is not a UTF-8 path SQLite can write to",
                temporary.display()
            ))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .context("copying the database")?;
        Ok(())
    }

    /// The copy taken before migrations change the schema of the database at `path`, at
    /// version `found`: `backups/paperboy-<UTC time>-<pid>-schema-<found>.sqlite3` beside it.
    pub(crate) async fn backup_before_upgrade(
        &self,
        path: &Path,
        found: i64,
    ) -> Result<PathBuf, StoreError> {
        let folder = folder_of(path).join(BACKUPS_DIR);
        fs::create_dir_all(&folder).map_err(|source| StoreError::File {
            context: "cannot create the backups folder",
            path: folder.clone(),
            source,
        })?;
        let name = format!(
            "paperboy-{}-{}-schema-{found}.sqlite3",
            Utc::now().format("%Y%m%dT%H%M%SZ"),
            std::process::id()
        );
        let backup = folder.join(name);
        self.backup_to(&backup).await?;
        Ok(backup)
    }

    /// Moves what the write-ahead log holds into the database file and empties the log. It
    /// waits at most two seconds for other processes' transactions: the log is then emptied by
    /// whoever closes last.
    pub(crate) async fn checkpoint(&self) {
        let Ok(mut connection) = self.pool.acquire().await else {
            return;
        };
        let _ = sqlx::query("PRAGMA busy_timeout = 2000")
            .execute(&mut *connection)
            .await;
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *connection)
            .await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    /// Checkpoints the WAL into the database file (so that the file alone holds every committed
    /// transaction) and closes the pool. Nothing is written on a read-only store.
    async fn close(&self) {
        if !self.read_only && !self.pool.is_closed() {
            self.checkpoint().await;
        }
        self.pool.close().await;
    }
    /// Writes a consistent copy of the whole database to the new file `path` (mode 0600),
    /// while others go on reading and writing; an existing file is never replaced.
    async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        let name = path.file_name().ok_or_else(|| {
            StoreError::Refused(format!("{} does not name a file", path.display()))
        })?;
        if fs::symlink_metadata(path).is_ok() {
            return Err(exists(path));
        }
        let folder = folder_of(path);
        let temporary = folder.join(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let _ = fs::remove_file(&temporary);
        create_private(&temporary)?;
        let written = self.vacuum_into(&temporary).await;
        let placed = written.and_then(|()| place(&temporary, path));
        let _ = fs::remove_file(&temporary);
        placed
    }
    /// What `PRAGMA integrity_check` and `PRAGMA foreign_key_check` find; empty when nothing.
    async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        match sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
        {
            Ok(rows) if rows.len() == 1 && rows[0] == "ok" => {}
            Ok(rows) => problems.extend(rows.into_iter().map(|row| format!("integrity: {row}"))),
            Err(error) => problems.push(format!("the integrity check could not finish: {error}")),
        }
        match sqlx::query_as::<_, (String, Option<i64>, String)>(
            "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check",
        )
        .fetch_all(&self.pool)
        .await
        {
            Ok(rows) => problems.extend(rows.into_iter().map(|(table, rowid, parent)| {
                format!(
                    "table {table}, row {}: refers to a row of {parent} that does not exist",
                    rowid.map_or_else(|| "?".to_owned(), |rowid| rowid.to_string())
                )
            })),
            Err(error) => {
                problems.push(format!("the foreign key check could not finish: {error}"));
            }
        }
        Ok(problems)
    }
    /// Every table (SQLite's own left out) with its number of rows, by name.
    async fn table_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        table_counts_of(&self.pool).await
    }

    fn upgrade_backup(&self) -> Option<&Path> {
        self.upgrade_backup.as_deref()
    }
}

/// What a database file to restore holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseFile {
    pub schema_version: i64,
    pub papers: u64,
}

/// Checks that `path` is a Paperboy database that can be restored: an SQLite file, not a live
/// database with a write-ahead log beside it, with Paperboy's schema at a version this binary
/// knows, passing SQLite's quick check.
pub async fn inspect_database_file(path: &Path) -> Result<DatabaseFile, StoreError> {
    let not_paperboy = |why: &str| {
        StoreError::Refused(format!(
            "{} is not a Paperboy database: {why}",
            path.display()
        ))
    };
    let mut file = File::open(path).map_err(|source| StoreError::File {
        context: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    if !file.metadata().is_ok_and(|metadata| metadata.is_file()) {
        return Err(not_paperboy("it is not a file"));
    }
    let mut magic = [0u8; 16];
    if file.read_exact(&mut magic).is_err() || &magic != SQLITE_MAGIC {
        return Err(not_paperboy("it is not an SQLite database file"));
    }
    if has_pending_wal(path) {
        return Err(StoreError::Refused(format!(
            "{} has a write-ahead log beside it ({}) holding changes the file lacks: it is a live \
             database, not a backup. Stop the server that uses it (it then folds the log in), or \
             take a backup with `paperboy backup FILE` and restore that",
            path.display(),
            wal_path(path).display()
        )));
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|error| not_paperboy(&format!("SQLite cannot open it ({error})")))?;
    let inspected = inspect_pool(&pool, &not_paperboy).await;
    pool.close().await;
    inspected
}

async fn inspect_pool(
    pool: &SqlitePool,
    not_paperboy: &dyn Fn(&str) -> StoreError,
) -> Result<DatabaseFile, StoreError> {
    let version = schema_version_of(pool)
        .await
        .map_err(|error| not_paperboy(&format!("SQLite cannot read it ({error})")))?
        .ok_or_else(|| not_paperboy("it has no Paperboy schema versions"))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('papers', 'embeddings')",
    )
    .fetch_all(pool)
    .await
    .context("reading the tables of the file")?;
    if !tables.iter().any(|table| table == "papers") {
        return Err(not_paperboy("it has no papers table"));
    }
    let checked: Vec<String> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(pool)
        .await
        .map_err(|error| not_paperboy(&format!("it is damaged ({error})")))?;
    if !(checked.len() == 1 && checked[0] == "ok") {
        return Err(not_paperboy(&format!(
            "it is damaged ({})",
            checked.join("; ")
        )));
    }
    let papers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM papers")
        .fetch_one(pool)
        .await
        .context("counting the papers of the file")?;
    Ok(DatabaseFile {
        schema_version: version,
        papers: papers.unsigned_abs(),
    })
}

/// Copies the database file `from` to the new file `to` (mode 0600, synced); an existing `to`
/// is never replaced.
pub fn copy_database_file(from: &Path, to: &Path) -> Result<(), StoreError> {
    if fs::symlink_metadata(to).is_ok() {
        return Err(exists(to));
    }
    let name = to
        .file_name()
        .ok_or_else(|| StoreError::Refused(format!("{} does not name a file", to.display())))?;
    let temporary = folder_of(to).join(format!(
        ".{}.restoring-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&temporary);
    let copied = (|| {
        let mut output = create_private(&temporary)?;
        let mut input = File::open(from).map_err(|source| StoreError::File {
            context: "cannot read",
            path: from.to_path_buf(),
            source,
        })?;
        std::io::copy(&mut input, &mut output).map_err(|source| StoreError::File {
            context: "cannot write",
            path: temporary.clone(),
            source,
        })?;
        place(&temporary, to)
    })();
    let _ = fs::remove_file(&temporary);
    copied
}

/// The counts of every table of the database file at `path`, read without changing it.
pub async fn table_counts_in_file(path: &Path) -> Result<Vec<(String, u64)>, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(!has_pending_wal(path));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .context("opening the SQLite database read-only")?;
    let counts = table_counts_of(&pool).await;
    pool.close().await;
    counts
}

async fn table_counts_of(pool: &SqlitePool) -> Result<Vec<(String, u64)>, StoreError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .context("listing the tables")?;
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        // The name comes from sqlite_master, quoted as SQLite quotes identifiers.
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .context("counting rows")?;
        counts.push((table, count.unsigned_abs()));
    }
    Ok(counts)
}

async fn schema_version_of(pool: &SqlitePool) -> Result<Option<i64>, StoreError> {
    let has_table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await
    .context("reading the schema version")?;
    if has_table.is_none() {
        return Ok(None);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .context("reading the schema version")?;
    Ok(version)
}

/// The folder a file is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The write-ahead log SQLite keeps beside a database file.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// Whether a non-empty write-ahead log lies beside the database file.
pub fn has_pending_wal(path: &Path) -> bool {
    fs::metadata(wal_path(path)).is_ok_and(|metadata| metadata.len() > 0)
}

/// Whether this process can create files in `folder` (tried, since permissions alone do not
/// say: ownership, ACLs and read-only mounts all count).
pub fn folder_writable(folder: &Path) -> bool {
    let probe = folder.join(format!(".paperboy-write-test-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            true
        }
        Err(error) => error.kind() == std::io::ErrorKind::AlreadyExists,
    }
}

fn exists(path: &Path) -> StoreError {
    StoreError::Refused(format!(
        "{} already exists: name a new file (nothing is overwritten)",
        path.display()
    ))
}

/// Creates an empty file only this user may read.
fn create_private(path: &Path) -> Result<File, StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| StoreError::File {
        context: "cannot create",
        path: path.to_path_buf(),
        source,
    })
}

/// Syncs `temporary`, makes it private and links it to `path` (refusing an existing one), then
/// syncs the folder so that the new name survives a crash. `temporary` is left to the caller.
fn place(temporary: &Path, path: &Path) -> Result<(), StoreError> {
    let io = |context: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| StoreError::File {
            context,
            path: at,
            source,
        }
    };
    let file = File::open(temporary).map_err(io("cannot read", temporary))?;
    file.sync_all().map_err(io("cannot sync", temporary))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(temporary, fs::Permissions::from_mode(0o600))
            .map_err(io("cannot make private", temporary))?;
    }
    fs::hard_link(temporary, path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            exists(path)
        } else {
            StoreError::File {
                context: "cannot write",
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let folder = folder_of(path);
    File::open(folder)
        .and_then(|folder| folder.sync_all())
        .map_err(io("cannot sync the folder", folder))?;
    Ok(())
}
