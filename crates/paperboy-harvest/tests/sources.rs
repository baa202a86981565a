//! The Hugging Face daily list and the arXiv API, served from their recorded responses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read as _;

use chrono::NaiveDate;
use common::fresh_store;
use common::oai::shared_data;
use common::server::{FixtureServer, Reply};
use paperboy_core::ArxivId;
use paperboy_harvest::{Fetcher, Politeness, Quiet, arxiv_api, hf};
use paperboy_store::HarvestStore;
use paperboy_store::PaperStore;

fn fetcher() -> Fetcher {
    Fetcher::new(Politeness::IMPATIENT).unwrap()
}

/// The recorded list of a day, as the API sends it (uncompressed JSON).
fn recorded_list(date: &str) -> String {
    let path = shared_data().join(format!("hf-daily-papers/raw/{date}.json.gz"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut json)
        .unwrap();
    json
}

fn atom(file: &str) -> Vec<u8> {
    std::fs::read(shared_data().join("arxiv-api-fixtures/atom-api").join(file)).unwrap()
}

#[tokio::test]
async fn a_days_list_adds_its_papers_and_a_later_fetch_raises_their_upvotes() {
    let date = "2024-05-28";
    let list = recorded_list(date);
    let papers: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let first_id = papers[0]["paper"]["id"].as_str().unwrap().to_owned();
    let first_upvotes = papers[0]["paper"]["upvotes"].as_u64().unwrap();
    // The second fetch sees the first paper with 100 more upvotes.
    let later = list.replacen(
        &format!("\"upvotes\": {first_upvotes}"),
        &format!("\"upvotes\": {}", first_upvotes + 100),
        1,
    );
    assert_ne!(later, list);
    let fetches = std::sync::atomic::AtomicUsize::new(0);
    let server = FixtureServer::start(move |request| {
        assert_eq!(request.param("date"), Some(date));
        if fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::ok(list.clone())
        } else {
            Reply::ok(later.clone())
        }
    })
    .await;
    let (store, _dir) = fresh_store().await;
    let day = NaiveDate::from_ymd_opt(2024, 5, 28).unwrap();

    let report = hf::harvest(&*store, &fetcher(), &server.url, &[day], &Quiet)
        .await
        .unwrap();
    assert_eq!(report.summary.inserted as usize, papers.len());
    let id: ArxivId = first_id.parse().unwrap();
    let paper = store.paper_by_arxiv_id(&id).await.unwrap().unwrap();
    assert_eq!(paper.record.external_upvotes as u64, first_upvotes);
    assert!(paper.record.listing_dates.contains(&day));

    let again = hf::harvest(&*store, &fetcher(), &server.url, &[day], &Quiet)
        .await
        .unwrap();
    assert_eq!(again.summary.inserted, 0);
    assert_eq!(again.summary.updated, 1);
    let paper = store.paper_by_arxiv_id(&id).await.unwrap().unwrap();
    assert_eq!(paper.record.external_upvotes as u64, first_upvotes + 100);
    let state = store.harvest_state(hf::SOURCE).await.unwrap().unwrap();
    assert_eq!(state.cursor.as_deref(), Some(date));
    assert_eq!(state.runs, 2);
}

#[tokio::test]
async fn an_empty_or_broken_list_is_told_apart() {
    let server = FixtureServer::start(|request| match request.param("date") {
        Some("2026-01-01") => Reply::ok("[]"),
        _ => Reply::ok("[{\"paper\": {\"id\": "),
    })
    .await;
    let (store, _dir) = fresh_store().await;
    let empty = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let report = hf::harvest(&*store, &fetcher(), &server.url, &[empty], &Quiet)
        .await
        .unwrap();
    assert_eq!(report.summary.total(), 0);

    // Two days in one run: the first is stored, the second is broken, and the run fails.
    let broken = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
    let error = hf::harvest(&*store, &fetcher(), &server.url, &[empty, broken], &Quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("hf 2026-01-02"), "{error}");
    let state = store.harvest_state(hf::SOURCE).await.unwrap().unwrap();
    assert_eq!(state.last_error.as_deref(), Some(error.as_str()));
    assert_eq!((state.runs, state.failures), (2, 1), "one run per call");
    // The cursor stays at the last run's.
    assert_eq!(state.cursor.as_deref(), Some("2026-01-01"));
}

#[tokio::test]
async fn the_arxiv_api_finds_papers_by_id_and_by_query() {
    let server = FixtureServer::start(|request| {
        if request.param("id_list") == Some("1706.03762") {
            Reply::ok(atom("query_id_list_1706.03762_2026-04-05.xml"))
        } else if request.param("search_query") == Some("cat:cs.RO") {
            Reply::ok(atom("query_cat-cs.RO_2025-10-17_2-entries.xml"))
        } else {
            Reply::status(400, "unexpected request")
        }
    })
    .await;
    let fetcher = fetcher();
    let id: ArxivId = "1706.03762".parse().unwrap();
    let found = arxiv_api::by_ids(&fetcher, &server.url, &[id])
        .await
        .unwrap();
    assert_eq!(found.records.len(), 1);
    assert_eq!(found.records[0].title, "Attention Is All You Need");
    assert_eq!(server.requests()[0].param("max_results"), Some("1"));

    let found = arxiv_api::search(&fetcher, &server.url, "cat:cs.RO", 2)
        .await
        .unwrap();
    assert_eq!(found.records.len(), 2);
    assert!(found.rejected.is_empty());
    let request = &server.requests()[1];
    assert_eq!(request.param("sortBy"), Some("submittedDate"));

    let refused = arxiv_api::search(&fetcher, &server.url, "nothing", 2).await;
    assert!(refused.unwrap_err().to_string().contains("answered 400"));
}

#[tokio::test]
async fn requests_are_spaced_by_the_pause_asked_for() {
    let server = FixtureServer::start(|_| Reply::ok("[]")).await;
    let pause = std::time::Duration::from_millis(300);
    let fetcher = Fetcher::new(Politeness::HUGGING_FACE.with_interval(pause)).unwrap();
    for _ in 0..3 {
        fetcher.get(&server.url, &[]).await.unwrap();
    }
    let requests = server.requests();
    for pair in requests.windows(2) {
        assert!(pair[1].at - pair[0].at >= pause);
    }
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_refused_not_held() {
    let body = vec![b' '; paperboy_harvest::fetch::MAX_RESPONSE_BYTES + 1];
    let server = FixtureServer::start(move |_| Reply::ok(body.clone())).await;
    let error = fetcher().get(&server.url, &[]).await.unwrap_err();
    assert!(
        matches!(error, paperboy_harvest::FetchError::TooLarge { .. }),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1, "not retried");
    let fine = FixtureServer::start(|_| Reply::ok("[]")).await;
    assert_eq!(fetcher().get(&fine.url, &[]).await.unwrap(), b"[]");
}
