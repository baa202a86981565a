//! `paperboy harvest`: the harvesters of `paperboy-harvest` with a progress bar, a summary, and
//! the search index brought up to date afterwards so that new papers are searchable. (The daily
//! harvest inside `serve` is in [`crate::commands::serve`].)

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use paperboy_core::ArxivId;
use paperboy_harvest::backfill::{BackfillProgress, BackfillRange, backfill};
use paperboy_harvest::oai::OaiRequest;
use paperboy_harvest::{Fetcher, HarvestObserver, HarvestReport, Politeness, arxiv_api, hf, oai};
use paperboy_ingest::RecordError;
use paperboy_store::{Store, UpsertSummary};

use crate::Outcome;
use crate::cli::{ArxivHarvestArgs, HarvestCommand, HfHarvestArgs, IndexingArgs};
use crate::context::Context;
use crate::index;
use crate::progress::draw_target;

/// Rejected records named one by one before the rest are only counted.
const MAX_REJECTIONS_SHOWN: u64 = 20;

pub(crate) async fn run(ctx: &Context, command: &HarvestCommand) -> anyhow::Result<Outcome> {
    match command {
        HarvestCommand::Arxiv(args) => arxiv(ctx, args).await,
        HarvestCommand::Hf(args) => hugging_face(ctx, args).await,
    }
}

/// A spinner with pages and records on a terminal; elsewhere a line per page. A backfill makes
/// it a bar of records against the server's count, with the window, the rate and the time left.
struct HarvestBar {
    bar: ProgressBar,
    started: Instant,
    /// Records stored: by this run, or by the whole backfill (earlier runs included).
    records: AtomicU64,
    /// The backfill records stored before this run, so the rate is this run's.
    records_before: AtomicU64,
    rejected: AtomicU64,
    /// The backfill window in flight.
    window: Mutex<Option<BackfillProgress>>,
}

impl HarvestBar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, draw_target());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        HarvestBar {
            bar,
            started: Instant::now(),
            records: AtomicU64::new(0),
            records_before: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            window: Mutex::new(None),
        }
    }

    /// This run's records a second.
    fn rate(&self, total: u64) -> f64 {
        let this_run = total.saturating_sub(self.records_before.load(Relaxed));
        this_run as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    /// A backfill's page: the bar moves, or a line says where the backfill is.
    fn backfill_page(
        &self,
        source: &str,
        window: &BackfillProgress,
        page: u64,
        total: u64,
        list_size: Option<u64>,
    ) {
        // The whole range's count, else the window's once its first page says.
        let planned = window
            .planned
            .or_else(|| list_size.map(|size| window.records + size));
        if let Some(planned) = planned {
            self.bar.set_length(planned.max(total));
        }
        self.bar.set_position(total);
        let place = format!(
            "window {} of {} ({}), page {page}",
            window.window + 1,
            window.windows,
            window.range
        );
        if !self.bar.is_hidden() {
            self.bar.set_message(place);
            return;
        }
        let rate = self.rate(total);
        let of = planned.map_or_else(String::new, |planned| format!(" of about {planned}"));
        let left = match planned {
            Some(planned) if rate > 0.0 => format!(
                ", about {} left",
                HumanDuration(Duration::from_secs_f64(
                    planned.saturating_sub(total) as f64 / rate
                ))
            ),
            _ => String::new(),
        };
        eprintln!("{source}: {place}: {total}{of} records, {rate:.1} records/s{left}");
    }
}

impl HarvestObserver for HarvestBar {
    fn window(&self, _source: &str, progress: &BackfillProgress) {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.is_none() {
            // The first window of this run: a bar of records from where earlier runs got.
            self.records_before.store(progress.records, Relaxed);
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} records \
                     ({per_sec}, eta {eta}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            if let Some(planned) = progress.planned {
                self.bar.set_length(planned);
            }
            self.bar.set_position(progress.records);
            self.bar.reset_eta();
        }
        self.records.store(progress.records, Relaxed);
        *window = Some(progress.clone());
    }

    fn page(&self, source: &str, page: u64, records: usize, list_size: Option<u64>) {
        let total = self.records.fetch_add(records as u64, Relaxed) + records as u64;
        let window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(window) = window {
            return self.backfill_page(source, &window, page, total, list_size);
        }
        let of = list_size.map_or_else(String::new, |size| format!(" of about {size}"));
        let line = format!("{source}: page {page}, {total} records{of}");
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.set_message(line);
        }
    }

    fn rejected(&self, page: &str, error: &RecordError) {
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
async fn arxiv(ctx: &Context, args: &ArxivHarvestArgs) -> anyhow::Result<Outcome> {
    let store = ctx.store();
    let started = Instant::now();
    let fetcher = fetcher(Politeness::ARXIV, args.pause)?;
    let (summary, rejected) = if !args.ids.is_empty() || args.query.is_some() {
        from_api(store, &fetcher, args).await?
    } else {
        // An explicit start day is a backfill; parsed before anything is asked of the server.
        let range = args
            .from
            .map(|from| BackfillRange::new(from, args.until, Utc::now().date_naive()))
            .transpose()?;
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
            let harvested = match range {
                Some(range) => backfill_set(store, &fetcher, &request, range).await,
                None => harvest_set(store, &fetcher, &request).await,
            };
            match harvested {
                Ok(report) => {
                    summary += report.summary;
                    rejected += report.rejected;
                }
                Err(error) => {
                    // What was stored before the failure is made searchable all the same.
                    finish(ctx, &summary, rejected, &args.indexing, started).await?;
                    return Err(error);
                }
            }
        }
        (summary, rejected)
    };
    finish(ctx, &summary, rejected, &args.indexing, started).await
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

/// A backfill of one set, with its summary line.
async fn backfill_set(
    store: &dyn Store,
    fetcher: &Fetcher,
    request: &OaiRequest,
    range: BackfillRange,
) -> anyhow::Result<HarvestReport> {
    let source = request.source();
    let bar = HarvestBar::new();
    let result = backfill(store, fetcher, request, range, &bar).await;
    bar.bar.finish_and_clear();
    let report = result.with_context(|| {
        format!(
            "backfilling {source} stopped; what was stored is kept (every window before the \
             one it stopped in, and that window's pages so far), and running the same command \
             again continues from the first page not stored"
        )
    })?;
    let resumed = report.resumed_at.map_or_else(String::new, |at| {
        format!(
            " (resumed at window {} of {}, {}, page {})",
            at.window + 1,
            report.windows,
            at.range,
            at.page
        )
    });
    let until = range
        .until()
        .map_or_else(|| "now".to_owned(), |until| until.to_string());
    let harvest = report.harvest;
    eprintln!(
        "{source}: {} pages{resumed}: {}; backfilled {} to {until} in {} window{}, {} records; \
         next harvest from {}.",
        harvest.pages,
        counts(&harvest.summary, harvest.rejected),
        range.from(),
        report.windows,
        if report.windows == 1 { "" } else { "s" },
        report.records,
        harvest
            .newest
            .map_or_else(|| "the same day".to_owned(), |day| day.to_string())
    );
    Ok(harvest)
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
async fn hugging_face(ctx: &Context, args: &HfHarvestArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let fetcher = fetcher(Politeness::HUGGING_FACE, args.pause)?;
    let last = args.date.unwrap_or_else(|| Utc::now().date_naive());
    let days: Vec<NaiveDate> = (0..=args.days_before)
        .rev()
        .map(|back| last - chrono::Duration::days(i64::from(back)))
        .collect();
    let bar = HarvestBar::new();
    let result = hf::harvest(ctx.store(), &fetcher, &args.base_url, &days, &bar).await;
    bar.bar.finish_and_clear();
    let report = result.context("fetching the Hugging Face lists")?;
    finish(
        ctx,
        &report.summary,
        report.rejected,
        &args.indexing,
        started,
    )
    .await
}

async fn finish(
    ctx: &Context,
    summary: &UpsertSummary,
    rejected: u64,
    indexing: &IndexingArgs,
    started: Instant,
) -> anyhow::Result<Outcome> {
    eprintln!(
        "Harvested in {:.1} s: {}. The store holds {} papers.",
        started.elapsed().as_secs_f64(),
        counts(summary, rejected),
        ctx.store().count_papers().await?
    );
    // Papers stored by a harvest that was killed before indexing count as changes too.
    let behind = !indexing.no_index && index::is_behind(ctx).await?;
    index::after_import(ctx, summary.changed() || behind, indexing).await?;
    Ok(if rejected > 0 {
        Outcome::Partial
    } else {
        Outcome::Success
    })
}
