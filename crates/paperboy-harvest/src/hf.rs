//! The Hugging Face daily-papers list: one date's list per request (the API's `?date=`), read
//! like a saved list file. Known papers get the day added to their listing dates, their
//! upvote count raised and their GitHub link filled in; new papers are added. A day's upvotes
//! keep growing for days, so the scheduler fetches the last few days again each time.

use chrono::{NaiveDate, Utc};
use paperboy_store::{Store, UpsertSummary};

use crate::page::{Papers, read_papers};
use crate::{Fetcher, HarvestError, HarvestObserver, HarvestReport, record_run};

/// The Hugging Face daily-papers API.
pub const HF_DAILY_URL: &str = "https://huggingface.co/api/daily_papers";

/// The name the store keeps the list's state under.
pub const SOURCE: &str = "hf";

/// Fetches the lists of `days` (in order) from `base_url` and stores their papers: one run of
/// the source, which fails at the first list that cannot be fetched or read (the lists before
/// it stay stored).
pub async fn harvest(
    store: &dyn Store,
    fetcher: &Fetcher,
    base_url: &str,
    days: &[NaiveDate],
    observer: &dyn HarvestObserver,
) -> Result<HarvestReport, HarvestError> {
    let mut report = HarvestReport::default();
    let mut result = Ok(());
    for day in days {
        match fetch_and_store(store, fetcher, base_url, *day, observer).await {
            Ok((summary, rejected)) => {
                report.pages += 1;
                report.summary += summary;
                report.rejected += rejected;
                report.newest = report.newest.max(Some(*day));
            }
            Err(error) => {
                result = Err(error);
                break;
            }
        }
    }
    record_run(store, SOURCE, result.map(|()| report)).await
}

async fn fetch_and_store(
    store: &dyn Store,
    fetcher: &Fetcher,
    base_url: &str,
    date: NaiveDate,
    observer: &dyn HarvestObserver,
) -> Result<(UpsertSummary, u64), HarvestError> {
    let day = date.to_string();
    let body = fetcher.get(base_url, &[("date", &day)]).await?;
    // The file name gives the list its day, as for a saved `2026-08-21.json`.
    let name = format!("{day}.json");
    let Papers { records, rejected } =
        read_papers(&name, body)
            .await
            .map_err(|message| HarvestError::Malformed {
                source_name: format!("{SOURCE} {day}"),
                page: 1,
                message,
            })?;
    for error in &rejected {
        observer.rejected(&name, error);
    }
    let count = records.len();
    let summary = store
        .store_harvest_page(SOURCE, records, None, Utc::now())
        .await?;
    observer.page(&format!("{SOURCE} {day}"), 1, count, None);
    Ok((summary, rejected.len() as u64))
}
