//! Paperboy's system of record.
//!
//! The [`Store`] trait is everything the rest of Paperboy may ask of the database; all SQL lives
//! in this crate. [`SqliteStore`] is the embedded default (one file, WAL); [`PostgresStore`] is
//! the store many nodes share. [`open`] picks one by the URL's scheme. Both live here, as
//! modules, because they share everything but their SQL: the traits, row types, upsert
//! planning and the contract tests; neither backend's driver type is part of the API.
//!
//! Writes go in batches, each in one transaction: a crash mid-import leaves every paper either
//! fully written (row, categories, listing dates) or absent. How a record combines with what is
//! stored is decided by [`PaperRecord::merge`] and planned in [`upsert`], apart from SQL.

pub mod account;
pub mod copy;
pub mod folder;
pub mod harvest;
pub mod mail;
mod migrations;
pub mod postgres;
mod postgres_account;
mod postgres_copy;
mod postgres_folder;
mod postgres_harvest;
mod postgres_mail;
mod postgres_nodes;
mod postgres_ops;
mod rows;
mod sqlite;
mod sqlite_account;
mod sqlite_copy;
mod sqlite_folder;
mod sqlite_harvest;
mod sqlite_mail;
mod sqlite_nodes;
pub mod sqlite_ops;
pub mod upsert;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use paperboy_core::account::{AccessTokenId, FolderId, UserId};
use paperboy_core::subscription::{Preferences, SubscriberId};
use paperboy_core::token::TokenHash;
use paperboy_core::trending::{Decay, Voters, Window};
use paperboy_core::{ArxivId, Category, EmailAddress, Paper, PaperId, PaperKey, PaperRecord};

use account::{
    AccessToken, Marked, Marks, NewAccessToken, NewSession, SignIn, SignInRequest, TokenCheck,
    User, VoteOutcome, VoteTally,
};
use folder::{Folder, NewFolder, Rated, Rating};
use harvest::{HarvestOutcome, HarvestState};
use mail::{
    ClaimedMessage, Confirmation, Delivery, OutboxSummary, QueuedDigest, RequestOutcome,
    Subscriber, SubscriberState, SubscriptionRequest,
};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresOptions, PostgresStore};
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use upsert::UpsertSummary;

/// A failure of the store. Bad requests never reach here (queries are typed); these are
/// configuration mistakes or the database's own failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "'{0}' is not a database URL Paperboy supports (use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE)"
    )]
    UnsupportedUrl(String),
    /// The database driver's error, boxed so that no driver type is part of this crate's API
    /// (each backend brings its own).
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the database schema could not be brought up to date: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "the database holds data Paperboy cannot read ({0}); run `paperboy check` to see what is \
         damaged, and `paperboy restore` a backup if it is"
    )]
    Corrupt(String),
    #[error(
        "the database is at schema version {found}, newer than this Paperboy knows (up to \
         {known}): it was written by a newer version of Paperboy; run that version, or restore a \
         backup taken before the upgrade"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error(
        "the database is at schema version {found} and this Paperboy needs {known}; it cannot \
         be upgraded while opened read-only (run a command that writes, such as `paperboy serve`, \
         with write access to the data folder)"
    )]
    OlderSchemaReadOnly { found: i64, known: i64 },
    #[error("{context} {}: {source}", path.display())]
    File {
        context: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("this store cannot {0}")]
    Unsupported(&'static str),
}

/// Adds what the store was doing to a database error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database {
            context,
            source: Box::new(source),
        })
    }
}

/// Which papers to list, newest first: by latest listing date, else publication date (papers
/// with neither come last), the most upvoted first within a day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaperQuery {
    /// Only papers listed (or, never listed, published) on or after this day.
    pub from: Option<NaiveDate>,
    /// Only papers listed (or, never listed, published) on or before this day.
    pub until: Option<NaiveDate>,
    /// Only papers in this category (`cs.IR`), or in any category of this archive (`cs`).
    pub category: Option<Category>,
    pub limit: u32,
    pub offset: u32,
}

/// Papers and their embeddings: what imports write and what searches, pages and indexes read.
#[async_trait]
pub trait PaperStore: Send + Sync {
    /// Folds a batch of records into the store, in one transaction: new papers are inserted,
    /// known ones merged (see [`PaperRecord::merge`]); the summary counts each record once.
    async fn upsert_papers(&self, records: Vec<PaperRecord>) -> Result<UpsertSummary, StoreError>;

    async fn paper(&self, id: PaperId) -> Result<Option<Paper>, StoreError>;

    /// Papers by id, in the order given; unknown ids are skipped, hidden papers included (and
    /// flagged).
    async fn papers(&self, ids: &[PaperId]) -> Result<Vec<Paper>, StoreError>;

    async fn paper_by_arxiv_id(&self, id: &ArxivId) -> Result<Option<Paper>, StoreError>;

    /// Papers matching the query, newest first; hidden papers are left out.
    async fn list_papers(&self, query: &PaperQuery) -> Result<Vec<Paper>, StoreError>;

    /// Up to `limit` papers with ids above `after`, in id order: a stable way to walk every
    /// paper (exports, reindexing) without holding them all.
    async fn papers_after(
        &self,
        after: Option<PaperId>,
        limit: u32,
    ) -> Result<Vec<Paper>, StoreError>;

    async fn count_papers(&self) -> Result<u64, StoreError>;

    /// Every day some paper was listed on, oldest first.
    async fn listing_dates(&self) -> Result<Vec<NaiveDate>, StoreError>;

    /// The newest day a paper was listed (or, never listed, published) on, on or before
    /// `on_or_before` when given: the day "now" is for trending and digests.
    async fn newest_day(
        &self,
        on_or_before: Option<NaiveDate>,
    ) -> Result<Option<NaiveDate>, StoreError>;

    /// Stored embeddings among these content hashes.
    async fn embeddings(&self, hashes: &[String]) -> Result<HashMap<String, Vec<f32>>, StoreError>;

    /// Saves embeddings by content hash (a hash already stored keeps its vector).
    async fn put_embeddings(&self, embeddings: &[(String, Vec<f32>)]) -> Result<(), StoreError>;

    /// Stored sentence vectors among these content hashes, as the search crate encoded them.
    async fn sentence_embeddings(
        &self,
        hashes: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError>;

    /// Saves sentence vectors by content hash (a hash already stored keeps its vectors).
    async fn put_sentence_embeddings(
        &self,
        sentences: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError>;

    /// Up to `limit` papers inserted, changed, hidden or shown after change number `after`, in
    /// the order of their latest change, hidden ones included: what a search index built at
    /// `after` applies to catch up. Change numbers grow in commit order on both backends.
    async fn paper_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PaperChange>, StoreError>;

    /// The number of the latest change to any paper (0 when there are none).
    async fn latest_paper_change(&self) -> Result<i64, StoreError>;
}

/// A paper as of one of its changes (see [`PaperStore::paper_changes_after`]).
#[derive(Debug, Clone)]
pub struct PaperChange {
    /// The change's number; later changes have larger ones.
    pub seq: i64,
    pub paper: Paper,
}

/// Subscriptions, the outbox of mail to send, and the secrets that sign links: what the digest
/// and the subscription pages need.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Records a request to subscribe (a new address becomes a pending subscriber) with its
    /// confirmation mail, in one transaction, unless the address is over its limit of
    /// confirmation mails; then nothing is recorded.
    async fn request_subscription(
        &self,
        request: SubscriptionRequest,
    ) -> Result<RequestOutcome, StoreError>;

    /// Follows a confirmation link: once, before it expires, it confirms the subscriber with the
    /// preferences of its request.
    async fn confirm_subscription(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Confirmation, StoreError>;

    /// Adds already-confirmed subscribers in one transaction (a list moved from elsewhere, the
    /// benchmark's synthetic readers); addresses already known are left as they are. Returns
    /// how many were added.
    async fn add_confirmed_subscribers(
        &self,
        subscribers: &[(EmailAddress, Preferences)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Subscribes an address whose owner is signed in (so has shown they read its mail) with
    /// `preferences`, confirmed at once, or updates its subscription and confirms it.
    async fn subscribe_confirmed(
        &self,
        email: &EmailAddress,
        preferences: &Preferences,
        now: DateTime<Utc>,
    ) -> Result<Subscriber, StoreError>;

    async fn subscriber(&self, id: SubscriberId) -> Result<Option<Subscriber>, StoreError>;

    async fn subscriber_by_email(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<Subscriber>, StoreError>;

    /// Up to `limit` subscribers with ids above `after`, in id order, optionally only those in
    /// `state`.
    async fn subscribers_after(
        &self,
        after: Option<SubscriberId>,
        state: Option<SubscriberState>,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError>;

    /// Replaces a subscriber's preferences; false if there is no such subscriber.
    async fn set_preferences(
        &self,
        id: SubscriberId,
        preferences: &Preferences,
    ) -> Result<bool, StoreError>;

    /// Stops mailing a subscriber and drops their digests not yet sent; false if there is no
    /// such subscriber.
    async fn unsubscribe(&self, id: SubscriberId) -> Result<bool, StoreError>;

    /// Forgets what unconfirmed requests left behind: request rows expired before `before`, and
    /// pending subscribers with no request left (an address someone typed and nobody
    /// confirmed). Returns how many addresses were forgotten.
    async fn forget_unconfirmed(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Forgets a subscriber entirely: the row, pending requests, the papers sent and every
    /// message to them, sent or not. False if the address was not subscribed.
    async fn remove_subscriber(&self, email: &EmailAddress) -> Result<bool, StoreError>;

    /// The papers each of these subscribers has been sent in earlier digests.
    async fn sent_papers(
        &self,
        ids: &[SubscriberId],
    ) -> Result<HashMap<SubscriberId, HashSet<PaperId>>, StoreError>;

    /// Queues digests, in one transaction: each message (unless one with its key was queued
    /// before), the papers it holds, and the subscriber's last period. Returns how many were
    /// new.
    async fn queue_digests(
        &self,
        digests: Vec<QueuedDigest>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Claims up to `limit` queued messages due by `now`, oldest first, for `lease`: no other
    /// worker takes them until it ends, and if this one dies they come due again then.
    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError>;

    /// Records what became of a claimed message (and, for a refused address, of its
    /// subscriber), unless its lease ran out and another worker claimed it since: then nothing
    /// is recorded and the answer is false.
    async fn record_delivery(
        &self,
        message: &ClaimedMessage,
        delivery: Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Makes every queued message waiting out a backoff due now (an operator retrying by
    /// hand); messages claimed by a worker stay with it. Returns how many.
    async fn retry_queued_now(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError>;

    /// The secret value named `name`, stored with `generated` the first time it is asked for.
    async fn secret(&self, name: &str, generated: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// Readers' accounts: sign-in links and sessions, votes and the reading list, and what
/// administrators hide.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Records a sign-in link with its mail, in one transaction, unless the address was sent
    /// too many lately; then nothing is recorded.
    async fn request_sign_in(&self, request: SignInRequest) -> Result<RequestOutcome, StoreError>;

    /// Follows a sign-in link: once, before it expires, it makes the address's user (the first
    /// time) and opens `session` for them, in one transaction.
    async fn complete_sign_in(
        &self,
        token: TokenHash,
        session: NewSession,
    ) -> Result<SignIn, StoreError>;

    /// The user of an open session, unless it expired or the user was hidden.
    async fn session_user(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    async fn end_session(&self, token: TokenHash) -> Result<(), StoreError>;

    /// Ends every session of a user ("sign out everywhere"); returns how many.
    async fn end_all_sessions(&self, user: UserId) -> Result<u64, StoreError>;

    /// Adds a user (or finds the address's), making them an admin when `admin`; an admin stays
    /// one.
    async fn add_user(
        &self,
        email: &EmailAddress,
        admin: bool,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError>;

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError>;

    /// Every user in id order, or only the hidden ones.
    async fn users(&self, hidden_only: bool) -> Result<Vec<User>, StoreError>;

    /// Hides a user (their sessions end, their votes stop counting) or shows them again;
    /// false if there is no such user.
    async fn set_user_hidden(
        &self,
        user: UserId,
        hidden: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Hides a paper from every list, search and digest, or shows it again; false if there is
    /// no such paper.
    async fn set_paper_hidden(
        &self,
        paper: PaperId,
        hidden: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The hidden papers, most recently hidden first.
    async fn hidden_paper_ids(&self) -> Result<Vec<PaperId>, StoreError>;

    /// Sets a user's upvote of a paper (idempotent: voting twice is one vote) and updates the
    /// paper's count, in one transaction. `None` if the paper does not exist or is hidden, or
    /// the user is hidden.
    async fn set_vote(
        &self,
        user: UserId,
        paper: PaperId,
        upvoted: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<VoteOutcome>, StoreError>;

    /// Adds votes cast at the given times in one transaction (a replay of recorded votes);
    /// votes already there stay. Returns how many were new.
    async fn add_votes(
        &self,
        votes: &[(UserId, PaperId, DateTime<Utc>)],
    ) -> Result<u64, StoreError>;

    /// Puts a paper on a user's reading list or takes it off; false if the paper does not
    /// exist or is hidden.
    async fn set_saved(
        &self,
        user: UserId,
        paper: PaperId,
        saved: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Which of `papers` the user upvoted or saved (papers with neither are left out).
    async fn marks(
        &self,
        user: UserId,
        papers: &[PaperId],
    ) -> Result<HashMap<PaperId, Marks>, StoreError>;

    /// The papers a user upvoted, newest vote first.
    async fn voted_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError>;

    /// A user's reading list, most recently saved first.
    async fn saved_papers(&self, user: UserId) -> Result<Vec<Marked>, StoreError>;

    /// Keeps a new access token, unless its reader already holds [`account::MAX_ACCESS_TOKENS`]
    /// live ones (then `None`).
    async fn add_access_token(
        &self,
        token: NewAccessToken,
    ) -> Result<Option<AccessToken>, StoreError>;

    /// A reader's access tokens, live and revoked, newest first.
    async fn access_tokens(&self, user: UserId) -> Result<Vec<AccessToken>, StoreError>;

    /// Revokes one of a reader's tokens (for good); false if they hold no such live token.
    async fn revoke_access_token(
        &self,
        user: UserId,
        token: AccessTokenId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Whose a presented token is, noting when it was used (at most once per
    /// [`account::TOKEN_USE_RESOLUTION`], so that polling does not write on every request).
    async fn access_token_user(
        &self,
        token: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<TokenCheck, StoreError>;

    /// Votes cast from `since` to `until` on visible papers by visible users, counted per paper
    /// and hour.
    async fn vote_tallies(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<VoteTally>, StoreError>;
}

/// Where each harvest stands, so an interrupted one resumes.
#[async_trait]
pub trait HarvestStore: Send + Sync {
    /// One source's harvest state, if it was ever harvested.
    async fn harvest_state(&self, source: &str) -> Result<Option<HarvestState>, StoreError>;

    /// Every source's harvest state, by name.
    async fn harvest_states(&self) -> Result<Vec<HarvestState>, StoreError>;

    /// Writes one harvested page: its records (as [`Store::upsert_papers`] does) and where the
    /// harvest continues (`pending`), in one transaction, so a harvest stopped at any moment
    /// resumes at the first page not stored.
    async fn store_harvest_page(
        &self,
        source: &str,
        records: Vec<PaperRecord>,
        pending: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UpsertSummary, StoreError>;

    /// Records how a run ended (see [`HarvestOutcome`]).
    async fn finish_harvest(
        &self,
        source: &str,
        outcome: HarvestOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Readers' interest folders and the papers rated in them (see [`folder`]). Every method
/// takes the reader, so that nobody reaches another reader's folder.
#[async_trait]
pub trait FolderStore: Send + Sync {
    /// Makes a folder, unless the reader has one of that name or [`folder::MAX_FOLDERS`].
    async fn add_folder(
        &self,
        user: UserId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<NewFolder, StoreError>;

    /// A reader's folders, by name.
    async fn folders(&self, user: UserId) -> Result<Vec<Folder>, StoreError>;

    /// One of the reader's folders.
    async fn folder(&self, user: UserId, folder: FolderId) -> Result<Option<Folder>, StoreError>;

    /// Deletes one of the reader's folders with its ratings; false if there is no such folder.
    async fn delete_folder(&self, user: UserId, folder: FolderId) -> Result<bool, StoreError>;

    /// Rates a visible paper in one of the reader's folders (`Some(true)`: relevant,
    /// `Some(false)`: not relevant) or takes its rating back (`None`).
    async fn rate(
        &self,
        user: UserId,
        folder: FolderId,
        paper: PaperId,
        rating: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<Rated, StoreError>;

    /// A folder's rated papers, most recently rated first.
    async fn ratings(&self, folder: FolderId) -> Result<Vec<Rating>, StoreError>;
}

/// What the nodes of one site share besides its data: who runs the schedules, and how many
/// requests each client made lately.
#[async_trait]
pub trait NodeStore: Send + Sync {
    /// Takes or renews lease `name` for `holder` until `ttl` from now (the database's clock
    /// where it has one, so that nodes' clocks need not agree): true when `holder` holds it
    /// now, false when another holder's lease has not expired. Leases elect the node that runs
    /// the jobs that must run once (harvests, digest composition, clean-ups): it renews its
    /// lease well before it expires; if it dies, another takes the lease once it expires.
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives up lease `name` if `holder` holds it (a node shutting down), so another node
    /// need not wait for it to expire.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Counts a request under `key` (what is limited and who asks) in fixed windows of
    /// `window`: `None` while at most `limit` were counted in the current window, else how long
    /// until it ends. Windows that ended are forgotten as new ones start.
    async fn count_request(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Option<Duration>, StoreError>;
}

/// Everything Paperboy asks of its database: each concern's trait, and what operators need of
/// the database as a whole (closing, backups, checks). The rest of Paperboy holds a
/// `&dyn Store`, on which every method is at hand; code holding a concrete store (a test's
/// `SqliteStore`) brings the concern's trait into scope (`use paperboy_store::PaperStore`).
#[async_trait]
pub trait Store:
    PaperStore
    + MailStore
    + AccountStore
    + FolderStore
    + HarvestStore
    + NodeStore
    + copy::CopyStore
    + fmt::Debug
{
    /// Ends the store's use by this process: the SQLite store checkpoints its WAL into the
    /// database file, so that the file alone holds everything, and closes its connections.
    /// Every command calls it before exiting, whether it succeeded or not.
    async fn close(&self) {}

    /// Writes a consistent copy of the whole store to the new file `path` while others go on
    /// reading and writing (see [`SqliteStore::backup_to`]).
    async fn backup_to(&self, _path: &Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(
            "write a backup file (use the database's own backup tools)",
        ))
    }

    /// What the database's own consistency checks find wrong; empty when nothing.
    async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Every table with its number of rows, by name.
    async fn table_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Err(StoreError::Unsupported("count its tables"))
    }

    /// Where the copy taken before this opening upgraded the schema was written, if it did.
    fn upgrade_backup(&self) -> Option<&Path> {
        None
    }
}

/// The trending papers of `window` at `now`, best first, with their scores (see
/// [`paperboy_core::trending`]): the papers listed in the window ending on the newest day with
/// papers on or before `now`'s day (at most `limit` of them read, newest first), and those
/// voted for in the window; with [`Voters::Here`], only the papers this site's readers voted
/// for, by their votes alone. At most `limit` are returned; hidden papers never are.
pub async fn trending(
    store: &dyn Store,
    window: Window,
    voters: Voters,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(Paper, f64)>, StoreError> {
    trending_with(store, Decay::of(window), voters, now, limit).await
}

/// [`trending`] with another decay (what `paperboy eval trending` compares).
pub async fn trending_with(
    store: &dyn Store,
    decay: Decay,
    voters: Voters,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(Paper, f64)>, StoreError> {
    let window = decay.window;
    let mut scores: HashMap<PaperId, f64> = HashMap::new();
    let mut papers: HashMap<PaperId, Paper> = HashMap::new();
    // The listing's score is the imported upvotes' (and the listing day's): none of it is
    // this site's readers'.
    let reference = match voters {
        Voters::Everyone => store.newest_day(Some(now.date_naive())).await?,
        Voters::Here => None,
    };
    if let Some(reference) = reference {
        let listed = store
            .list_papers(&PaperQuery {
                from: Some(window.first_day(reference)),
                until: Some(reference),
                category: None,
                limit,
                offset: 0,
            })
            .await?;
        for paper in listed {
            let day = paper.record.sort_date().unwrap_or(reference);
            let score = decay.listing_score(paper.record.external_upvotes, day, reference, now);
            *scores.entry(paper.id).or_default() += score;
            papers.insert(paper.id, paper);
        }
    }
    for tally in store.vote_tallies(window.start(now), now).await? {
        *scores.entry(tally.paper).or_default() += decay.votes_score(tally.votes, tally.hour, now);
    }
    let mut ranked: Vec<(PaperId, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    ranked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let missing: Vec<PaperId> = ranked
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !papers.contains_key(id))
        .collect();
    for paper in store.papers(&missing).await? {
        papers.insert(paper.id, paper);
    }
    Ok(ranked
        .into_iter()
        .filter_map(|(id, score)| papers.remove(&id).map(|paper| (paper, score)))
        .filter(|(paper, _)| !paper.hidden)
        .collect())
}

/// The paper a key names, if the store has it.
pub async fn paper_by_key(store: &dyn Store, key: &PaperKey) -> Result<Option<Paper>, StoreError> {
    match key {
        PaperKey::Internal(id) => store.paper(*id).await,
        PaperKey::Arxiv(arxiv_id) => store.paper_by_arxiv_id(arxiv_id).await,
    }
}

/// Visits every paper in id order, a page at a time, so that no caller holds them all.
pub async fn for_each_paper<E: From<StoreError>>(
    store: &dyn Store,
    mut visit: impl FnMut(Paper) -> Result<(), E>,
) -> Result<(), E> {
    const PAGE: u32 = 2_000;
    let mut after = None;
    loop {
        let papers = store.papers_after(after, PAGE).await?;
        let Some(last) = papers.last() else { break };
        after = Some(last.id);
        for paper in papers {
            visit(paper)?;
        }
    }
    Ok(())
}

/// Opens the store a database URL names, creating and migrating it as needed.
pub async fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    open_with(url, Access::ReadWrite).await
}

/// How a command uses the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Created and migrated as needed.
    ReadWrite,
    /// Only read: works on a database and folder this process cannot write; the database must
    /// exist and be at this version's schema.
    ReadOnly,
}

/// Opens the store a database URL names, for reading and writing or only reading.
pub async fn open_with(url: &str, access: Access) -> Result<Box<dyn Store>, StoreError> {
    open_with_options(url, access, PostgresOptions::default()).await
}

/// [`open_with`], with the pool's size and other settings for a PostgreSQL URL
/// (`postgres://` or `postgresql://`; read-only access opens it as usual, as PostgreSQL's own
/// permissions are what limit a user).
pub async fn open_with_options(
    url: &str,
    access: Access,
    postgres: PostgresOptions,
) -> Result<Box<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        let store = match access {
            Access::ReadWrite => SqliteStore::open(path).await?,
            Access::ReadOnly => SqliteStore::open_read_only(path).await?,
        };
        return Ok(Box::new(store));
    }
    if is_postgres_url(url) {
        return Ok(Box::new(PostgresStore::open(url, postgres).await?));
    }
    Err(StoreError::UnsupportedUrl(redact_password(url)))
}

/// Whether a URL names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The file an `sqlite://PATH` URL names.
pub fn sqlite_path(url: &str) -> Option<&Path> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(Path::new)
}

/// Hides the password of a URL (`postgres://user:secret@host` → `postgres://user:***@host`).
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact_password("postgres://app:s3cret@db:5432/paperboy"),
            "postgres://app:***@db:5432/paperboy"
        );
        assert_eq!(
            redact_password("postgres://db/paperboy"),
            "postgres://db/paperboy"
        );
        assert_eq!(
            redact_password("sqlite://data/paperboy.sqlite3"),
            "sqlite://data/paperboy.sqlite3"
        );
    }
}
