//! `paperboy harvest`: the harvesters of `paperboy-harvest` with a progress bar, a summary, and
//! the search index brought up to date afterwards so that new papers are searchable. (The daily
//! harvest inside `serve` is in [`crate::commands::serve`].)

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use paperboy_core::ArxivId;
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

/// A spinner with pages and records on a terminal; elsewhere a line per page.
struct HarvestBar {
    bar: ProgressBar,
    records: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
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
async fn arxiv(ctx: &Context, args: &ArxivHarvestArgs) -> anyhow::Result<Outcome> {
    let store = ctx.store();
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
