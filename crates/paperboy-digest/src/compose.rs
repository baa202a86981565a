//! Composing digests: for each confirmed subscriber whose period has come, the top trending
//! papers, then for each topic the new papers that match it, rendered and queued.
//!
//! - **New** means listed after the last day their previous digest covered (a first digest: the
//!   period's days), up to the newest day with papers (listed, or published if never listed) on or before the run's date. When the store
//!   has nothing listed in that stretch (demo data, a stalled harvest), that newest day with
//!   papers is the end of the window, so a first digest is never empty.
//! - **Matching** a topic is a hybrid search over the window, keeping hits whose cosine
//!   similarity to the topic reaches [`MIN_TOPIC_COSINE`]: the hybrid score is relative to the
//!   best hit, so only the cosine says how good a match is in absolute terms.
//! - **No repeats:** a paper appears once per mail, and never in a later one, except in the
//!   trending list while it is still trending, marked so. A subscriber with nothing new gets no
//!   mail (unless [`Schedule::send_empty`]).
//!
//! Searches and papers are cached for the run: subscribers share topics and papers, and a list
//! of 100,000 must compose in minutes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use paperboy_core::account::{FolderId, UserId};
use paperboy_core::subscription::{Frequency, SubscriberId};
use paperboy_core::text::{author_line, shorten};
use paperboy_core::trending::{Voters, Window};
use paperboy_core::{Category, EmailAddress, Paper, PaperId};
use paperboy_mail::Email;
use paperboy_search::recommend::{recommend, recommend_in_folder};
use paperboy_search::{Filters, PaperFacets, Query, Searcher, off_async_threads};
use paperboy_store::account::Likes;
use paperboy_store::folder::{Folder, split_ratings};
use paperboy_store::mail::{MessageKind, QueuedDigest, Subscriber, SubscriberState};
use paperboy_store::{PaperQuery, Store, trending};

use crate::membership::{Admission, Membership};
use crate::{DigestError, Mailer, Period, digest_key};

/// Trending papers at the top of every digest.
pub const TRENDING_SHOWN: usize = 5;
/// New papers shown per topic.
pub const PER_TOPIC: usize = 5;
/// New papers shown for the categories of a subscriber without topics.
pub const PER_CATEGORIES: usize = 10;
/// The least cosine similarity between a topic and a paper for the paper to be shown under it.
/// MiniLM puts papers on a topic at 0.4–0.7 and unrelated ones below 0.2; 0.35 keeps the weak
/// matches out without losing the ones phrased differently.
pub const MIN_TOPIC_COSINE: f32 = 0.35;
/// The least cosine similarity between a reader's taste (the centroid of what they upvoted and
/// saved) and a paper for "new for you". A centroid sits closer to everything than one topic
/// does, so this floor is higher than [`MIN_TOPIC_COSINE`]; it was chosen with
/// `paperboy eval for-you` (docs/web.md).
pub const MIN_FOR_YOU_COSINE: f32 = 0.6;
/// The heading of the papers picked for a subscriber who upvotes and saves papers here.
const FOR_YOU_HEADING: &str = "New for you";
/// The most days a digest looks back for new papers, however long since the last one.
const MAX_WINDOW_DAYS: u64 = 14;
/// Hits considered per topic before the threshold and repeats are applied.
const TOPIC_CANDIDATES: usize = 25;
/// Papers of the trending window read to rank trending (and filter it by category): a week of
/// arXiv's busiest archives.
const TRENDING_POOL: u32 = 10_000;
/// Subscribers read and queued per transaction.
const PAGE: u32 = 500;
/// Days after its last confirmation link expired that an unconfirmed address is forgotten:
/// somebody typed it, nobody confirmed, and Paperboy should not keep it.
pub const FORGET_UNCONFIRMED_AFTER_DAYS: i64 = 7;
/// Characters of an abstract quoted in a digest.
const SUMMARY_CHARS: usize = 300;

/// When digests go out, whether empty ones do, what ranks their trending papers, and who may
/// get them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The day weekly digests go out (on a later day if no run happened on it).
    pub weekly_on: Weekday,
    /// Send a digest even when nothing in it is new to the subscriber.
    pub send_empty: bool,
    /// Whose upvotes rank the trending section.
    pub trending_voters: Voters,
    /// Who may get the digest: a subscriber the rule no longer admits (the site was closed
    /// after they subscribed) is left without mail.
    pub membership: Membership,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            weekly_on: Weekday::Mon,
            send_empty: false,
            trending_voters: Voters::Everyone,
            membership: Membership::default(),
        }
    }
}

/// What one run of [`compose`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComposeReport {
    /// Confirmed subscribers whose period had come.
    pub due: u64,
    /// Digests queued by this run.
    pub queued: u64,
    /// Subscribers with nothing new, left without mail.
    pub empty: u64,
    /// Subscribers the site's membership rule no longer admits, left without mail.
    pub refused: u64,
    /// Addresses forgotten because nobody confirmed them (see [`FORGET_UNCONFIRMED_AFTER_DAYS`]).
    pub forgotten: u64,
}

/// One subscriber's digest before rendering.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The day or week it is for.
    pub period: Period,
    /// The day or week in words, for the subject and heading.
    pub label: String,
    /// The new papers' window, when there is one.
    pub window: Option<(NaiveDate, NaiveDate)>,
    pub trending: Vec<Item>,
    /// One per topic with matches (or one for the categories of a subscriber without topics).
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub heading: String,
    pub items: Vec<Item>,
    /// The reader's interest folder the section is for: each paper gets a link to rate it
    /// there.
    pub folder: Option<FolderId>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub paper: Arc<Paper>,
    /// Sent before and shown again because it is still trending.
    pub again: bool,
}

impl Digest {
    /// Papers the subscriber has not been sent before.
    pub fn new_papers(&self) -> usize {
        self.trending.iter().filter(|item| !item.again).count()
            + self.sections.iter().map(|s| s.items.len()).sum::<usize>()
    }

    fn papers(&self) -> Vec<PaperId> {
        self.trending
            .iter()
            .chain(self.sections.iter().flat_map(|section| &section.items))
            .map(|item| item.paper.id)
            .collect()
    }
}

/// Builds digests for one run date, caching what subscribers share.
pub struct Composer<'a> {
    store: &'a dyn Store,
    searcher: &'a Searcher,
    mailer: &'a Mailer,
    schedule: Schedule,
    date: NaiveDate,
    /// The newest day with papers on or before `date`.
    reference: Option<NaiveDate>,
    trending: Vec<Arc<Paper>>,
    papers: HashMap<PaperId, Arc<Paper>>,
    topic_hits: HashMap<(String, NaiveDate, NaiveDate, Vec<Category>), Vec<PaperId>>,
    category_papers: HashMap<(Vec<Category>, NaiveDate, NaiveDate), Vec<PaperId>>,
    window_papers: HashMap<(NaiveDate, NaiveDate), Arc<HashSet<PaperId>>>,
}

impl std::fmt::Debug for Composer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composer")
            .field("date", &self.date)
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

impl<'a> Composer<'a> {
    pub async fn new(
        store: &'a dyn Store,
        searcher: &'a Searcher,
        mailer: &'a Mailer,
        schedule: Schedule,
        date: NaiveDate,
    ) -> Result<Composer<'a>, DigestError> {
        let reference = store.newest_day(Some(date)).await?;
        let trending = trending(
            store,
            Window::Week,
            schedule.trending_voters,
            moment_of(date),
            TRENDING_POOL,
        )
        .await?;
        let trending: Vec<Arc<Paper>> = trending
            .into_iter()
            .map(|(paper, _)| Arc::new(paper))
            .collect();
        let papers = trending
            .iter()
            .map(|paper| (paper.id, Arc::clone(paper)))
            .collect();
        Ok(Composer {
            store,
            searcher,
            mailer,
            schedule,
            date,
            reference,
            trending,
            papers,
            topic_hits: HashMap::new(),
            category_papers: HashMap::new(),
            window_papers: HashMap::new(),
        })
    }

    /// The period a digest of `frequency` sent on the run date belongs to.
    pub fn period(&self, frequency: Frequency) -> Period {
        period(self.date, &self.schedule, frequency)
    }

    fn week_start(&self) -> NaiveDate {
        week_start(self.date, self.schedule.weekly_on)
    }

    /// Whether a subscriber's period has come and not been served (see [`is_due`]).
    pub fn is_due(&self, subscriber: &Subscriber) -> bool {
        is_due(self.date, &self.schedule, subscriber)
    }

    /// Whether the site's membership rule still admits a subscriber.
    pub async fn admits(&self, subscriber: &Subscriber) -> Result<bool, DigestError> {
        if self.schedule.membership.is_open() {
            return Ok(true);
        }
        let admission = self
            .schedule
            .membership
            .admits(self.store, &subscriber.email)
            .await?;
        Ok(admission == Admission::Admitted)
    }

    /// The subscriber's digest; `sent` are the papers they were sent before.
    pub async fn digest(
        &mut self,
        subscriber: &Subscriber,
        sent: &HashSet<PaperId>,
    ) -> Result<Digest, DigestError> {
        let preferences = &subscriber.preferences;
        let frequency = preferences.frequency();
        let categories = preferences.categories().to_vec();
        let mut shown: HashSet<PaperId> = HashSet::new();

        let trending: Vec<Item> = self
            .trending
            .iter()
            .filter(|paper| in_categories(paper, &categories))
            .take(TRENDING_SHOWN)
            .map(|paper| {
                shown.insert(paper.id);
                Item {
                    paper: Arc::clone(paper),
                    again: sent.contains(&paper.id),
                }
            })
            .collect();

        let window = self.reference.and_then(|until| {
            let earliest = until - Days::new(MAX_WINDOW_DAYS - 1);
            let from = match subscriber.last_digest_until {
                Some(last) => last + Days::new(1),
                None => until - Days::new(frequency.days() - 1),
            }
            .max(earliest);
            (from <= until).then_some((from, until))
        });

        let mut sections = Vec::new();
        if let Some((from, until)) = window {
            // The subscriber's account here (same address), if any and not hidden: what "for
            // you" and the folders' sections are made from.
            let reader = self
                .store
                .user_by_email(&subscriber.email)
                .await?
                .filter(|user| !user.hidden);
            let ids = match &reader {
                Some(user) => self.for_you(user.id, from, until).await?,
                None => Vec::new(),
            };
            let items = self.fresh_items(&ids, sent, &mut shown, PER_TOPIC).await?;
            if !items.is_empty() {
                sections.push(Section {
                    heading: FOR_YOU_HEADING.to_owned(),
                    items,
                    folder: None,
                });
            }
            let folders = match &reader {
                Some(user) => self.in_folders(user.id, from, until).await?,
                None => Vec::new(),
            };
            for (folder, ids) in folders {
                let items = self.fresh_items(&ids, sent, &mut shown, PER_TOPIC).await?;
                if !items.is_empty() {
                    sections.push(Section {
                        heading: format!("In your folder \u{201c}{}\u{201d}", folder.name),
                        items,
                        folder: Some(folder.id),
                    });
                }
            }
            if preferences.topics().is_empty() && !categories.is_empty() {
                let ids = self.category_papers(&categories, from, until).await?;
                let items = self
                    .fresh_items(&ids, sent, &mut shown, PER_CATEGORIES)
                    .await?;
                if !items.is_empty() {
                    sections.push(Section {
                        heading: format!("New in {}", categories.join(", ")),
                        items,
                        folder: None,
                    });
                }
            }
            for topic in preferences.topics() {
                let ids = self.topic_hits(topic, from, until, &categories).await?;
                let items = self.fresh_items(&ids, sent, &mut shown, PER_TOPIC).await?;
                if !items.is_empty() {
                    sections.push(Section {
                        heading: format!("New on \u{201c}{topic}\u{201d}"),
                        items,
                        folder: None,
                    });
                }
            }
        }
        Ok(Digest {
            period: self.period(frequency),
            label: match frequency {
                Frequency::Daily => self.date.format("%A %-d %B %Y").to_string(),
                Frequency::Weekly => {
                    format!("the week of {}", self.week_start().format("%-d %B %Y"))
                }
            },
            window,
            trending,
            sections,
        })
    }

    /// Up to `limit` of `ids` neither sent before nor already in this digest.
    async fn fresh_items(
        &mut self,
        ids: &[PaperId],
        sent: &HashSet<PaperId>,
        shown: &mut HashSet<PaperId>,
        limit: usize,
    ) -> Result<Vec<Item>, DigestError> {
        let mut items = Vec::new();
        for id in ids {
            if items.len() == limit {
                break;
            }
            if sent.contains(id) || !shown.insert(*id) {
                continue;
            }
            if let Some(paper) = self.paper(*id).await? {
                items.push(Item {
                    paper,
                    again: false,
                });
            }
        }
        Ok(items)
    }

    async fn paper(&mut self, id: PaperId) -> Result<Option<Arc<Paper>>, DigestError> {
        if let Some(paper) = self.papers.get(&id) {
            return Ok(Some(Arc::clone(paper)));
        }
        let paper = self.store.paper(id).await?.map(Arc::new);
        if let Some(paper) = &paper {
            self.papers.insert(id, Arc::clone(paper));
        }
        Ok(paper)
    }

    /// New papers in the window most like the ones the reader upvoted and saved
    /// (`paperboy_search::recommend`), best first.
    async fn for_you(
        &mut self,
        user: UserId,
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<PaperId>, DigestError> {
        let saved = self.store.saved_papers(user).await?;
        let voted = self.store.voted_papers(user).await?;
        let Likes { recent, marked } = Likes::new(&saved, &voted);
        if recent.is_empty() {
            return Ok(Vec::new());
        }
        let listed = self.window_papers(from, until).await?;
        let searcher = self.searcher.clone();
        let hits = off_async_threads(move || {
            recommend(&searcher.index().vectors, &recent, TOPIC_CANDIDATES, |id| {
                listed.contains(&id) && !marked.contains(&id)
            })
        })
        .await;
        Ok(hits
            .into_iter()
            .filter(|hit| hit.score >= MIN_FOR_YOU_COSINE)
            .map(|hit| hit.id)
            .collect())
    }

    /// For each of the reader's interest folders, the new papers in the window its classifier
    /// calls relevant, best first.
    async fn in_folders(
        &mut self,
        user: UserId,
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<(Folder, Vec<PaperId>)>, DigestError> {
        let mut found = Vec::new();
        for folder in self.store.folders(user).await? {
            if folder.relevant == 0 {
                continue;
            }
            let ratings = self.store.ratings(folder.id).await?;
            let (relevant, not_relevant) = split_ratings(&ratings);
            let listed = self.window_papers(from, until).await?;
            let searcher = self.searcher.clone();
            let ids = off_async_threads(move || {
                let vectors = &searcher.index().vectors;
                let Some((model, hits)) = recommend_in_folder(
                    vectors,
                    &relevant,
                    &not_relevant,
                    TOPIC_CANDIDATES,
                    |id| listed.contains(&id),
                ) else {
                    return Vec::new();
                };
                hits.into_iter()
                    .filter(|hit| model.calls_relevant(hit.score))
                    .map(|hit| hit.id)
                    .collect::<Vec<_>>()
            })
            .await;
            found.push((folder, ids));
        }
        Ok(found)
    }

    /// The papers listed in the window, shared by every subscriber's "for you".
    async fn window_papers(
        &mut self,
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Arc<HashSet<PaperId>>, DigestError> {
        if let Some(ids) = self.window_papers.get(&(from, until)) {
            return Ok(Arc::clone(ids));
        }
        let mut ids = HashSet::new();
        let mut offset = 0;
        loop {
            let papers = self
                .store
                .list_papers(&PaperQuery {
                    from: Some(from),
                    until: Some(until),
                    category: None,
                    limit: PAGE,
                    offset,
                })
                .await?;
            let count = papers.len();
            ids.extend(papers.into_iter().map(|paper| paper.id));
            if count < PAGE as usize {
                break;
            }
            offset += PAGE;
        }
        let ids = Arc::new(ids);
        self.window_papers.insert((from, until), Arc::clone(&ids));
        Ok(ids)
    }

    /// Papers matching `topic` in the window, best first.
    async fn topic_hits(
        &mut self,
        topic: &str,
        from: NaiveDate,
        until: NaiveDate,
        categories: &[Category],
    ) -> Result<Vec<PaperId>, DigestError> {
        let key = (topic.to_lowercase(), from, until, categories.to_vec());
        if let Some(hits) = self.topic_hits.get(&key) {
            return Ok(hits.clone());
        }
        let query = Query::new(topic)
            .filters(Filters {
                from: Some(from),
                until: Some(until),
                categories: categories.to_vec(),
            })
            .limit(TOPIC_CANDIDATES);
        let searcher = self.searcher.clone();
        let page = off_async_threads(move || searcher.search(&query)).await;
        let hits: Vec<PaperId> = match page {
            Ok(page) => page
                .hits
                .into_iter()
                .filter(|hit| {
                    hit.semantic
                        .is_some_and(|cosine| cosine >= MIN_TOPIC_COSINE)
                })
                .map(|hit| hit.id)
                .collect(),
            // A topic of only punctuation matches nothing.
            Err(paperboy_search::SearchError::EmptyQuery) => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        self.topic_hits.insert(key, hits.clone());
        Ok(hits)
    }

    /// Papers listed in the window in any of `categories`, most upvoted first.
    async fn category_papers(
        &mut self,
        categories: &[Category],
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<PaperId>, DigestError> {
        let key = (categories.to_vec(), from, until);
        if let Some(ids) = self.category_papers.get(&key) {
            return Ok(ids.clone());
        }
        let mut found: Vec<Arc<Paper>> = Vec::new();
        for category in categories {
            let papers = self
                .store
                .list_papers(&PaperQuery {
                    from: Some(from),
                    until: Some(until),
                    category: Some(category.clone()),
                    limit: 200,
                    offset: 0,
                })
                .await?;
            for paper in papers {
                if !found.iter().any(|known| known.id == paper.id) {
                    found.push(Arc::new(paper));
                }
            }
        }
        found.sort_by(|a, b| {
            b.record
                .external_upvotes
                .cmp(&a.record.external_upvotes)
                .then(a.id.cmp(&b.id))
        });
        let ids: Vec<PaperId> = found.iter().map(|paper| paper.id).collect();
        for paper in found {
            self.papers.insert(paper.id, paper);
        }
        self.category_papers.insert(key, ids.clone());
        Ok(ids)
    }

    /// The rendered mail of `digest` for `subscriber`.
    pub fn email(&self, subscriber: &Subscriber, digest: &Digest) -> Result<Email, DigestError> {
        let manage_url = self.mailer.manage_url(subscriber);
        let view = DigestView::new(self.mailer, digest, &manage_url);
        Ok(Email {
            to: subscriber.email.clone(),
            subject: subject(digest, self.date),
            text: DigestText { view: &view }.render()?,
            html: Some(DigestHtml { view: &view }.render()?),
            unsubscribe: Some(manage_url),
            key: digest_key(subscriber.id, digest.period),
        })
    }
}

/// The period a digest of `frequency` sent on `date` belongs to: the day, or the week starting
/// on the schedule's weekday.
fn period(date: NaiveDate, schedule: &Schedule, frequency: Frequency) -> Period {
    match frequency {
        Frequency::Daily => Period::Day(date),
        Frequency::Weekly => Period::Week(week_start(date, schedule.weekly_on)),
    }
}

/// Whether `subscriber` is due a digest on `date`: confirmed, and this period not served.
/// Weekly digests go out on the schedule's weekday; on a later day of the week only to
/// subscribers who had one before and missed this week's (the server was down that morning), so
/// a new weekly subscriber waits for the weekday. A period before the last one served is never
/// due (`digest run --date` with a past date sends nothing twice).
fn is_due(date: NaiveDate, schedule: &Schedule, subscriber: &Subscriber) -> bool {
    let frequency = subscriber.preferences.frequency();
    let period = period(date, schedule, frequency);
    let last = subscriber.last_digest_period.as_deref();
    // A period of the other frequency (the subscriber switched) is not comparable: not served.
    let served = last
        .and_then(|last| last.parse::<Period>().ok())
        .is_some_and(|last| last >= period);
    let on_schedule = match frequency {
        Frequency::Daily => true,
        Frequency::Weekly => date.weekday() == schedule.weekly_on || last.is_some(),
    };
    subscriber.state == SubscriberState::Confirmed && !served && on_schedule
}

/// The moment trending is ranked at for a run on `date`: now, or the end of that day when it
/// is over (a run for an earlier date).
fn moment_of(date: NaiveDate) -> DateTime<Utc> {
    let now = Utc::now();
    date.and_hms_opt(23, 59, 59)
        .map_or(now, |end| end.and_utc().min(now))
}

/// The latest `weekday` on or before `date`.
fn week_start(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    date - Days::new(u64::from(back))
}

/// Whether a paper is in any of `categories` (all papers when there are none).
fn in_categories(paper: &Paper, categories: &[Category]) -> bool {
    Filters {
        categories: categories.to_vec(),
        ..Filters::default()
    }
    .admits(&PaperFacets {
        dates: Vec::new(),
        categories: paper.record.categories.clone(),
    })
}

/// A subject that says what is inside: how many new papers on which topics, and the top
/// trending title.
fn subject(digest: &Digest, date: NaiveDate) -> String {
    let on_topics: usize = digest.sections.iter().map(|s| s.items.len()).sum();
    let mut subject = format!("Paperboy {}: ", date.format("%-d %b"));
    if on_topics > 0 {
        let headings: Vec<&str> = digest
            .sections
            .iter()
            .map(|section| {
                section
                    .heading
                    .strip_prefix("New on ")
                    .or_else(|| section.heading.strip_prefix("New "))
                    .unwrap_or(&section.heading)
            })
            .collect();
        let shown: Vec<&str> = headings.iter().take(2).copied().collect();
        subject.push_str(&format!("{on_topics} new on {}", shown.join(", ")));
        if headings.len() > 2 {
            subject.push_str(&format!(" and {} more topics", headings.len() - 2));
        }
        if let Some(top) = digest.trending.iter().find(|item| !item.again) {
            subject.push_str(&format!("; trending: {}", top.paper.record.title));
        }
    } else if let Some(top) = digest.trending.first() {
        let others = digest.trending.len() - 1;
        subject.push_str(&format!("trending: {}", top.paper.record.title));
        if others > 0 {
            subject.push_str(&format!(" and {others} more"));
        }
    } else {
        subject.push_str("nothing new");
    }
    shorten(&subject, 150)
}

/// What the templates show of a paper.
struct ItemView {
    title: String,
    url: String,
    authors: String,
    /// Categories, date and upvotes, those the paper has, joined by " · ".
    meta: String,
    summary: String,
    code_url: Option<String>,
    again: bool,
    /// In a folder's section, the page that rates the paper in the folder.
    rate_url: Option<String>,
}

struct SectionView {
    heading: String,
    items: Vec<ItemView>,
}

struct DigestView {
    label: String,
    window: Option<String>,
    site: String,
    manage_url: String,
    trending: Vec<ItemView>,
    sections: Vec<SectionView>,
}

impl DigestView {
    fn new(mailer: &Mailer, digest: &Digest, manage_url: &str) -> DigestView {
        let item = |item: &Item, folder: Option<FolderId>| {
            let record = &item.paper.record;
            ItemView {
                title: record.title.clone(),
                url: mailer.paper_url(&item.paper),
                authors: author_line(&record.authors, 4),
                meta: [
                    record.categories.join(", "),
                    record
                        .sort_date()
                        .map(|day| day.to_string())
                        .unwrap_or_default(),
                    match record.external_upvotes {
                        0 => String::new(),
                        1 => "1 upvote".to_owned(),
                        votes => format!("{votes} upvotes"),
                    },
                ]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" · "),
                summary: shorten(&record.abstract_text, SUMMARY_CHARS),
                code_url: record
                    .code_url
                    .clone()
                    .filter(|url| url.starts_with("https://") || url.starts_with("http://")),
                again: item.again,
                rate_url: folder.map(|folder| {
                    format!(
                        "{}/folders/{folder}/rate?paper={}",
                        mailer.public_url(),
                        item.paper.id.0
                    )
                }),
            }
        };
        DigestView {
            label: digest.label.clone(),
            window: digest.window.map(|(from, until)| {
                if from == until {
                    format!("listed on {}", until.format("%-d %B %Y"))
                } else {
                    format!(
                        "listed {} to {}",
                        from.format("%-d %B"),
                        until.format("%-d %B %Y")
                    )
                }
            }),
            site: mailer.public_url().to_owned(),
            manage_url: manage_url.to_owned(),
            trending: digest
                .trending
                .iter()
                .map(|trending| item(trending, None))
                .collect(),
            sections: digest
                .sections
                .iter()
                .map(|section| SectionView {
                    heading: section.heading.clone(),
                    items: section
                        .items
                        .iter()
                        .map(|shown| item(shown, section.folder))
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "digest.txt")]
struct DigestText<'a> {
    view: &'a DigestView,
}

#[derive(Template)]
#[template(path = "digest.html")]
struct DigestHtml<'a> {
    view: &'a DigestView,
}

/// Composes and queues the digests due on `date`.
pub async fn compose(
    store: &dyn Store,
    searcher: &Searcher,
    mailer: &Mailer,
    schedule: Schedule,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<ComposeReport, DigestError> {
    let mut report = ComposeReport {
        forgotten: store
            .forget_unconfirmed(now - chrono::Duration::days(FORGET_UNCONFIRMED_AFTER_DAYS))
            .await?,
        ..ComposeReport::default()
    };
    let mut composer = Composer::new(store, searcher, mailer, schedule, date).await?;
    let mut after: Option<SubscriberId> = None;
    loop {
        let page = store
            .subscribers_after(after, Some(SubscriberState::Confirmed), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let due: Vec<&Subscriber> = page.iter().filter(|s| composer.is_due(s)).collect();
        let ids: Vec<SubscriberId> = due.iter().map(|subscriber| subscriber.id).collect();
        let sent = store.sent_papers(&ids).await?;
        let none = HashSet::new();
        let mut batch = Vec::with_capacity(due.len());
        for subscriber in due {
            report.due += 1;
            if !composer.admits(subscriber).await? {
                report.refused += 1;
                continue;
            }
            let digest = composer
                .digest(subscriber, sent.get(&subscriber.id).unwrap_or(&none))
                .await?;
            if digest.new_papers() == 0 && !composer.schedule.send_empty {
                report.empty += 1;
                continue;
            }
            let email = composer.email(subscriber, &digest)?;
            batch.push(QueuedDigest {
                subscriber: subscriber.id,
                period: digest.period.to_string(),
                // With no new papers, the last day covered stays where it was.
                until: digest
                    .window
                    .map(|(_, until)| until)
                    .or(subscriber.last_digest_until)
                    .or(composer.reference)
                    .unwrap_or(date),
                papers: digest.papers(),
                message: mailer.queueable(&email, MessageKind::Digest, now)?,
            });
        }
        report.queued += store.queue_digests(batch, now).await?;
    }
    tracing::info!(
        due = report.due,
        queued = report.queued,
        empty = report.empty,
        refused = report.refused,
        forgotten = report.forgotten,
        %date,
        "digests composed"
    );
    Ok(report)
}

/// The digest `email` would get on `date`, as its subject and text, whatever their state and
/// without queueing anything; `None` if the address is not subscribed.
pub async fn preview(
    store: &dyn Store,
    searcher: &Searcher,
    mailer: &Mailer,
    schedule: Schedule,
    email: &EmailAddress,
    date: NaiveDate,
) -> Result<Option<Email>, DigestError> {
    let Some(subscriber) = store.subscriber_by_email(email).await? else {
        return Ok(None);
    };
    let mut composer = Composer::new(store, searcher, mailer, schedule, date).await?;
    let sent = store.sent_papers(&[subscriber.id]).await?;
    let digest = composer
        .digest(
            &subscriber,
            sent.get(&subscriber.id).unwrap_or(&HashSet::new()),
        )
        .await?;
    Ok(Some(composer.email(&subscriber, &digest)?))
}

#[cfg(test)]
mod tests {
    use paperboy_core::day::parse_day;

    use super::*;

    #[test]
    fn weeks_start_on_the_scheduled_weekday() {
        let back = |date: &str, weekly_on: Weekday| {
            week_start(parse_day(date).unwrap_or_default(), weekly_on).to_string()
        };
        // 2026-11-28 is a Saturday.
        assert_eq!(back("2026-11-28", Weekday::Mon), "2026-11-23");
        assert_eq!(back("2026-11-28", Weekday::Sat), "2026-11-28");
        assert_eq!(back("2026-11-28", Weekday::Sun), "2026-11-22");
    }

    #[test]
    fn period_keys_are_the_day_or_the_weeks_first_day() {
        let date = parse_day("2026-11-28").unwrap_or_default();
        let key = |frequency| period(date, &Schedule::default(), frequency).to_string();
        assert_eq!(key(Frequency::Daily), "2026-11-28");
        assert_eq!(key(Frequency::Weekly), "week-2026-11-23");
    }

    fn subscriber(frequency: Frequency, last: Option<&str>) -> Subscriber {
        Subscriber {
            id: SubscriberId(1),
            email: "ada@example.org".parse().unwrap_or_else(|_| unreachable!()),
            state: SubscriberState::Confirmed,
            preferences: paperboy_core::subscription::Preferences::new(
                ["graphs"],
                Vec::<String>::new(),
                frequency,
            )
            .unwrap_or_default(),
            created_at: DateTime::<Utc>::MIN_UTC,
            confirmed_at: None,
            last_digest_period: last.map(str::to_owned),
            last_digest_until: None,
            link_generation: 0,
        }
    }

    #[test]
    fn digests_are_due_once_a_period_and_weekly_ones_on_their_day() {
        let schedule = Schedule::default();
        let day = |text: &str| parse_day(text).unwrap_or_default();
        let due = |date: &str, frequency, last| {
            is_due(day(date), &schedule, &subscriber(frequency, last))
        };
        assert!(due("2026-11-28", Frequency::Daily, None));
        assert!(due("2026-11-28", Frequency::Daily, Some("2026-11-27")));
        assert!(!due("2026-11-28", Frequency::Daily, Some("2026-11-28")));
        assert!(
            !due("2026-11-27", Frequency::Daily, Some("2026-11-28")),
            "a past date"
        );
        // A new weekly subscriber waits for Monday; one who missed Monday gets it later.
        assert!(due("2026-11-23", Frequency::Weekly, None));
        assert!(!due("2026-11-25", Frequency::Weekly, None));
        assert!(due(
            "2026-11-25",
            Frequency::Weekly,
            Some("week-2026-11-16")
        ));
        assert!(!due(
            "2026-11-25",
            Frequency::Weekly,
            Some("week-2026-11-23")
        ));
        // Switching frequency: the other kind of key does not count as served.
        assert!(due("2026-11-23", Frequency::Weekly, Some("2026-11-23")));
        assert!(due("2026-11-24", Frequency::Daily, Some("week-2026-11-23")));
        let mut left = subscriber(Frequency::Daily, None);
        left.state = SubscriberState::Unsubscribed;
        assert!(!is_due(day("2026-11-28"), &schedule, &left));
    }
}
