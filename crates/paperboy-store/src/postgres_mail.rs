//! The PostgreSQL side of subscriptions, digests and the outbox (see [`crate::mail`]).
//!
//! The same statements as [`crate::sqlite_mail`], with times, days and blobs in their own
//! types. SQLite's single writer made every write transaction serial; here many nodes write at
//! once, so what relied on that takes a lock instead (each place says which and why). Locks
//! are taken in one order everywhere, so that no two writers ever wait for each other: a
//! mailbox's advisory lock, then subscription requests' rows, then subscribers' rows, then
//! outbox rows.

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use paperboy_core::subscription::{Preferences, SubscriberId};
use paperboy_core::token::TokenHash;
use paperboy_core::{EmailAddress, PaperId};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Row};

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
use crate::{Context, PostgresStore, StoreError};

/// Rows per `UNNEST` statement and ids per `= ANY($1)` list (as in [`crate::postgres`]).
pub(crate) const ROWS_PER_STATEMENT: usize = 5_000;

/// The first key of the advisory locks taken per mailbox (the second is the mailbox's hash);
/// two-key advisory locks never collide with the papers' one-key write lock.
const MAILBOX_LOCK: i32 = 0x6d61_696c; // "mail"

fn subscriber_from_row(row: &PgRow) -> Result<Subscriber, StoreError> {
    let email: String = row.get("email");
    let state: String = row.get("state");
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
        created_at: row.get("created_at"),
        confirmed_at: row.get("confirmed_at"),
        last_digest_period: row.get("last_digest_period"),
        last_digest_until: row.get::<Option<NaiveDate>, _>("last_digest_until"),
        link_generation: row.get("link_generation"),
    })
}

fn claimed_from_row(row: &PgRow, lease: DateTime<Utc>) -> Result<ClaimedMessage, StoreError> {
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
}

async fn load_subscriber(
    conn: &mut PgConnection,
    clause: &'static str,
    value: impl for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
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

/// Holds, until the transaction ends, the lock on `address`'s mailbox that every transaction
/// checking or changing what the mailbox was sent takes. SQLite's single writer made "count
/// the mails sent lately, then queue one more" atomic; here two nodes could both count nine
/// and both queue a tenth, so each such transaction first waits for the others of the same
/// mailbox. One lock per mailbox covers both limits, as an address's requests all fall under
/// its mailbox, and both kinds of requested mail (confirmations and sign-in links) count
/// against it. (Two mailboxes whose hashes collide merely wait for each other.)
pub(crate) async fn lock_mailbox(
    conn: &mut PgConnection,
    address: &EmailAddress,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(MAILBOX_LOCK)
        .bind(address.mailbox())
        .execute(&mut *conn)
        .await
        .context("waiting for a mailbox's lock")?;
    Ok(())
}

/// Whether an address was sent as many mails as `limit` allows lately. `counting` selects the
/// count and the latest time of the address's requests made after `$2`, the address being `$1`.
/// The caller holds the address's mailbox lock ([`lock_mailbox`]), so the answer holds until it
/// commits.
pub(crate) async fn over_address_limit(
    conn: &mut PgConnection,
    counting: &'static str,
    address: impl for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
    limit: AddressLimit,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let day_ago = now - chrono::Duration::hours(24);
    let (recent, latest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(counting)
        .bind(address)
        .bind(day_ago)
        .fetch_one(&mut *conn)
        .await
        .context("counting mails sent to an address")?;
    let too_soon = latest.is_some_and(|latest| after(latest, limit.gap) > now);
    Ok(recent >= i64::from(limit.per_day) || too_soon)
}

/// Whether `address`'s mailbox was sent [`MAILBOX_PER_DAY`] requested mails in the last day.
/// The caller holds the mailbox's lock ([`lock_mailbox`]).
pub(crate) async fn over_mailbox_limit(
    conn: &mut PgConnection,
    address: &EmailAddress,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE mailbox = $1 AND created_at > $2 AND kind IN ($3, $4)",
    )
    .bind(address.mailbox())
    .bind(now - chrono::Duration::hours(24))
    .bind(MessageKind::Confirmation.as_str())
    .bind(MessageKind::SignIn.as_str())
    .fetch_one(&mut *conn)
    .await
    .context("counting mails sent to a mailbox")?;
    Ok(sent >= MAILBOX_PER_DAY)
}

/// Queues a message unless one with its key was queued before (then false). The unique key
/// makes this safe among many writers: a second insert of a key waits for the first and then
/// does nothing.
pub(crate) async fn insert_message(
    conn: &mut PgConnection,
    message: &NewMessage,
    subscriber: Option<SubscriberId>,
    now: DateTime<Utc>,
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
impl MailStore for PostgresStore {
    async fn request_subscription(
        &self,
        request: SubscriptionRequest,
    ) -> Result<RequestOutcome, StoreError> {
        let now = request.now;
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The limits below are checked and then kept under the mailbox's lock (see there).
        lock_mailbox(&mut tx, &request.email).await?;
        let preferences = &request.preferences;
        // A new address starts pending with the requested preferences; a known one keeps its
        // own until the new request is confirmed. ON CONFLICT also settles two nodes adding
        // the same new address at once: one inserts, the other finds its row.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO subscribers (email, state, topics, categories, frequency, created_at) \
             VALUES ($1, 'pending', $2, $3, $4, $5) \
             ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id",
        )
        .bind(request.email.as_str())
        .bind(json_list(preferences.topics()))
        .bind(json_list(preferences.categories()))
        .bind(preferences.frequency().as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("recording a subscriber")?;

        let counting = "SELECT COUNT(*), MAX(created_at) FROM subscription_requests \
             WHERE subscriber_id = $1 AND created_at > $2";
        if over_address_limit(&mut tx, counting, id, request.limit, now).await?
            || over_mailbox_limit(&mut tx, &request.email, now).await?
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
        .bind(now)
        .bind(request.expires_at)
        .execute(&mut *tx)
        .await
        .context("recording a subscription request")?;
        insert_message(&mut tx, &request.confirmation, Some(SubscriberId(id)), now).await?;
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // FOR UPDATE: a link followed twice at once (a double click reaching two nodes) is
        // used once; the second waits, then reads the request as used.
        let row: Option<(i64, String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT subscriber_id, preferences, expires_at, used_at FROM subscription_requests \
             WHERE token_hash = $1 FOR UPDATE",
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
        if expires_at <= now {
            return Ok(Confirmation::Expired);
        }
        let preferences = decode_request_preferences(&preferences)?;
        sqlx::query("UPDATE subscription_requests SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
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
        .bind(now)
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let mut added = 0;
        for chunk in subscribers.chunks(ROWS_PER_STATEMENT) {
            let mut emails = Vec::with_capacity(chunk.len());
            let mut topics = Vec::with_capacity(chunk.len());
            let mut categories = Vec::with_capacity(chunk.len());
            let mut frequencies = Vec::with_capacity(chunk.len());
            for (email, preferences) in chunk {
                emails.push(email.as_str());
                topics.push(json_list(preferences.topics()));
                categories.push(json_list(preferences.categories()));
                frequencies.push(preferences.frequency().as_str());
            }
            added += sqlx::query(
                "INSERT INTO subscribers \
                 (email, state, topics, categories, frequency, created_at, confirmed_at) \
                 SELECT e, 'confirmed', t, c, f, $5, $5 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS u (e, t, c, f) \
                 ON CONFLICT (email) DO NOTHING",
            )
            .bind(emails)
            .bind(topics)
            .bind(categories)
            .bind(frequencies)
            .bind(now)
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
        // One statement: ON CONFLICT settles two nodes subscribing the address at once.
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO subscribers \
             (email, state, topics, categories, frequency, created_at, confirmed_at) \
             VALUES ($1, 'confirmed', $2, $3, $4, $5, $5) \
             ON CONFLICT (email) DO UPDATE SET state = 'confirmed', topics = excluded.topics, \
             categories = excluded.categories, frequency = excluded.frequency, \
             confirmed_at = COALESCE(subscribers.confirmed_at, excluded.confirmed_at), \
             refusals = 0 \
             RETURNING {SUBSCRIBER_COLUMNS}"
        )))
        .bind(email.as_str())
        .bind(json_list(preferences.topics()))
        .bind(json_list(preferences.categories()))
        .bind(preferences.frequency().as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .context("subscribing a signed-in reader")?;
        subscriber_from_row(&row)
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
             WHERE id > $1 AND ($2::text IS NULL OR state = $2) ORDER BY id LIMIT $3"
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // The update locks the subscriber's row first, so a digest being queued for them
        // (queue_digests locks the row too) is either committed, and deleted below, or waits
        // and then finds them unsubscribed.
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        sqlx::query("DELETE FROM subscription_requests WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .context("forgetting expired requests")?;
        // Two steps, where SQLite needed one: first lock the candidates, then delete those
        // still without a request. A request being made for one of them holds its row (the
        // upsert in request_subscription) until it commits; the lock waits for it, and the
        // delete, a new statement, then sees its request and keeps the address. (A single
        // DELETE would recheck a row it waited for, but not the NOT EXISTS beside it.)
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM subscribers WHERE state = 'pending' AND created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM subscription_requests r \
                             WHERE r.subscriber_id = subscribers.id) \
             ORDER BY id FOR UPDATE",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .context("finding unconfirmed addresses")?;
        // Their confirmation mails go with them (a failed one may still hold the address).
        let forgotten = sqlx::query(
            "DELETE FROM subscribers WHERE id = ANY($1) AND state = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM subscription_requests r \
                             WHERE r.subscriber_id = subscribers.id)",
        )
        .bind(&candidates)
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // Requests for the mailbox wait (their mail would outlive the removal otherwise), and so
        // does whatever holds the subscriber's row (a digest being queued): both are committed,
        // and their mail deleted below, or they come after the removal. The subscriber's
        // requests are locked before the subscriber, in the order confirm_subscription takes
        // them, as the delete below takes them with the row.
        lock_mailbox(&mut tx, email).await?;
        sqlx::query(
            "SELECT 1 FROM subscription_requests WHERE subscriber_id = \
             (SELECT id FROM subscribers WHERE email = $1) FOR UPDATE",
        )
        .bind(email.as_str())
        .execute(&mut *tx)
        .await
        .context("locking a subscriber's requests")?;
        sqlx::query("SELECT id FROM subscribers WHERE email = $1 FOR UPDATE")
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await
            .context("locking a subscriber")?;
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
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let chunk: Vec<i64> = chunk.iter().map(|id| id.0).collect();
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT subscriber_id, paper_id FROM digest_items WHERE subscriber_id = ANY($1)",
            )
            .bind(&chunk)
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        // Composed from a page read earlier: whoever left since gets nothing. The rows of the
        // batch's confirmed subscribers are locked (in id order, so that two batches never
        // wait on each other) until the digests are committed: an unsubscription or a bounce
        // on another node then either came first, and they are left out, or waits and drops
        // the digest queued here.
        let mut ids: Vec<i64> = digests.iter().map(|digest| digest.subscriber.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let confirmed: HashSet<i64> = sqlx::query_scalar(
            "SELECT id FROM subscribers WHERE id = ANY($1) AND state = 'confirmed' \
             ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .context("checking subscribers")?
        .into_iter()
        .collect();
        let mut queued = 0;
        for digest in &digests {
            if !confirmed.contains(&digest.subscriber.0)
                || !insert_message(&mut tx, &digest.message, Some(digest.subscriber), now).await?
            {
                continue;
            }
            queued += 1;
            for papers in digest.papers.chunks(ROWS_PER_STATEMENT) {
                let papers: Vec<i64> = papers.iter().map(|paper| paper.0).collect();
                sqlx::query(
                    "INSERT INTO digest_items (subscriber_id, paper_id, period) \
                     SELECT $1, paper, $3 FROM UNNEST($2::bigint[]) AS paper \
                     ON CONFLICT (subscriber_id, paper_id) DO NOTHING",
                )
                .bind(digest.subscriber.0)
                .bind(papers)
                .bind(&digest.period)
                .execute(&mut *tx)
                .await
                .context("recording a digest's papers")?;
            }
            // Never backwards: a digest composed for an earlier date (`digest run --date`)
            // does not make later papers look unsent. (GREATEST leaves NULLs out.)
            sqlx::query(
                "UPDATE subscribers SET last_digest_period = $1, \
                 last_digest_until = GREATEST(last_digest_until, $2::date) WHERE id = $3",
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
        let lease = after(now, lease);
        // One statement: the due rows are locked as they are picked, and rows another worker
        // is claiming at this moment are skipped, not waited for (SKIP LOCKED); a row claimed
        // and committed since this statement began is rechecked once locked and left out, its
        // lease being in the future. So no two workers, on any nodes, claim the same message.
        let rows = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, leased_until = $1 \
             WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= $2 \
                            AND (leased_until IS NULL OR leased_until <= $2) \
                          ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, subscriber_id, sender, recipient, message_id, message, attempts",
        )
        .bind(lease)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("claiming messages to send")?;
        let mut claimed = rows
            .iter()
            .map(|row| claimed_from_row(row, lease))
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
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let touches_subscriber = matches!(
            delivery,
            Delivery::Sent
                | Delivery::Failed {
                    refused_recipient: true,
                    ..
                }
        );
        if let Some(subscriber) = message.subscriber
            && touches_subscriber
        {
            // The subscriber's row before the message's, the order unsubscribe and
            // queue_digests take them in, so that neither waits on this while this waits on it.
            sqlx::query("SELECT 1 FROM subscribers WHERE id = $1 FOR NO KEY UPDATE")
                .bind(subscriber.0)
                .execute(&mut *tx)
                .await
                .context("locking a subscriber")?;
        }
        // Each update holds only while this worker's lease does (`leased_until` unchanged; a
        // claim by another worker in the meantime waits for, or is seen by, this row lock).
        // The bytes are not needed once sent (a digest is ~10 KB; a large list would grow the
        // store by gigabytes a week), nor once failed for good (they may hold a confirmation
        // link); the row stays, as the record.
        let update = match &delivery {
            Delivery::Sent => sqlx::query(
                "UPDATE outbox SET state = 'sent', sent_at = $1, last_error = NULL, \
                 leased_until = NULL, message = ''::bytea WHERE id = $2 AND leased_until = $3",
            )
            .bind(now),
            Delivery::Retry { at, error } => sqlx::query(
                "UPDATE outbox SET next_attempt_at = $1, last_error = $2, leased_until = NULL \
                 WHERE id = $3 AND leased_until = $4",
            )
            .bind(*at)
            .bind(error),
            Delivery::Failed { error, .. } => sqlx::query(
                "UPDATE outbox SET state = 'failed', last_error = $1, leased_until = NULL, \
                 message = ''::bytea WHERE id = $2 AND leased_until = $3",
            )
            .bind(error),
        };
        let recorded = update
            .bind(message.id)
            .bind(message.lease)
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
        let changed = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1 WHERE state = 'queued' AND next_attempt_at > $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .context("making queued messages due")?
        .rows_affected();
        Ok(changed)
    }

    async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        // GREATEST leaves a NULL lease out: a message is next due at its backoff or, claimed,
        // at the end of its lease, whichever is later.
        let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT state, COUNT(*), MIN(GREATEST(next_attempt_at, leased_until)) \
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
                    summary.next_due = next;
                }
                "sent" => summary.sent = count,
                _ => summary.failed += count,
            }
        }
        Ok(summary)
    }

    async fn secret(&self, name: &str, generated: &[u8]) -> Result<Vec<u8>, StoreError> {
        // ON CONFLICT DO UPDATE returns the stored row: two nodes asking at once for a secret
        // never stored both get the value the first stored.
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
