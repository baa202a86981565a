//! The PostgreSQL side of accounts: users, sign-in links, sessions, access tokens, votes and
//! saved papers (see [`crate::account`]).
//!
//! The same statements as [`crate::sqlite_account`], where SQLite's single writer kept each
//! check and the change that follows it together; here rows are locked instead, always in
//! one order: a user's row, then papers' rows (in id order), so that no two writers, on any
//! nodes, ever wait for each other. A vote, or hiding a user, changes `papers.local_upvotes` in the
//! same transaction as the votes while holding the paper's row, so the count stays exact.

use async_trait::async_trait;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use paperboy_core::account::{AccessTokenId, UserId};
use paperboy_core::token::TokenHash;
use paperboy_core::{EmailAddress, PaperId};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::AccountStore;
use crate::account::{
    AccessToken, MAX_ACCESS_TOKENS, Marked, Marks, NewAccessToken, NewSession, SignIn,
    SignInRequest, TOKEN_USE_RESOLUTION, TokenCheck, User, VoteOutcome, VoteTally,
};
use crate::mail::RequestOutcome;
use crate::postgres_mail::{
    ROWS_PER_STATEMENT, insert_message, lock_mailbox, over_address_limit, over_mailbox_limit,
};
use crate::rows::{USER_COLUMNS, token_scope};
use crate::{Context, PostgresStore, StoreError};

fn user_from_row(row: &PgRow) -> Result<User, StoreError> {
    let email: String = row.get("email");
    let hidden_at: Option<DateTime<Utc>> = row.get("hidden_at");
    Ok(User {
        id: UserId(row.get("id")),
        email: email
            .parse()
            .map_err(|_| StoreError::Corrupt("a user's address".into()))?,
        is_admin: row.get("is_admin"),
        hidden: hidden_at.is_some(),
        created_at: row.get("created_at"),
    })
}

/// An access token's columns, as [`access_token_from_row`] reads them.
const ACCESS_TOKEN_COLUMNS: &str = "id, label, scope, created_at, last_used_at, revoked_at";

fn access_token_from_row(row: &PgRow) -> Result<AccessToken, StoreError> {
    let scope: String = row.get("scope");
    Ok(AccessToken {
        id: AccessTokenId(row.get("id")),
        label: row.get("label"),
        scope: token_scope(&scope)?,
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        revoked_at: row.get("revoked_at"),
    })
}

fn marked_from_rows(rows: Vec<(i64, DateTime<Utc>)>) -> Vec<Marked> {
    rows.into_iter()
        .map(|(paper, at)| Marked {
            paper: PaperId(paper),
            at,
        })
        .collect()
}

/// Adds `change` to the counts of the papers `user` voted for (hiding or restoring a user).
/// The caller holds the user's row, so their votes cannot change meanwhile; the papers' rows
/// are locked in id order first, as every other writer of the counts takes them.
async fn shift_counts_of_votes(
    conn: &mut PgConnection,
    user: UserId,
    change: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE papers SET local_upvotes = GREATEST(0, local_upvotes + $1) \
         WHERE id IN (SELECT id FROM papers \
                      WHERE id IN (SELECT paper_id FROM votes WHERE user_id = $2) \
                      ORDER BY id FOR NO KEY UPDATE)",
    )
    .bind(change)
    .bind(user.0)
    .execute(&mut *conn)
    .await
    .context("recounting a user's votes")?;
    Ok(())
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn request_sign_in(&self, request: SignInRequest) -> Result<RequestOutcome, StoreError> {
        let now = request.now;
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The limits are checked and kept under the mailbox's lock (see lock_mailbox), the one
        // subscription requests take too, since both kinds of mail count against the mailbox.
        lock_mailbox(&mut tx, &request.email).await?;
        let counting = "SELECT COUNT(*), MAX(created_at) FROM sign_in_requests \
             WHERE email = $1 AND created_at > $2";
        let email = request.email.as_str().to_owned();
        if over_address_limit(&mut tx, counting, email.clone(), request.limit, now).await?
            || over_mailbox_limit(&mut tx, &request.email, now).await?
        {
            return Ok(RequestOutcome::RateLimited);
        }
        // The address's links from before yesterday are dead: forget them.
        sqlx::query("DELETE FROM sign_in_requests WHERE email = $1 AND expires_at < $2")
            .bind(&email)
            .bind(now - chrono::Duration::hours(24))
            .execute(&mut *tx)
            .await
            .context("forgetting old sign-in links")?;
        sqlx::query(
            "INSERT INTO sign_in_requests (token_hash, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(request.token.as_bytes().as_slice())
        .bind(&email)
        .bind(now)
        .bind(request.expires_at)
        .execute(&mut *tx)
        .await
        .context("recording a sign-in request")?;
        insert_message(&mut tx, &request.mail, None, now).await?;
        tx.commit().await.context("committing a sign-in request")?;
        Ok(RequestOutcome::Queued)
    }

    async fn complete_sign_in(
        &self,
        token: TokenHash,
        session: NewSession,
    ) -> Result<SignIn, StoreError> {
        let now = session.now;
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // FOR UPDATE: a link followed twice at once is used once; the second waits, then
        // reads it as used.
        let row: Option<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT email, expires_at, used_at FROM sign_in_requests WHERE token_hash = $1 \
             FOR UPDATE",
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
        if expires_at <= now {
            return Ok(SignIn::Expired);
        }
        sqlx::query("UPDATE sign_in_requests SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .context("using a sign-in link")?;
        // The first sign-in makes the user: of two links of one address followed at once on two
        // nodes, one inserts and the other waits for it and inserts nothing (so exactly one is
        // told `new_user`).
        let inserted = sqlx::query(
            "INSERT INTO users (email, created_at) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&email)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording a user")?
        .rows_affected();
        // FOR SHARE: an admin hiding the user meanwhile waits for the session to be opened, and
        // then ends it; or hid them first, and the sign-in is refused.
        let user = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1 FOR SHARE"
        )))
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await
        .context("reading a user")?
        .as_ref()
        .map(user_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::Corrupt("a user that was just written".into()))?;
        if user.hidden {
            // The link is used up all the same.
            tx.commit().await.context("committing a refused sign-in")?;
            return Ok(SignIn::Refused);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
            .bind(user.id.0)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("forgetting expired sessions")?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(session.token.as_bytes().as_slice())
        .bind(user.id.0)
        .bind(now)
        .bind(session.expires_at)
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
        .bind(now)
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
        // One statement, which ON CONFLICT makes safe when two nodes add the address at once.
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO users (email, is_admin, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO UPDATE SET is_admin = users.is_admin OR excluded.is_admin \
             RETURNING {USER_COLUMNS}"
        )))
        .bind(email.as_str())
        .bind(admin)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .context("adding a user")?;
        user_from_row(&row)
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        )))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("reading a user")?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self, hidden_only: bool) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE NOT $1::boolean OR hidden_at IS NOT NULL \
             ORDER BY id"
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The user's row, held to the end: hiding them twice at once shifts their votes once
        // (the second waits, then finds them hidden), and their votes (set_vote and add_votes
        // hold the row FOR SHARE) and sign-ins cannot change while the counts are shifted.
        // NO KEY UPDATE, not UPDATE, so that rows merely referring to the user (a saved paper)
        // are not held up.
        let stored: Option<bool> = sqlx::query_scalar(
            "SELECT hidden_at IS NOT NULL FROM users WHERE id = $1 FOR NO KEY UPDATE",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .context("reading a user")?;
        let Some(was_hidden) = stored else {
            return Ok(false);
        };
        if was_hidden != hidden {
            sqlx::query("UPDATE users SET hidden_at = $1 WHERE id = $2")
                .bind(hidden.then_some(now))
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
        // A new change sequence number tells other nodes' search indexes, which follow
        // change_seq, that the paper was hidden or shown; under the papers' write lock, as
        // every change_seq is given, so the numbers grow in commit order.
        let mut tx = self.begin_paper_write().await?;
        // The stamp of the first hiding stays while hidden.
        let changed = sqlx::query(
            "UPDATE papers SET hidden_at = CASE WHEN $1 THEN COALESCE(hidden_at, $2) END, \
             change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM papers), \
             changed_at = $2 \
             WHERE id = $3",
        )
        .bind(hidden)
        .bind(now)
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The user's row FOR SHARE (not hidden until this commits), then the paper's as an
        // update would (votes for one paper, from any node, take turns, so the vote and the
        // count change together; the count is an increment of the stored value, never a value
        // read before).
        let user_visible: Option<bool> =
            sqlx::query_scalar("SELECT hidden_at IS NULL FROM users WHERE id = $1 FOR SHARE")
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .context("checking a vote's user")?;
        if user_visible != Some(true) {
            return Ok(None);
        }
        let paper_visible: Option<bool> = sqlx::query_scalar(
            "SELECT hidden_at IS NULL FROM papers WHERE id = $1 FOR NO KEY UPDATE",
        )
        .bind(paper.0)
        .fetch_optional(&mut *tx)
        .await
        .context("checking a vote's paper")?;
        if paper_visible != Some(true) {
            return Ok(None);
        }
        let changed = if upvoted {
            sqlx::query(
                "INSERT INTO votes (user_id, paper_id, voted_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, paper_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(paper.0)
            .bind(now)
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
            "UPDATE papers SET local_upvotes = GREATEST(0, local_upvotes + $1) WHERE id = $2 \
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The voters' rows, then the papers' rows, each in id order (the order set_vote and
        // set_user_hidden take them in): while this holds them, no vote for these papers and
        // no hiding of these voters can commit, so the recount below is exact.
        let mut users: Vec<i64> = votes.iter().map(|(user, _, _)| user.0).collect();
        users.sort_unstable();
        users.dedup();
        let mut papers: Vec<i64> = votes.iter().map(|(_, paper, _)| paper.0).collect();
        papers.sort_unstable();
        papers.dedup();
        sqlx::query("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR SHARE")
            .bind(&users)
            .execute(&mut *tx)
            .await
            .context("locking voters")?;
        sqlx::query("SELECT id FROM papers WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&papers)
            .execute(&mut *tx)
            .await
            .context("locking voted papers")?;
        let mut added = 0;
        for chunk in votes.chunks(ROWS_PER_STATEMENT) {
            let mut user_ids = Vec::with_capacity(chunk.len());
            let mut paper_ids = Vec::with_capacity(chunk.len());
            let mut times = Vec::with_capacity(chunk.len());
            for (user, paper, at) in chunk {
                user_ids.push(user.0);
                paper_ids.push(paper.0);
                times.push(*at);
            }
            added += sqlx::query(
                "INSERT INTO votes (user_id, paper_id, voted_at) \
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[]) \
                 ON CONFLICT (user_id, paper_id) DO NOTHING",
            )
            .bind(user_ids)
            .bind(paper_ids)
            .bind(times)
            .execute(&mut *tx)
            .await
            .context("adding votes")?
            .rows_affected();
        }
        // Recounted from the votes themselves, so the counts stay exact whatever was there: the
        // papers voted for here (SQLite recounts every voted paper, which here would hold
        // every such paper's row).
        for chunk in papers.chunks(ROWS_PER_STATEMENT) {
            sqlx::query(
                "UPDATE papers SET local_upvotes = (SELECT COUNT(*) FROM votes v \
                 JOIN users u ON u.id = v.user_id \
                 WHERE v.paper_id = papers.id AND u.hidden_at IS NULL) \
                 WHERE id = ANY($1)",
            )
            .bind(chunk)
            .execute(&mut *tx)
            .await
            .context("recounting votes")?;
        }
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // FOR SHARE: the paper is not hidden until the reading list is written.
        let known: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM papers WHERE id = $1 AND hidden_at IS NULL FOR SHARE",
        )
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
            .bind(now)
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
        for chunk in papers.chunks(ROWS_PER_STATEMENT) {
            let chunk: Vec<i64> = chunk.iter().map(|paper| paper.0).collect();
            for (table, upvoted) in [("votes", true), ("saved_papers", false)] {
                // `table` is one of the two above, never input.
                let found: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT paper_id FROM {table} WHERE user_id = $1 AND paper_id = ANY($2)"
                )))
                .bind(user.0)
                .bind(&chunk)
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
        let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT paper_id, voted_at FROM votes WHERE user_id = $1 \
             ORDER BY voted_at DESC, paper_id DESC",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .context("listing a user's votes")?;
        Ok(marked_from_rows(rows))
    }

    async fn saved_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError> {
        let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT paper_id, saved_at FROM saved_papers WHERE user_id = $1 \
             ORDER BY saved_at DESC, paper_id DESC",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .context("listing a user's saved papers")?;
        Ok(marked_from_rows(rows))
    }

    async fn add_access_token(
        &self,
        token: NewAccessToken,
    ) -> Result<Option<AccessToken>, StoreError> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The user's row first, as every writer takes it: two tokens made at once are counted
        // one after the other.
        let user: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind(token.user.0)
            .fetch_optional(&mut *tx)
            .await
            .context("locking a user")?;
        if user.is_none() {
            return Ok(None);
        }
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
        .bind(token.now)
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
        .bind(now)
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
        let revoked: Option<DateTime<Utc>> = row.get("revoked_at");
        if revoked.is_some() || user.hidden {
            return Ok(TokenCheck::Revoked);
        }
        let scope: String = row.get("scope");
        let last_used: Option<DateTime<Utc>> = row.get("last_used_at");
        if last_used.is_none_or(|used| now - used >= TOKEN_USE_RESOLUTION) {
            sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
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
        // Hours in UTC whatever the session's time zone (one with a half-hour offset would
        // otherwise shift every bucket).
        let rows: Vec<(i64, DateTime<Utc>, i64)> = sqlx::query_as(
            "SELECT v.paper_id, date_trunc('hour', v.voted_at, 'UTC') AS hour, COUNT(*) \
             FROM votes v JOIN users u ON u.id = v.user_id JOIN papers p ON p.id = v.paper_id \
             WHERE v.voted_at >= $1 AND v.voted_at <= $2 AND u.hidden_at IS NULL \
               AND p.hidden_at IS NULL \
             GROUP BY v.paper_id, hour",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .context("counting recent votes")?;
        Ok(rows
            .into_iter()
            .map(|(paper, hour, votes)| VoteTally {
                paper: PaperId(paper),
                hour,
                votes: u32::try_from(votes).unwrap_or(u32::MAX),
            })
            .collect())
    }
}
