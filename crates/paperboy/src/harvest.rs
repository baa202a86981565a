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
use crate::search::{index_after_import, index_dir};

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
    anyhow::ensure!(
        pause.is_finite() && pause >= 0.0,
        "--pause must be a number of seconds, not {pause}"
    );
    Ok(Fetcher::new(
        politeness.with_interval(Duration::from_secs_f64(pause)),
    )?)
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
            let report = harvest_set(store, &fetcher, &request).await?;
            summary += report.summary;
            rejected += report.rejected;
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
    let mut summary = UpsertSummary::default();
    let mut rejected = 0;
    for back in (0..=days_before).rev() {
        let day = last - chrono::Duration::days(i64::from(back));
        let bar = HarvestBar::new();
        let result = hf::harvest(store, &fetcher, base_url, day, &bar).await;
        bar.bar.finish_and_clear();
        let report = result.with_context(|| format!("fetching the Hugging Face list of {day}"))?;
        eprintln!(
            "Hugging Face {day}: {}.",
            counts(&report.summary, report.rejected)
        );
        summary += report.summary;
        rejected += report.rejected;
    }
    finish(store, cli, &summary, rejected, indexing, started).await
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
    index_after_import(store, cli, summary, indexing).await?;
    Ok(if rejected > 0 {
        Outcome::Partial
    } else {
        Outcome::Success
    })
}

/// Harvests every configured source at `schedule.harvest_time` each day (and at start-up when
/// that time has passed and today's harvest has not succeeded), then rebuilds the search index
/// and answers with it. A failed day is tried again each hour; each source's state is in the
/// store for `/metrics` and `/admin`.
pub(crate) async fn run_schedule(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    data_dir: std::path::PathBuf,
    schedule: HarvestSchedule,
) {
    let sources: Vec<String> = schedule
        .harvest_sets
        .iter()
        .map(|set| format!("arxiv:{set}"))
        .chain([hf::SOURCE.to_owned()])
        .collect();
    loop {
        let now = Utc::now();
        let due_at = now.date_naive().and_time(schedule.harvest_time).and_utc();
        let done_today = match store.harvest_states().await {
            Ok(states) => sources.iter().all(|source| {
                states.iter().any(|state| {
                    &state.source == source && state.last_success_at.is_some_and(|at| at >= due_at)
                })
            }),
            Err(error) => {
                tracing::error!(%error, "reading harvest states failed");
                false
            }
        };
        let next = if now < due_at {
            due_at
        } else if done_today {
            due_at + chrono::Duration::days(1)
        } else {
            match harvest_all(&*store, &schedule, now.date_naive()).await {
                Ok(changed) => {
                    if changed && let Err(error) = refresh_index(&*store, &live, &data_dir).await {
                        tracing::error!(%error, "rebuilding the search index after a harvest failed");
                    }
                }
                Err(error) => tracing::error!(%error, "harvest failed; trying again in an hour"),
            }
            Utc::now() + chrono::Duration::hours(1)
        };
        // Woken at least hourly, so a changed clock never delays a harvest by more.
        let wait = (next - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600));
        tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
    }
}

/// One harvest of every source; whether any paper was added or changed. Every source is tried
/// even when one fails; the first failure is returned.
async fn harvest_all(
    store: &dyn Store,
    schedule: &HarvestSchedule,
    today: NaiveDate,
) -> anyhow::Result<bool> {
    let mut changed = false;
    let mut first_error = None;
    let arxiv = Fetcher::new(Politeness::ARXIV)?;
    for set in &schedule.harvest_sets {
        let request = OaiRequest {
            base_url: schedule.oai_url.clone(),
            set: Some(set.clone()),
            from: None,
            until: None,
        };
        match oai::harvest(store, &arxiv, &request, &Quiet).await {
            Ok(report) => {
                tracing::info!(source = %request.source(), pages = report.pages, new = report.summary.inserted, updated = report.summary.updated, rejected = report.rejected, "harvested");
                changed |= report.summary.inserted + report.summary.updated > 0;
            }
            Err(error) => {
                first_error.get_or_insert(anyhow::Error::new(error));
            }
        }
    }
    let hugging_face = Fetcher::new(Politeness::HUGGING_FACE)?;
    for back in (0..HF_DAYS_REFRESHED).rev() {
        let day = today - chrono::Duration::days(i64::from(back));
        match hf::harvest(store, &hugging_face, &schedule.hf_url, day, &Quiet).await {
            Ok(report) => {
                tracing::info!(source = hf::SOURCE, %day, new = report.summary.inserted, updated = report.summary.updated, "harvested");
                changed |= report.summary.inserted + report.summary.updated > 0;
            }
            Err(error) => {
                first_error.get_or_insert(anyhow::Error::new(error));
            }
        }
    }
    match first_error {
        Some(error) if !changed => Err(error),
        Some(error) => {
            tracing::error!(%error, "part of the harvest failed; the rest is indexed");
            Ok(true)
        }
        None => Ok(changed),
    }
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
