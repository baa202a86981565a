//! The SQLite side of accounts: users, sign-in links, sessions, access tokens, votes and saved
//! papers (see
//! [`crate::account`]). Times are stored as in [`crate::sqlite_mail`].

use async_trait::async_trait;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use paperboy_core::account::{AccessTokenId, UserId};
use paperboy_core::token::TokenHash;
use paperboy_core::{EmailAddress, PaperId};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::AccountStore;
use crate::account::{
    AccessToken, MAX_ACCESS_TOKENS, Marked, Marks, NewAccessToken, NewSession, SignIn,
    SignInRequest, TOKEN_USE_RESOLUTION, TokenCheck, User, VoteOutcome, VoteTally,
};
use crate::mail::RequestOutcome;
use crate::rows::{USER_COLUMNS, token_scope};
use crate::sqlite_mail::{
    insert_message, over_address_limit, over_mailbox_limit, parse_stamp, stamp,
};
use crate::{Context, SqliteStore, StoreError};

/// An access token's columns, as [`access_token_from_row`] reads them.
const ACCESS_TOKEN_COLUMNS: &str = "id, label, scope, created_at, last_used_at, revoked_at";

/// Bound values per statement in the batched statements below.
const MAX_BINDS: usize = 30_000;

fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let email: String = row.get("email");
    let hidden_at: Option<String> = row.get("hidden_at");
    Ok(User {
        id: UserId(row.get("id")),
        email: email
            .parse()
            .map_err(|_| StoreError::Corrupt("a user's address".into()))?,
        is_admin: row.get("is_admin"),
        hidden: hidden_at.is_some(),
        created_at: parse_stamp(row.get("created_at"))?,
    })
}

fn access_token_from_row(row: &SqliteRow) -> Result<AccessToken, StoreError> {
    let scope: String = row.get("scope");
    let optional_stamp = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.get::<Option<String>, _>(column)
            .map(|text| parse_stamp(&text))
            .transpose()
    };
    Ok(AccessToken {
        id: AccessTokenId(row.get("id")),
        label: row.get("label"),
        scope: token_scope(&scope)?,
        created_at: parse_stamp(row.get("created_at"))?,
        last_used_at: optional_stamp("last_used_at")?,
        revoked_at: optional_stamp("revoked_at")?,
    })
}

async fn load_user(
    conn: &mut SqliteConnection,
    clause: &'static str,
    value: impl for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
) -> Result<Option<User>, StoreError> {
    // `clause` is one of this module's column names, never input.
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {clause} = $1"
    )))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await
    .context("reading a user")?;
    row.as_ref().map(user_from_row).transpose()
}

/// Adds `change` to the counts of the papers `user` voted for (hiding or restoring a user).
async fn shift_counts_of_votes(
    conn: &mut SqliteConnection,
    user: UserId,
    change: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE papers SET local_upvotes = MAX(0, local_upvotes + $1) \
         WHERE id IN (SELECT paper_id FROM votes WHERE user_id = $2)",
    )
    .bind(change)
    .bind(user.0)
    .execute(&mut *conn)
    .await
    .context("recounting a user's votes")?;
    Ok(())
}

fn marked_from_rows(rows: Vec<(i64, String)>) -> Result<Vec<Marked>, StoreError> {
    rows.into_iter()
        .map(|(paper, at)| {
            Ok(Marked {
                paper: PaperId(paper),
                at: parse_stamp(&at)?,
            })
        })
        .collect()
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn request_sign_in(&self, request: SignInRequest) -> Result<RequestOutcome, StoreError> {
        let now = stamp(request.now);
        let mut tx = self.begin_write().await?;
        let counting = "SELECT COUNT(*), MAX(created_at) FROM sign_in_requests \
             WHERE email = $1 AND created_at > $2";
        let email = request.email.as_str().to_owned();
        if over_address_limit(&mut tx, counting, email.clone(), request.limit, request.now).await?
            || over_mailbox_limit(&mut tx, &request.email, request.now).await?
        {
            return Ok(RequestOutcome::RateLimited);
        }
        // The address's links from before yesterday are dead: forget them.
        sqlx::query("DELETE FROM sign_in_requests WHERE email = $1 AND expires_at < $2")
            .bind(&email)
            .bind(stamp(request.now - chrono::Duration::hours(24)))
            .execute(&mut *tx)
            .await
            .context("forgetting old sign-in links")?;
        sqlx::query(
            "INSERT INTO sign_in_requests (token_hash, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(request.token.as_bytes().as_slice())
        .bind(&email)
        .bind(&now)
        .bind(stamp(request.expires_at))
        .execute(&mut *tx)
        .await
        .context("recording a sign-in request")?;
        insert_message(&mut tx, &request.mail, None, &now).await?;
        tx.commit().await.context("committing a sign-in request")?;
        Ok(RequestOutcome::Queued)
    }

    async fn complete_sign_in(
        &self,
        token: TokenHash,
        session: NewSession,
    ) -> Result<SignIn, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT email, expires_at, used_at FROM sign_in_requests WHERE token_hash = $1",
        )
        .bind(token.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .context("reading a sign-in request")?;
        let Some((email, expires_at, used_at)) = row else {
            return Ok(SignIn::Unknown);
        };
        if used_at.is_some() {
            return Ok(SignIn::AlreadyUsed);
        }
        if parse_stamp(&expires_at)? <= session.now {
            return Ok(SignIn::Expired);
        }
        let now = stamp(session.now);
        sqlx::query("UPDATE sign_in_requests SET used_at = $1 WHERE token_hash = $2")
            .bind(&now)
            .bind(token.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .context("using a sign-in link")?;
        let inserted = sqlx::query(
            "INSERT INTO users (email, created_at) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&email)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .context("recording a user")?
        .rows_affected();
        let user = load_user(&mut tx, "email", email)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a user that was just written".into()))?;
        if user.hidden {
            // The link is used up all the same.
            tx.commit().await.context("committing a refused sign-in")?;
            return Ok(SignIn::Refused);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
            .bind(user.id.0)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .context("forgetting expired sessions")?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(session.token.as_bytes().as_slice())
        .bind(user.id.0)
        .bind(&now)
        .bind(stamp(session.expires_at))
        .execute(&mut *tx)
        .await
        .context("opening a session")?;
        tx.commit().await.context("committing a sign-in")?;
        Ok(SignIn::SignedIn {
            user,
            new_user: inserted == 1,
        })
    }

    async fn session_user(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.is_admin, u.hidden_at, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.hidden_at IS NULL",
        )
        .bind(token.as_bytes().as_slice())
        .bind(stamp(now))
        .fetch_optional(&self.pool)
        .await
        .context("reading a session")?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn end_session(&self, token: TokenHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token.as_bytes().as_slice())
            .execute(&self.pool)
            .await
            .context("ending a session")?;
        Ok(())
    }

    async fn end_all_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.pool)
            .await
            .context("ending a user's sessions")?
            .rows_affected())
    }

    async fn add_user(
        &self,
        email: &EmailAddress,
        admin: bool,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (email, is_admin, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO UPDATE SET is_admin = is_admin OR excluded.is_admin",
        )
        .bind(email.as_str())
        .bind(admin)
        .bind(stamp(now))
        .execute(&mut *tx)
        .await
        .context("adding a user")?;
        let user = load_user(&mut tx, "email", email.as_str().to_owned())
            .await?
            .ok_or_else(|| StoreError::Corrupt("a user that was just written".into()))?;
        tx.commit().await.context("committing a user")?;
        Ok(user)
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        load_user(&mut conn, "email", email.as_str().to_owned()).await
    }

    async fn users(&self, hidden_only: bool) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE NOT $1 OR hidden_at IS NOT NULL ORDER BY id"
        )))
        .bind(hidden_only)
        .fetch_all(&self.pool)
        .await
        .context("listing users")?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_user_hidden(
        &self,
        user: UserId,
        hidden: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(stored) = load_user(&mut tx, "id", user.0).await? else {
            return Ok(false);
        };
        if stored.hidden != hidden {
            sqlx::query("UPDATE users SET hidden_at = $1 WHERE id = $2")
                .bind(hidden.then(|| stamp(now)))
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .context("hiding a user")?;
            shift_counts_of_votes(&mut tx, user, if hidden { -1 } else { 1 }).await?;
            if hidden {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .context("ending a hidden user's sessions")?;
            }
        }
        tx.commit().await.context("committing a hidden user")?;
        Ok(true)
    }

    async fn set_paper_hidden(
        &self,
        paper: PaperId,
        hidden: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // A new change sequence number tells search indexes, which follow change_seq, that
        // the paper was hidden or shown; in a write transaction, as every change_seq is given.
        let mut tx = self.begin_write().await?;
        // The stamp of the first hiding stays while hidden.
        let changed = sqlx::query(
            "UPDATE papers SET hidden_at = CASE WHEN $1 THEN COALESCE(hidden_at, $2) END, \
             change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM papers), \
             changed_at = $2 \
             WHERE id = $3",
        )
        .bind(hidden)
        .bind(stamp(now))
        .bind(paper.0)
        .execute(&mut *tx)
        .await
        .context("hiding a paper")?
        .rows_affected();
        tx.commit().await.context("committing a hidden paper")?;
        Ok(changed == 1)
    }

    async fn hidden_paper_ids(&self) -> Result<Vec<PaperId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM papers WHERE hidden_at IS NOT NULL ORDER BY hidden_at DESC, id",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing hidden papers")?;
        Ok(ids.into_iter().map(PaperId).collect())
    }

    async fn set_vote(
        &self,
        user: UserId,
        paper: PaperId,
        upvoted: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<VoteOutcome>, StoreError> {
        let mut tx = self.begin_write().await?;
        let visible: Option<bool> = sqlx::query_scalar(
            "SELECT p.hidden_at IS NULL AND u.hidden_at IS NULL \
             FROM papers p, users u WHERE p.id = $1 AND u.id = $2",
        )
        .bind(paper.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .context("checking a vote's paper")?;
        if visible != Some(true) {
            return Ok(None);
        }
        let changed = if upvoted {
            sqlx::query(
                "INSERT INTO votes (user_id, paper_id, voted_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, paper_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(paper.0)
            .bind(stamp(now))
        } else {
            sqlx::query("DELETE FROM votes WHERE user_id = $1 AND paper_id = $2")
                .bind(user.0)
                .bind(paper.0)
        }
        .execute(&mut *tx)
        .await
        .context("recording a vote")?
        .rows_affected();
        let change: i64 = match (changed, upvoted) {
            (0, _) => 0,
            (_, true) => 1,
            (_, false) => -1,
        };
        let count: i64 = sqlx::query_scalar(
            "UPDATE papers SET local_upvotes = MAX(0, local_upvotes + $1) WHERE id = $2 \
             RETURNING local_upvotes",
        )
        .bind(change)
        .bind(paper.0)
        .fetch_one(&mut *tx)
        .await
        .context("counting a vote")?;
        tx.commit().await.context("committing a vote")?;
        Ok(Some(VoteOutcome {
            upvoted,
            local_upvotes: u32::try_from(count).unwrap_or(0),
        }))
    }

    async fn add_votes(
        &self,
        votes: &[(UserId, PaperId, DateTime<Utc>)],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for chunk in votes.chunks(MAX_BINDS / 3) {
            let mut sql =
                QueryBuilder::<Sqlite>::new("INSERT INTO votes (user_id, paper_id, voted_at) ");
            sql.push_values(chunk, |mut values, (user, paper, at)| {
                values
                    .push_bind(user.0)
                    .push_bind(paper.0)
                    .push_bind(stamp(*at));
            });
            sql.push(" ON CONFLICT (user_id, paper_id) DO NOTHING");
            added += sql
                .build()
                .execute(&mut *tx)
                .await
                .context("adding votes")?
                .rows_affected();
        }
        // Recounted from the votes themselves, so the counts stay exact whatever was there.
        sqlx::query(
            "UPDATE papers SET local_upvotes = (SELECT COUNT(*) FROM votes v \
             JOIN users u ON u.id = v.user_id WHERE v.paper_id = papers.id AND u.hidden_at IS NULL) \
             WHERE id IN (SELECT DISTINCT paper_id FROM votes)",
        )
        .execute(&mut *tx)
        .await
        .context("recounting votes")?;
        tx.commit().await.context("committing votes")?;
        Ok(added)
    }

    async fn set_saved(
        &self,
        user: UserId,
        paper: PaperId,
        saved: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let known: Option<i64> =
            sqlx::query_scalar("SELECT id FROM papers WHERE id = $1 AND hidden_at IS NULL")
                .bind(paper.0)
                .fetch_optional(&mut *tx)
                .await
                .context("checking a saved paper")?;
        if known.is_none() {
            return Ok(false);
        }
        if saved {
            sqlx::query(
                "INSERT INTO saved_papers (user_id, paper_id, saved_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, paper_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(paper.0)
            .bind(stamp(now))
        } else {
            sqlx::query("DELETE FROM saved_papers WHERE user_id = $1 AND paper_id = $2")
                .bind(user.0)
                .bind(paper.0)
        }
        .execute(&mut *tx)
        .await
        .context("saving a paper")?;
        tx.commit().await.context("committing a saved paper")?;
        Ok(true)
    }

    async fn marks(
        &self,
        user: UserId,
        papers: &[PaperId],
    ) -> Result<HashMap<PaperId, Marks>, StoreError> {
        let mut marks: HashMap<PaperId, Marks> = HashMap::new();
        let mut conn = self.pool.acquire().await.context("connecting")?;
        for chunk in papers.chunks(MAX_BINDS - 1) {
            for (table, upvoted) in [("votes", true), ("saved_papers", false)] {
                let mut sql = QueryBuilder::<Sqlite>::new(format!(
                    "SELECT paper_id FROM {table} WHERE user_id = "
                ));
                sql.push_bind(user.0).push(" AND paper_id IN (");
                let mut list = sql.separated(", ");
                for paper in chunk {
                    list.push_bind(paper.0);
                }
                sql.push(")");
                let found: Vec<i64> = sql
                    .build_query_scalar()
                    .fetch_all(&mut *conn)
                    .await
                    .context("reading a user's marks")?;
                for paper in found {
                    let entry = marks.entry(PaperId(paper)).or_default();
                    if upvoted {
                        entry.upvoted = true;
                    } else {
                        entry.saved = true;
                    }
                }
            }
        }
        Ok(marks)
    }

    async fn voted_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT paper_id, voted_at FROM votes WHERE user_id = $1 \
             ORDER BY voted_at DESC, paper_id DESC",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .context("listing a user's votes")?;
        marked_from_rows(rows)
    }

    async fn saved_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT paper_id, saved_at FROM saved_papers WHERE user_id = $1 \
             ORDER BY saved_at DESC, paper_id DESC",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .context("listing a user's saved papers")?;
        marked_from_rows(rows)
    }

    async fn add_access_token(
        &self,
        token: NewAccessToken,
    ) -> Result<Option<AccessToken>, StoreError> {
        let mut tx = self.begin_write().await?;
        let (live,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM access_tokens WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(token.user.0)
        .fetch_one(&mut *tx)
        .await
        .context("counting a reader's access tokens")?;
        if live >= i64::from(MAX_ACCESS_TOKENS) {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO access_tokens (user_id, token_hash, label, scope, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {ACCESS_TOKEN_COLUMNS}"
        )))
        .bind(token.user.0)
        .bind(token.token.as_bytes().as_slice())
        .bind(&token.label)
        .bind(token.scope.as_str())
        .bind(stamp(token.now))
        .fetch_one(&mut *tx)
        .await
        .context("keeping an access token")?;
        let kept = access_token_from_row(&row)?;
        tx.commit().await.context("committing an access token")?;
        Ok(Some(kept))
    }

    async fn access_tokens(&self, user: UserId) -> Result<Vec<AccessToken>, StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCESS_TOKEN_COLUMNS} FROM access_tokens WHERE user_id = $1 ORDER BY id DESC"
        )))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .context("listing a reader's access tokens")?
        .iter()
        .map(access_token_from_row)
        .collect()
    }

    async fn revoke_access_token(
        &self,
        user: UserId,
        token: AccessTokenId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let revoked = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 \
             WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(stamp(now))
        .bind(token.0)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .context("revoking an access token")?
        .rows_affected();
        Ok(revoked == 1)
    }

    async fn access_token_user(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<TokenCheck, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.is_admin, u.hidden_at, u.created_at, \
                    t.id AS token_id, t.scope, t.last_used_at, t.revoked_at \
             FROM access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .context("reading an access token")?;
        let Some(row) = row else {
            return Ok(TokenCheck::Unknown);
        };
        let user = user_from_row(&row)?;
        let revoked: Option<String> = row.get("revoked_at");
        if revoked.is_some() || user.hidden {
            return Ok(TokenCheck::Revoked);
        }
        let scope: String = row.get("scope");
        let last_used: Option<String> = row.get("last_used_at");
        let stale = last_used
            .map(|text| parse_stamp(&text))
            .transpose()?
            .is_none_or(|used| now - used >= TOKEN_USE_RESOLUTION);
        if stale {
            sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(stamp(now))
                .bind(row.get::<i64, _>("token_id"))
                .execute(&self.pool)
                .await
                .context("noting an access token's use")?;
        }
        Ok(TokenCheck::Live {
            user,
            scope: token_scope(&scope)?,
        })
    }

    async fn vote_tallies(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<VoteTally>, StoreError> {
        // The first 13 characters of a stamp are its hour (`2026-11-28T13`).
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT v.paper_id, substr(v.voted_at, 1, 13) AS hour, COUNT(*) \
             FROM votes v JOIN users u ON u.id = v.user_id JOIN papers p ON p.id = v.paper_id \
             WHERE v.voted_at >= $1 AND v.voted_at <= $2 AND u.hidden_at IS NULL AND p.hidden_at IS NULL \
             GROUP BY v.paper_id, hour",
        )
        .bind(stamp(since))
        .bind(stamp(until))
        .fetch_all(&self.pool)
        .await
        .context("counting recent votes")?;
        rows.into_iter()
            .map(|(paper, hour, votes)| {
                Ok(VoteTally {
                    paper: PaperId(paper),
                    hour: parse_stamp(&format!("{hour}:00:00.000Z"))?,
                    votes: u32::try_from(votes).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }
}
