//! The SQLite side of subscriptions, digests and the outbox (see [`crate::mail`]).
//!
//! Times are stored as RFC 3339 in UTC with milliseconds, one fixed width, so that comparing
//! the text compares the times.

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use paperboy_core::subscription::{Preferences, SubscriberId};
use paperboy_core::token::TokenHash;
use paperboy_core::{EmailAddress, PaperId};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::MailStore;
use crate::mail::{
    AddressLimit, ClaimedMessage, Confirmation, Delivery, MAX_REFUSALS, MessageKind, NewMessage,
    OutboxSummary, QueuedDigest, RequestOutcome, Subscriber, SubscriberState, SubscriptionRequest,
    after,
};
use crate::rows::{
    MAILBOX_PER_DAY, SUBSCRIBER_COLUMNS, decode_request_preferences, encode_request_preferences,
    json_list, preferences_from,
};
use crate::{Context, SqliteStore, StoreError};

/// Bound values per statement in the batched inserts below (SQLite allows 32,766).
const MAX_BINDS: usize = 30_000;

pub(crate) fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_stamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("a time stamp {text:?}")))
}

fn subscriber_from_row(row: &SqliteRow) -> Result<Subscriber, StoreError> {
    let email: String = row.get("email");
    let state: String = row.get("state");
    let confirmed_at: Option<String> = row.get("confirmed_at");
    Ok(Subscriber {
        id: SubscriberId(row.get("id")),
        email: email
            .parse()
            .map_err(|_| StoreError::Corrupt("a subscriber's address".into()))?,
        state: SubscriberState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("a subscriber state {state:?}")))?,
        preferences: preferences_from(
            row.get("topics"),
            row.get("categories"),
            row.get("frequency"),
        )?,
        created_at: parse_stamp(row.get("created_at"))?,
        confirmed_at: confirmed_at.as_deref().map(parse_stamp).transpose()?,
        last_digest_period: row.get("last_digest_period"),
        last_digest_until: row.get("last_digest_until"),
        link_generation: row.get("link_generation"),
    })
}

async fn load_subscriber(
    conn: &mut SqliteConnection,
    clause: &'static str,
    value: impl for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
) -> Result<Option<Subscriber>, StoreError> {
    // `clause` is one of this module's column names, never input.
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE {clause} = $1"
    )))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await
    .context("reading a subscriber")?;
    row.as_ref().map(subscriber_from_row).transpose()
}

/// Whether an address was sent as many mails as `limit` allows lately. `counting` selects the
/// count and the latest time of the address's requests made after `$2`, the address being `$1`.
pub(crate) async fn over_address_limit(
    conn: &mut SqliteConnection,
    counting: &'static str,
    address: impl for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send,
    limit: AddressLimit,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let day_ago = stamp(now - chrono::Duration::hours(24));
    let (recent, latest): (i64, Option<String>) = sqlx::query_as(counting)
        .bind(address)
        .bind(&day_ago)
        .fetch_one(&mut *conn)
        .await
        .context("counting mails sent to an address")?;
    let too_soon = match latest {
        Some(latest) => after(parse_stamp(&latest)?, limit.gap) > now,
        None => false,
    };
    Ok(recent >= i64::from(limit.per_day) || too_soon)
}

/// Whether `address`'s mailbox was sent [`MAILBOX_PER_DAY`] requested mails in the last day.
pub(crate) async fn over_mailbox_limit(
    conn: &mut SqliteConnection,
    address: &paperboy_core::EmailAddress,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE mailbox = $1 AND created_at > $2 AND kind IN ($3, $4)",
    )
    .bind(address.mailbox())
    .bind(stamp(now - chrono::Duration::hours(24)))
    .bind(MessageKind::Confirmation.as_str())
    .bind(MessageKind::SignIn.as_str())
    .fetch_one(&mut *conn)
    .await
    .context("counting mails sent to a mailbox")?;
    Ok(sent >= MAILBOX_PER_DAY)
}

pub(crate) async fn insert_message(
    conn: &mut SqliteConnection,
    message: &NewMessage,
    subscriber: Option<SubscriberId>,
    now: &str,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (idempotency_key, subscriber_id, kind, sender, recipient, message_id, \
         message, state, next_attempt_at, created_at, mailbox) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $9) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&message.key)
    .bind(subscriber.map(|id| id.0))
    .bind(message.kind.as_str())
    .bind(message.sender.as_str())
    .bind(message.recipient.as_str())
    .bind(&message.message_id)
    .bind(&message.bytes)
    .bind(now)
    .bind(message.recipient.mailbox())
    .execute(&mut *conn)
    .await
    .context("queueing a message")?
    .rows_affected();
    Ok(inserted == 1)
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn request_subscription(
        &self,
        request: SubscriptionRequest,
    ) -> Result<RequestOutcome, StoreError> {
        let now = stamp(request.now);
        let mut tx = self.begin_write().await?;
        let preferences = &request.preferences;
        // A new address starts pending with the requested preferences; a known one keeps its
        // own until the new request is confirmed.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO subscribers (email, state, topics, categories, frequency, created_at) \
             VALUES ($1, 'pending', $2, $3, $4, $5) \
             ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id",
        )
        .bind(request.email.as_str())
        .bind(json_list(preferences.topics()))
        .bind(json_list(preferences.categories()))
        .bind(preferences.frequency().as_str())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .context("recording a subscriber")?;

        let counting = "SELECT COUNT(*), MAX(created_at) FROM subscription_requests \
             WHERE subscriber_id = $1 AND created_at > $2";
        if over_address_limit(&mut tx, counting, id, request.limit, request.now).await?
            || over_mailbox_limit(&mut tx, &request.email, request.now).await?
        {
            // Dropping the transaction rolls back a subscriber row inserted just now, too.
            return Ok(RequestOutcome::RateLimited);
        }

        sqlx::query(
            "INSERT INTO subscription_requests \
             (token_hash, subscriber_id, preferences, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(request.token.as_bytes().as_slice())
        .bind(id)
        .bind(encode_request_preferences(preferences))
        .bind(&now)
        .bind(stamp(request.expires_at))
        .execute(&mut *tx)
        .await
        .context("recording a subscription request")?;
        insert_message(&mut tx, &request.confirmation, Some(SubscriberId(id)), &now).await?;
        tx.commit()
            .await
            .context("committing a subscription request")?;
        Ok(RequestOutcome::Queued)
    }

    async fn confirm_subscription(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Confirmation, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT subscriber_id, preferences, expires_at, used_at FROM subscription_requests \
             WHERE token_hash = $1",
        )
        .bind(token.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .context("reading a subscription request")?;
        let Some((id, preferences, expires_at, used_at)) = row else {
            return Ok(Confirmation::Unknown);
        };
        if used_at.is_some() {
            return Ok(Confirmation::AlreadyUsed);
        }
        if parse_stamp(&expires_at)? <= now {
            return Ok(Confirmation::Expired);
        }
        let preferences = decode_request_preferences(&preferences)?;
        let now = stamp(now);
        sqlx::query("UPDATE subscription_requests SET used_at = $1 WHERE token_hash = $2")
            .bind(&now)
            .bind(token.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .context("using a subscription request")?;
        sqlx::query(
            "UPDATE subscribers SET state = 'confirmed', topics = $1, categories = $2, \
             frequency = $3, confirmed_at = COALESCE(confirmed_at, $4), refusals = 0 \
             WHERE id = $5",
        )
        .bind(json_list(preferences.topics()))
        .bind(json_list(preferences.categories()))
        .bind(preferences.frequency().as_str())
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("confirming a subscriber")?;
        let subscriber = load_subscriber(&mut tx, "id", id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a request without its subscriber".into()))?;
        tx.commit().await.context("committing a confirmation")?;
        Ok(Confirmation::Confirmed(subscriber))
    }

    async fn add_confirmed_subscribers(
        &self,
        subscribers: &[(EmailAddress, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let now = stamp(now);
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for chunk in subscribers.chunks(MAX_BINDS / 7) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "INSERT INTO subscribers \
                 (email, state, topics, categories, frequency, created_at, confirmed_at) ",
            );
            sql.push_values(chunk, |mut values, (email, preferences)| {
                values
                    .push_bind(email.as_str())
                    .push_bind("confirmed")
                    .push_bind(json_list(preferences.topics()))
                    .push_bind(json_list(preferences.categories()))
                    .push_bind(preferences.frequency().as_str())
                    .push_bind(&now)
                    .push_bind(&now);
            });
            sql.push(" ON CONFLICT (email) DO NOTHING");
            added += sql
                .build()
                .execute(&mut *tx)
                .await
                .context("adding subscribers")?
                .rows_affected();
        }
        tx.commit().await.context("committing subscribers")?;
        Ok(added)
    }

    async fn subscribe_confirmed(
        &self,
        email: &EmailAddress,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<Subscriber, StoreError> {
        let now = stamp(now);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO subscribers \
             (email, state, topics, categories, frequency, created_at, confirmed_at) \
             VALUES ($1, 'confirmed', $2, $3, $4, $5, $5) \
             ON CONFLICT (email) DO UPDATE SET state = 'confirmed', topics = excluded.topics, \
             categories = excluded.categories, frequency = excluded.frequency, \
             confirmed_at = COALESCE(confirmed_at, excluded.confirmed_at), refusals = 0",
        )
        .bind(email.as_str())
        .bind(json_list(preferences.topics()))
        .bind(json_list(preferences.categories()))
        .bind(preferences.frequency().as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await
        .context("subscribing a signed-in reader")?;
        let subscriber = load_subscriber(&mut tx, "email", email.as_str().to_owned())
            .await?
            .ok_or_else(|| StoreError::Corrupt("a subscriber that was just written".into()))?;
        tx.commit().await.context("committing a subscription")?;
        Ok(subscriber)
    }

    async fn subscriber(&self, id: SubscriberId) -> Result<Option<Subscriber>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        load_subscriber(&mut conn, "id", id.0).await
    }

    async fn subscriber_by_email(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<Subscriber>, StoreError> {
        let mut conn = self.pool.acquire().await.context("connecting")?;
        load_subscriber(&mut conn, "email", email.as_str().to_owned()).await
    }

    async fn subscribers_after(
        &self,
        after: Option<SubscriberId>,
        state: Option<SubscriberState>,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers \
             WHERE id > $1 AND ($2 IS NULL OR state = $2) ORDER BY id LIMIT $3"
        )))
        .bind(after.map_or(0, |id| id.0))
        .bind(state.map(SubscriberState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("listing subscribers")?;
        rows.iter().map(subscriber_from_row).collect()
    }

    async fn set_preferences(
        &self,
        id: SubscriberId,
        preferences: &Preferences,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE subscribers SET topics = $1, categories = $2, frequency = $3 WHERE id = $4",
        )
        .bind(json_list(preferences.topics()))
        .bind(json_list(preferences.categories()))
        .bind(preferences.frequency().as_str())
        .bind(id.0)
        .execute(&self.pool)
        .await
        .context("changing a subscriber's preferences")?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn unsubscribe(&self, id: SubscriberId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE subscribers SET state = 'unsubscribed' WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .context("unsubscribing")?
            .rows_affected();
        sqlx::query(
            "DELETE FROM outbox WHERE subscriber_id = $1 AND kind = 'digest' AND state = 'queued'",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .context("dropping unsent digests")?;
        tx.commit().await.context("committing an unsubscription")?;
        Ok(changed == 1)
    }

    async fn forget_unconfirmed(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = stamp(before);
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM subscription_requests WHERE expires_at < $1")
            .bind(&before)
            .execute(&mut *tx)
            .await
            .context("forgetting expired requests")?;
        // Their confirmation mails go with them (a failed one may still hold the address).
        let forgotten = sqlx::query(
            "DELETE FROM subscribers WHERE state = 'pending' AND created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM subscription_requests r \
                             WHERE r.subscriber_id = subscribers.id)",
        )
        .bind(&before)
        .execute(&mut *tx)
        .await
        .context("forgetting unconfirmed addresses")?
        .rows_affected();
        sqlx::query("DELETE FROM outbox WHERE subscriber_id IS NULL AND kind = 'confirmation'")
            .execute(&mut *tx)
            .await
            .context("forgetting their confirmation mails")?;
        tx.commit().await.context("committing what was forgotten")?;
        Ok(forgotten)
    }

    async fn remove_subscriber(&self, email: &EmailAddress) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM outbox WHERE recipient = $1")
            .bind(email.as_str())
            .execute(&mut *tx)
            .await
            .context("removing a subscriber's mail")?;
        // Requests and sent papers go with the row (ON DELETE CASCADE).
        let removed = sqlx::query("DELETE FROM subscribers WHERE email = $1")
            .bind(email.as_str())
            .execute(&mut *tx)
            .await
            .context("removing a subscriber")?
            .rows_affected();
        tx.commit().await.context("committing a removal")?;
        Ok(removed == 1)
    }

    async fn sent_papers(
        &self,
        ids: &[SubscriberId],
    ) -> Result<HashMap<SubscriberId, HashSet<PaperId>>, StoreError> {
        let mut sent: HashMap<SubscriberId, HashSet<PaperId>> = HashMap::new();
        let mut conn = self.pool.acquire().await.context("connecting")?;
        for chunk in ids.chunks(MAX_BINDS) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "SELECT subscriber_id, paper_id FROM digest_items WHERE subscriber_id IN (",
            );
            let mut list = sql.separated(", ");
            for id in chunk {
                list.push_bind(id.0);
            }
            sql.push(")");
            let rows: Vec<(i64, i64)> = sql
                .build_query_as()
                .fetch_all(&mut *conn)
                .await
                .context("reading the papers sent to subscribers")?;
            for (subscriber, paper) in rows {
                sent.entry(SubscriberId(subscriber))
                    .or_default()
                    .insert(PaperId(paper));
            }
        }
        Ok(sent)
    }

    async fn queue_digests(
        &self,
        digests: Vec<QueuedDigest>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if digests.is_empty() {
            return Ok(0);
        }
        let now = stamp(now);
        let mut tx = self.begin_write().await?;
        let mut queued = 0;
        for digest in &digests {
            // Composed from a page read earlier: whoever left since gets nothing.
            let confirmed: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM subscribers WHERE id = $1 AND state = 'confirmed'",
            )
            .bind(digest.subscriber.0)
            .fetch_optional(&mut *tx)
            .await
            .context("checking a subscriber")?;
            if confirmed.is_none()
                || !insert_message(&mut tx, &digest.message, Some(digest.subscriber), &now).await?
            {
                continue;
            }
            queued += 1;
            for papers in digest.papers.chunks(MAX_BINDS / 3) {
                let mut sql = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO digest_items (subscriber_id, paper_id, period) ",
                );
                sql.push_values(papers, |mut values, paper| {
                    values
                        .push_bind(digest.subscriber.0)
                        .push_bind(paper.0)
                        .push_bind(&digest.period);
                });
                sql.push(" ON CONFLICT (subscriber_id, paper_id) DO NOTHING");
                sql.build()
                    .execute(&mut *tx)
                    .await
                    .context("recording a digest's papers")?;
            }
            // Never backwards: a digest composed for an earlier date (`digest run --date`)
            // does not make later papers look unsent.
            sqlx::query(
                "UPDATE subscribers SET last_digest_period = $1, \
                 last_digest_until = MAX(COALESCE(last_digest_until, $2), $2) WHERE id = $3",
            )
            .bind(&digest.period)
            .bind(digest.until)
            .bind(digest.subscriber.0)
            .execute(&mut *tx)
            .await
            .context("recording a subscriber's last digest")?;
        }
        tx.commit().await.context("committing digests")?;
        Ok(queued)
    }

    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let mut tx = self.begin_write().await?;
        let lease = after(now, lease);
        let rows = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, leased_until = $1 \
             WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= $2 \
                            AND (leased_until IS NULL OR leased_until <= $2) \
                          ORDER BY next_attempt_at, id LIMIT $3) \
             RETURNING id, kind, subscriber_id, sender, recipient, message_id, message, attempts",
        )
        .bind(stamp(lease))
        .bind(stamp(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .context("claiming messages to send")?;
        tx.commit().await.context("committing a claim")?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let corrupt = |what: &str| StoreError::Corrupt(format!("an outbox {what}"));
                let kind: String = row.get("kind");
                let sender: String = row.get("sender");
                let recipient: String = row.get("recipient");
                let attempts: i64 = row.get("attempts");
                Ok(ClaimedMessage {
                    id: row.get("id"),
                    kind: MessageKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
                    subscriber: row.get::<Option<i64>, _>("subscriber_id").map(SubscriberId),
                    sender: sender.parse().map_err(|_| corrupt("sender"))?,
                    recipient: recipient.parse().map_err(|_| corrupt("recipient"))?,
                    message_id: row.get("message_id"),
                    bytes: row.get("message"),
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    lease,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|message| message.id);
        Ok(claimed)
    }

    async fn record_delivery(
        &self,
        message: &ClaimedMessage,
        delivery: Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = stamp(now);
        let lease = stamp(message.lease);
        let mut tx = self.begin_write().await?;
        // Each update holds only while this worker's lease does (`leased_until` unchanged).
        // The bytes are not needed once sent (a digest is ~10 KB; a large list would grow the
        // store by gigabytes a week), nor once failed for good (they may hold a confirmation
        // link); the row stays, as the record.
        let update = match &delivery {
            Delivery::Sent => sqlx::query(
                "UPDATE outbox SET state = 'sent', sent_at = $1, last_error = NULL, \
                 leased_until = NULL, message = X'' WHERE id = $2 AND leased_until = $3",
            )
            .bind(&now),
            Delivery::Retry { at, error } => sqlx::query(
                "UPDATE outbox SET next_attempt_at = $1, last_error = $2, leased_until = NULL \
                 WHERE id = $3 AND leased_until = $4",
            )
            .bind(stamp(*at))
            .bind(error),
            Delivery::Failed { error, .. } => sqlx::query(
                "UPDATE outbox SET state = 'failed', last_error = $1, leased_until = NULL, \
                 message = X'' WHERE id = $2 AND leased_until = $3",
            )
            .bind(error),
        };
        let recorded = update
            .bind(message.id)
            .bind(&lease)
            .execute(&mut *tx)
            .await
            .context("recording a delivery")?
            .rows_affected()
            == 1;
        if !recorded {
            return Ok(false);
        }
        if let Some(subscriber) = message.subscriber {
            match delivery {
                Delivery::Sent => {
                    sqlx::query("UPDATE subscribers SET refusals = 0 WHERE id = $1")
                        .bind(subscriber.0)
                        .execute(&mut *tx)
                        .await
                        .context("clearing a subscriber's refusals")?;
                }
                Delivery::Failed {
                    refused_recipient: true,
                    ..
                } => {
                    sqlx::query(
                        "UPDATE subscribers SET refusals = refusals + 1, \
                         state = CASE WHEN refusals + 1 >= $1 AND state IN ('pending', 'confirmed') \
                                      THEN 'bounced' ELSE state END \
                         WHERE id = $2",
                    )
                    .bind(i64::from(MAX_REFUSALS))
                    .bind(subscriber.0)
                    .execute(&mut *tx)
                    .await
                    .context("counting a refused address")?;
                    // A bounced address gets none of the digests still queued for it.
                    sqlx::query(
                        "DELETE FROM outbox WHERE subscriber_id = $1 AND kind = 'digest' \
                         AND state = 'queued' AND leased_until IS NULL \
                         AND (SELECT state FROM subscribers WHERE id = $1) = 'bounced'",
                    )
                    .bind(subscriber.0)
                    .execute(&mut *tx)
                    .await
                    .context("dropping a bounced address's digests")?;
                }
                _ => {}
            }
        }
        tx.commit().await.context("committing a delivery")?;
        Ok(true)
    }

    async fn retry_queued_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = stamp(now);
        let changed = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1 WHERE state = 'queued' AND next_attempt_at > $1",
        )
        .bind(&now)
        .execute(&self.pool)
        .await
        .context("making queued messages due")?
        .rows_affected();
        Ok(changed)
    }

    async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT state, COUNT(*), MIN(MAX(next_attempt_at, COALESCE(leased_until, ''))) \
             FROM outbox GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await
        .context("counting the outbox")?;
        let mut summary = OutboxSummary::default();
        for (state, count, next) in rows {
            let count = count.unsigned_abs();
            match state.as_str() {
                "queued" => {
                    summary.queued = count;
                    summary.next_due = next.as_deref().map(parse_stamp).transpose()?;
                }
                "sent" => summary.sent = count,
                _ => summary.failed += count,
            }
        }
        Ok(summary)
    }

    async fn secret(&self, name: &str, generated: &[u8]) -> Result<Vec<u8>, StoreError> {
        let value: Vec<u8> = sqlx::query_scalar(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING value",
        )
        .bind(name)
        .bind(generated)
        .fetch_one(&self.pool)
        .await
        .context("reading a secret")?;
        Ok(value)
    }
}
