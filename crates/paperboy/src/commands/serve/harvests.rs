//! The harvest schedule `serve` runs on the node elected for the schedules: every configured
//! source once a day at `--harvest-time`, retried hourly until it succeeds, and the papers that
//! came in embedded (every node's follower then puts them in its index).

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use paperboy_harvest::oai::OaiRequest;
use paperboy_harvest::{Fetcher, Politeness, Quiet, hf, oai};
use paperboy_search::LiveSearcher;
use paperboy_search::follow::embed_changed_after;
use paperboy_store::Store;

use super::leader::Leadership;

use crate::cli::HarvestSchedule;

/// Days of the Hugging Face list fetched again by the daily harvest: upvotes keep coming.
const HF_DAYS_REFRESHED: u32 = 3;

/// Harvests every configured source at `schedule.harvest_time` each day (and at start-up when
/// that time has passed and today's harvest has not succeeded), then embeds what came in. A
/// source that failed is tried again each hour until it succeeds that
/// day; the others are not asked again. Each source's state is in the store for `/metrics` and
/// `/admin`.
pub(crate) async fn run_schedule(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    schedule: HarvestSchedule,
    mut leadership: Leadership,
) {
    let sources: Vec<Source> = schedule
        .harvest_sets
        .iter()
        .map(|set| Source::Arxiv(set.clone()))
        .chain([Source::HuggingFace])
        .collect();
    loop {
        leadership.until_leading().await;
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
                let run = tokio::spawn(harvest_and_embed(
                    Arc::clone(&store),
                    Arc::clone(&live),
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

/// Harvests `due`, then embeds the papers it stored or changed: the node that stores papers
/// embeds them, once, for every node, whose followers then put them in their indexes.
async fn harvest_and_embed(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    schedule: HarvestSchedule,
    due: Vec<Source>,
) {
    let before = match store.latest_paper_change().await {
        Ok(before) => before,
        Err(error) => {
            tracing::error!(%error, "reading the change sequence failed; harvesting later");
            return;
        }
    };
    if !harvest_sources(&*store, &schedule, &due).await {
        return;
    }
    let Some(embedder) = live.current().embedder().cloned() else {
        return;
    };
    match embed_changed_after(&*store, &embedder, before).await {
        Ok(embedded) => tracing::info!(embedded, "embedded the harvested papers"),
        // Followers embed what is left once it has waited long enough.
        Err(error) => tracing::error!(%error, "embedding the harvested papers failed"),
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
