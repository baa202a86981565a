//! `paperboy harvest` and the daily harvest inside `paperboy serve`: the harvesters of
//! `paperboy-harvest` with a progress bar, a summary, and the search index brought up to date
//! afterwards so that new papers are searchable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use paperboy_core::ArxivId;
use paperboy_harvest::oai::OaiRequest;
use paperboy_harvest::{
    Fetcher, HarvestObserver, HarvestReport, Politeness, Quiet, arxiv_api, hf, oai,
};
use paperboy_ingest::RecordError;
use paperboy_search::indexing::{Silent, build_search_index};
use paperboy_search::{LiveSearcher, Searcher};
use paperboy_store::{Store, UpsertSummary};

use crate::Outcome;
use crate::cli::{ArxivHarvestArgs, Cli, HarvestSchedule, IndexingArgs};
use crate::search::{index_after_import, index_dir, index_is_behind};

/// Rejected records named one by one before the rest are only counted.
const MAX_REJECTIONS_SHOWN: u64 = 20;
/// Days of the Hugging Face list fetched again by the daily harvest: upvotes keep coming.
const HF_DAYS_REFRESHED: u32 = 3;

/// A spinner with pages and records on a terminal; elsewhere a line per page.
struct HarvestBar {
    bar: ProgressBar,
    records: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
}

impl HarvestBar {
    fn new() -> Self {
        let target = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        HarvestBar {
            bar,
            records: Default::default(),
            rejected: Default::default(),
        }
    }
}

impl HarvestObserver for HarvestBar {
    fn page(&self, source: &str, page: u64, records: usize, list_size: Option<u64>) {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.records.fetch_add(records as u64, Relaxed) + records as u64;
        let of = list_size.map_or_else(String::new, |size| format!(" of about {size}"));
        let line = format!("{source}: page {page}, {total} records{of}");
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.set_message(line);
        }
    }

    fn rejected(&self, page: &str, error: &RecordError) {
        use std::sync::atomic::Ordering::Relaxed;
        let count = self.rejected.fetch_add(1, Relaxed) + 1;
        if count <= MAX_REJECTIONS_SHOWN {
            self.bar.suspend(|| eprintln!("paperboy: {page}: {error}"));
        } else if count == MAX_REJECTIONS_SHOWN + 1 {
            self.bar
                .suspend(|| eprintln!("paperboy: … further rejected records are only counted"));
        }
    }
}

fn fetcher(politeness: Politeness, pause: f64) -> anyhow::Result<Fetcher> {
    let pause = Duration::try_from_secs_f64(pause)
        .ok()
        .filter(|pause| *pause <= Duration::from_secs(3600))
        .with_context(|| format!("--pause must be 0 to 3600 seconds, not {pause}"))?;
    Ok(Fetcher::new(politeness.with_interval(pause))?)
}

fn counts(summary: &UpsertSummary, rejected: u64) -> String {
    format!(
        "{} new, {} updated, {} unchanged, {rejected} rejected",
        summary.inserted, summary.updated, summary.unchanged
    )
}

/// `paperboy harvest arxiv`.
pub(crate) async fn arxiv(
    store: &dyn Store,
    cli: &Cli,
    args: &ArxivHarvestArgs,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let fetcher = fetcher(Politeness::ARXIV, args.pause)?;
    let (summary, rejected) = if !args.ids.is_empty() || args.query.is_some() {
        from_api(store, &fetcher, args).await?
    } else {
        let sets = if args.sets.is_empty() {
            vec!["cs".to_owned()]
        } else {
            args.sets.clone()
        };
        let mut summary = UpsertSummary::default();
        let mut rejected = 0;
        for set in sets {
            let request = OaiRequest {
                base_url: args
                    .base_url
                    .clone()
                    .unwrap_or_else(|| oai::ARXIV_OAI_URL.to_owned()),
                set: Some(set),
                from: args.from,
                until: args.until,
            };
            match harvest_set(store, &fetcher, &request).await {
                Ok(report) => {
                    summary += report.summary;
                    rejected += report.rejected;
                }
                Err(error) => {
                    // What was stored before the failure is made searchable all the same.
                    finish(store, cli, &summary, rejected, &args.indexing, started).await?;
                    return Err(error);
                }
            }
        }
        (summary, rejected)
    };
    finish(store, cli, &summary, rejected, &args.indexing, started).await
}

async fn harvest_set(
    store: &dyn Store,
    fetcher: &Fetcher,
    request: &OaiRequest,
) -> anyhow::Result<HarvestReport> {
    let source = request.source();
    let bar = HarvestBar::new();
    let result = oai::harvest(store, fetcher, request, &bar).await;
    bar.bar.finish_and_clear();
    let report = result.with_context(|| {
        format!(
            "harvesting {source} stopped; what was stored is kept, and running the same \
             command again continues from the first page not stored"
        )
    })?;
    eprintln!(
        "{source}: {} pages{}: {}; next harvest from {}.",
        report.pages,
        if report.resumed { " (resumed)" } else { "" },
        counts(&report.summary, report.rejected),
        report
            .newest
            .map_or_else(|| "the same day".to_owned(), |day| day.to_string())
    );
    Ok(report)
}

async fn from_api(
    store: &dyn Store,
    fetcher: &Fetcher,
    args: &ArxivHarvestArgs,
) -> anyhow::Result<(UpsertSummary, u64)> {
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| arxiv_api::ARXIV_API_URL.to_owned());
    let papers = if let Some(query) = &args.query {
        arxiv_api::search(fetcher, &base_url, query, args.max as usize).await?
    } else {
        let ids = args
            .ids
            .iter()
            .map(|id| {
                id.parse::<ArxivId>()
                    .map_err(|error| anyhow::anyhow!("{id:?} is not an arXiv id: {error}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let papers = arxiv_api::by_ids(fetcher, &base_url, &ids).await?;
        let found: std::collections::HashSet<String> = papers
            .records
            .iter()
            .filter_map(|record| record.arxiv_id.as_ref().map(ToString::to_string))
            .collect();
        for id in ids.iter().filter(|id| !found.contains(&id.to_string())) {
            eprintln!("paperboy: arXiv has no paper {id}");
        }
        papers
    };
    for error in &papers.rejected {
        eprintln!("paperboy: arXiv API: {error}");
    }
    let rejected = papers.rejected.len() as u64;
    let summary = store.upsert_papers(papers.records).await?;
    eprintln!("arXiv API: {}.", counts(&summary, rejected));
    Ok((summary, rejected))
}

/// `paperboy harvest hf`.
pub(crate) async fn hugging_face(
    store: &dyn Store,
    cli: &Cli,
    date: Option<NaiveDate>,
    days_before: u32,
    base_url: &str,
    pause: f64,
    indexing: &IndexingArgs,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let fetcher = fetcher(Politeness::HUGGING_FACE, pause)?;
    let last = date.unwrap_or_else(|| Utc::now().date_naive());
    let days: Vec<NaiveDate> = (0..=days_before)
        .rev()
        .map(|back| last - chrono::Duration::days(i64::from(back)))
        .collect();
    let bar = HarvestBar::new();
    let result = hf::harvest(store, &fetcher, base_url, &days, &bar).await;
    bar.bar.finish_and_clear();
    let report = result.context("fetching the Hugging Face lists")?;
    finish(
        store,
        cli,
        &report.summary,
        report.rejected,
        indexing,
        started,
    )
    .await
}

async fn finish(
    store: &dyn Store,
    cli: &Cli,
    summary: &UpsertSummary,
    rejected: u64,
    indexing: &IndexingArgs,
    started: Instant,
) -> anyhow::Result<Outcome> {
    eprintln!(
        "Harvested in {:.1} s: {}. The store holds {} papers.",
        started.elapsed().as_secs_f64(),
        counts(summary, rejected),
        store.count_papers().await?
    );
    // Papers stored by a harvest that was killed before indexing count as changes too.
    let behind = !indexing.no_index && index_is_behind(store, &cli.data_dir).await?;
    index_after_import(store, cli, summary.changed() || behind, indexing).await?;
    Ok(if rejected > 0 {
        Outcome::Partial
    } else {
        Outcome::Success
    })
}

/// Harvests every configured source at `schedule.harvest_time` each day (and at start-up when
/// that time has passed and today's harvest has not succeeded), then rebuilds the search index
/// and answers with it. A source that failed is tried again each hour until it succeeds that
/// day; the others are not asked again. Each source's state is in the store for `/metrics` and
/// `/admin`.
pub(crate) async fn run_schedule(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    data_dir: std::path::PathBuf,
    schedule: HarvestSchedule,
) {
    let sources: Vec<Source> = schedule
        .harvest_sets
        .iter()
        .map(|set| Source::Arxiv(set.clone()))
        .chain([Source::HuggingFace])
        .collect();
    loop {
        let now = Utc::now();
        let due_at = now.date_naive().and_time(schedule.harvest_time).and_utc();
        let next = if now < due_at {
            due_at
        } else {
            let due = match sources_due(&*store, &sources, due_at).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(%error, "reading harvest states failed");
                    sources.clone()
                }
            };
            if due.is_empty() {
                due_at + chrono::Duration::days(1)
            } else {
                // In a task of its own, so that a bug (a panic) costs one run, not the schedule.
                let run = tokio::spawn(harvest_and_index(
                    Arc::clone(&store),
                    Arc::clone(&live),
                    data_dir.clone(),
                    schedule.clone(),
                    due,
                ));
                if let Err(error) = run.await {
                    tracing::error!(%error, "the harvest stopped unexpectedly");
                }
                Utc::now() + chrono::Duration::hours(1)
            }
        };
        // Woken at least hourly, so a changed clock never delays a harvest by more.
        let wait = (next - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600));
        tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
    }
}

/// A source the schedule harvests.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Arxiv(String),
    HuggingFace,
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Arxiv(set) => format!("arxiv:{set}"),
            Source::HuggingFace => hf::SOURCE.to_owned(),
        }
    }
}

/// The sources without a successful harvest since `due_at`.
async fn sources_due(
    store: &dyn Store,
    sources: &[Source],
    due_at: chrono::DateTime<Utc>,
) -> anyhow::Result<Vec<Source>> {
    let states = store.harvest_states().await?;
    Ok(sources
        .iter()
        .filter(|source| {
            let name = source.name();
            !states.iter().any(|state| {
                state.source == name && state.last_success_at.is_some_and(|at| at >= due_at)
            })
        })
        .cloned()
        .collect())
}

/// Harvests `due`, then rebuilds the index when anything changed or the index is missing
/// papers the store has (a run killed before it indexed).
async fn harvest_and_index(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    data_dir: std::path::PathBuf,
    schedule: HarvestSchedule,
    due: Vec<Source>,
) {
    let changed = harvest_sources(&*store, &schedule, &due).await;
    let indexed = live.current().index().vectors.len() as u64;
    let behind = match store.count_papers().await {
        Ok(papers) => papers > indexed,
        Err(error) => {
            tracing::error!(%error, "counting papers failed");
            false
        }
    };
    if (changed || behind)
        && let Err(error) = refresh_index(&*store, &live, &data_dir).await
    {
        tracing::error!(%error, "rebuilding the search index after a harvest failed");
    }
}

/// One harvest of each source in `due`; whether any paper was added or changed. A failure is
/// logged (and recorded in the source's state) and the other sources are still harvested.
async fn harvest_sources(store: &dyn Store, schedule: &HarvestSchedule, due: &[Source]) -> bool {
    let mut changed = false;
    let today = Utc::now().date_naive();
    for source in due {
        let result = match source {
            Source::Arxiv(set) => {
                let request = OaiRequest {
                    base_url: schedule.oai_url.clone(),
                    set: Some(set.clone()),
                    from: None,
                    until: None,
                };
                match Fetcher::new(Politeness::ARXIV) {
                    Ok(fetcher) => oai::harvest(store, &fetcher, &request, &Quiet)
                        .await
                        .map_err(anyhow::Error::new),
                    Err(error) => Err(error.into()),
                }
            }
            Source::HuggingFace => {
                let days: Vec<NaiveDate> = (0..HF_DAYS_REFRESHED)
                    .rev()
                    .map(|back| today - chrono::Duration::days(i64::from(back)))
                    .collect();
                match Fetcher::new(Politeness::HUGGING_FACE) {
                    Ok(fetcher) => hf::harvest(store, &fetcher, &schedule.hf_url, &days, &Quiet)
                        .await
                        .map_err(anyhow::Error::new),
                    Err(error) => Err(error.into()),
                }
            }
        };
        match result {
            Ok(report) => {
                tracing::info!(
                    source = %source.name(),
                    pages = report.pages,
                    new = report.summary.inserted,
                    updated = report.summary.updated,
                    rejected = report.rejected,
                    "harvested"
                );
                changed |= report.summary.changed();
            }
            Err(error) => {
                tracing::error!(source = %source.name(), %error, "harvest failed; trying again in an hour");
            }
        }
    }
    changed
}

/// Rebuilds the search index on disk and answers with it from now on.
async fn refresh_index(
    store: &dyn Store,
    live: &LiveSearcher,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let current = live.current();
    let embedder = current
        .embedder()
        .cloned()
        .context("the server has no embedding model loaded")?;
    let (index, report) =
        build_search_index(store, Arc::clone(&embedder), &Silent, &index_dir(data_dir)).await?;
    tracing::info!(
        papers = index.vectors.len(),
        embedded = report.embedded,
        "search index rebuilt after a harvest"
    );
    live.replace(Searcher::new(Arc::new(index), Some(embedder)));
    Ok(())
}
