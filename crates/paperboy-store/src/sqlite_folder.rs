//! The SQLite side of interest folders (see [`crate::folder`]). Each change is one `BEGIN
//! IMMEDIATE` transaction, so a check and the write that follows it cannot interleave with
//! another writer's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paperboy_core::PaperId;
use paperboy_core::account::{FolderId, UserId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::folder::{Folder, MAX_FOLDERS, MAX_RATINGS, NewFolder, Rated, Rating};
use crate::rows::FOLDER_COLUMNS;
use crate::sqlite_mail::{parse_stamp, stamp};
use crate::{Context, FolderStore, SqliteStore, StoreError};

fn folder_from_row(row: &SqliteRow) -> Result<Folder, StoreError> {
    Ok(Folder {
        id: FolderId(row.get("id")),
        user: UserId(row.get("user_id")),
        name: row.get("name"),
        created_at: parse_stamp(row.get("created_at"))?,
        relevant: u32::try_from(row.get::<i64, _>("relevant")).unwrap_or(u32::MAX),
        not_relevant: u32::try_from(row.get::<i64, _>("not_relevant")).unwrap_or(u32::MAX),
    })
}

#[async_trait]
impl FolderStore for SqliteStore {
    async fn add_folder(
        &self,
        user: UserId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<NewFolder, StoreError> {
        let mut tx = self.begin_write().await?;
        let (count, taken): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(name = $2), 0) FROM folders WHERE user_id = $1",
        )
        .bind(user.0)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .context("counting a reader's folders")?;
        if taken > 0 {
            return Ok(NewFolder::NameTaken);
        }
        if count >= i64::from(MAX_FOLDERS) {
            return Ok(NewFolder::TooMany);
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO folders (user_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(user.0)
        .bind(name)
        .bind(stamp(now))
        .fetch_one(&mut *tx)
        .await
        .context("making a folder")?;
        tx.commit().await.context("committing a folder")?;
        Ok(NewFolder::Made(Folder {
            id: FolderId(id),
            user,
            name: name.to_owned(),
            created_at: now,
            relevant: 0,
            not_relevant: 0,
        }))
    }

    async fn folders(&self, user: UserId) -> Result<Vec<Folder>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FOLDER_COLUMNS} FROM folders f WHERE f.user_id = $1 ORDER BY f.name"
        )))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .context("listing a reader's folders")?
        .iter()
        .map(folder_from_row)
        .collect()
    }

    async fn folder(&self, user: UserId, folder: FolderId) -> Result<Option<Folder>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FOLDER_COLUMNS} FROM folders f WHERE f.user_id = $1 AND f.id = $2"
        )))
        .bind(user.0)
        .bind(folder.0)
        .fetch_optional(&self.pool)
        .await
        .context("reading a folder")?
        .as_ref()
        .map(folder_from_row)
        .transpose()
    }

    async fn delete_folder(&self, user: UserId, folder: FolderId) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM folders WHERE id = $1 AND user_id = $2")
            .bind(folder.0)
            .bind(user.0)
            .execute(&self.pool)
            .await
            .context("deleting a folder")?
            .rows_affected();
        Ok(deleted == 1)
    }

    async fn rate(
        &self,
        user: UserId,
        folder: FolderId,
        paper: PaperId,
        rating: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<Rated, StoreError> {
        let mut tx = self.begin_write().await?;
        let found: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM folder_ratings WHERE folder_id = f.id), \
                    (SELECT COUNT(*) FROM folder_ratings WHERE folder_id = f.id AND paper_id = $3), \
                    (SELECT COUNT(*) FROM papers WHERE id = $3 AND hidden_at IS NULL) \
             FROM folders f WHERE f.id = $1 AND f.user_id = $2",
        )
        .bind(folder.0)
        .bind(user.0)
        .bind(paper.0)
        .fetch_optional(&mut *tx)
        .await
        .context("reading a folder to rate in")?;
        let Some((rated, already, visible)) = found else {
            return Ok(Rated::NotFound);
        };
        if visible == 0 {
            return Ok(Rated::NotFound);
        }
        match rating {
            None => {
                sqlx::query("DELETE FROM folder_ratings WHERE folder_id = $1 AND paper_id = $2")
                    .bind(folder.0)
                    .bind(paper.0)
                    .execute(&mut *tx)
                    .await
                    .context("taking a rating back")?;
            }
            Some(_) if already == 0 && rated >= i64::from(MAX_RATINGS) => return Ok(Rated::Full),
            Some(relevant) => {
                sqlx::query(
                    "INSERT INTO folder_ratings (folder_id, paper_id, relevant, rated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (folder_id, paper_id) \
                     DO UPDATE SET relevant = excluded.relevant, rated_at = excluded.rated_at",
                )
                .bind(folder.0)
                .bind(paper.0)
                .bind(relevant)
                .bind(stamp(now))
                .execute(&mut *tx)
                .await
                .context("rating a paper")?;
            }
        }
        tx.commit().await.context("committing a rating")?;
        Ok(Rated::Done)
    }

    async fn ratings(&self, folder: FolderId) -> Result<Vec<Rating>, StoreError> {
        let rows: Vec<(i64, bool, String)> = sqlx::query_as(
            "SELECT paper_id, relevant, rated_at FROM folder_ratings WHERE folder_id = $1 \
             ORDER BY rated_at DESC, paper_id DESC",
        )
        .bind(folder.0)
        .fetch_all(&self.pool)
        .await
        .context("reading a folder's ratings")?;
        rows.into_iter()
            .map(|(paper, relevant, rated_at)| {
                Ok(Rating {
                    paper: PaperId(paper),
                    relevant,
                    rated_at: parse_stamp(&rated_at)?,
                })
            })
            .collect()
    }
}
