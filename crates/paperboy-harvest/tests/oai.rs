//! The OAI-PMH harvester against a local server serving real arXiv records split across pages:
//! every record stored once, faults waited out or resumed from, and the state kept right.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::NaiveDate;
use common::fresh_store;
use common::oai::{Fault, Harvestable, error, id_of, page, real_records, records_of};
use common::server::{FixtureServer, Reply};
use paperboy_core::day::parse_day;
use paperboy_harvest::backfill::{BackfillProgress, BackfillRange, backfill};
use paperboy_harvest::oai::{OaiRequest, harvest};
use paperboy_harvest::{Fetcher, HarvestError, Politeness, Quiet};
use paperboy_store::HarvestStore;
use paperboy_store::PaperStore;
use paperboy_store::{Store, for_each_paper};

fn day(text: &str) -> NaiveDate {
    parse_day(text).unwrap()
}

async fn serve(list: &Arc<Harvestable>) -> FixtureServer {
    let list = Arc::clone(list);
    FixtureServer::start(move |request| list.answer(request)).await
}

fn request(server: &FixtureServer) -> OaiRequest {
    OaiRequest {
        base_url: server.url.clone(),
        set: Some("cs".into()),
        from: Some(day("2015-01-16")),
        until: None,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(Politeness::IMPATIENT).unwrap()
}

async fn stored_ids(store: &dyn Store) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for_each_paper(store, |paper| {
        ids.insert(
            paper
                .record
                .arxiv_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        );
        Ok::<_, paperboy_store::StoreError>(())
    })
    .await
    .unwrap();
    ids
}

fn expected_ids(records: &[String]) -> BTreeSet<String> {
    records.iter().map(|record| id_of(record)).collect()
}

#[tokio::test]
async fn a_multi_page_harvest_stores_every_real_record_once_and_continues_from_its_cursor() {
    let mut records = real_records();
    // All recorded datestamps are 2015-01-16; one on the last page is a day later.
    let last = records.len() - 1;
    records[last] = records[last].replace("<datestamp>2015-01-16", "<datestamp>2015-01-17");
    let list = Arc::new(Harvestable::new(records.clone(), 25));
    assert_eq!(list.pages(), 8);
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;

    let report = harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    assert_eq!(report.pages, 8);
    assert!(!report.resumed);
    // Six papers are cross-listed in both sets: their second record merges into the first.
    assert_eq!(
        report.summary.inserted as usize,
        expected_ids(&records).len()
    );
    assert_eq!(report.summary.total() as usize, records.len());
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
    let requests = server.requests();
    assert_eq!(requests.len(), 8);
    assert_eq!(requests[0].param("verb"), Some("ListRecords"));
    assert_eq!(requests[0].param("metadataPrefix"), Some("arXiv"));
    assert_eq!(requests[0].param("set"), Some("cs"));
    assert_eq!(requests[0].param("from"), Some("2015-01-16"));
    assert_eq!(requests[1].param("resumptionToken"), Some("page-1|0"));
    assert_eq!(requests[1].param("metadataPrefix"), None);

    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(state.cursor.as_deref(), Some("2015-01-17"));
    assert_eq!(state.pending, None);
    assert_eq!(state.last_error, None);
    assert_eq!((state.runs, state.failures), (1, 0));
    assert_eq!(state.records as usize, records.len());

    // The next harvest asks from the newest datestamp reached; the records it gets again
    // change nothing.
    let next = OaiRequest {
        from: None,
        ..request(&server)
    };
    let again = harvest(&*store, &fetcher(), &next, &Quiet).await.unwrap();
    assert_eq!(server.requests()[8].param("from"), Some("2015-01-17"));
    assert_eq!(again.summary.inserted + again.summary.updated, 0);
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
}

#[tokio::test]
async fn a_503_with_retry_after_and_a_connection_dropped_mid_page_are_waited_out() {
    let records = real_records();
    let list = Arc::new(Harvestable::new(records.clone(), 50));
    list.fail_request(1, Fault::RetryAfter(1));
    list.fail_request(3, Fault::CutOff);
    list.fail_request(4, Fault::Status(502));
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;

    let report = harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    assert_eq!(report.pages, 4);
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
    let requests = server.requests();
    assert_eq!(requests.len(), 4 + 3, "each fault costs one request");
    // The page after the 503 was asked for again only after the second the server asked for.
    assert!(requests[2].at - requests[1].at >= Duration::from_secs(1));
    assert_eq!(
        requests[1].param("resumptionToken"),
        requests[2].param("resumptionToken")
    );
}

#[tokio::test]
async fn a_page_that_stays_broken_stops_the_harvest_and_the_next_run_resumes_at_that_page() {
    let records = real_records();
    let list = Arc::new(Harvestable::new(records.clone(), 25));
    list.break_page(3);
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;

    let failed = harvest(&*store, &fetcher(), &request(&server), &Quiet).await;
    let Err(HarvestError::Malformed { page, .. }) = failed else {
        panic!("{failed:?}");
    };
    assert_eq!(page, 4);
    assert_eq!(stored_ids(&*store).await, expected_ids(&records[..75]));
    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    let error = state.last_error.unwrap();
    assert!(error.contains("page 4"), "{error}");
    assert!(state.pending.unwrap().contains("page-3|0"));
    assert_eq!((state.runs, state.failures), (1, 1));
    assert_eq!(state.cursor, None);

    list.mend_pages();
    let before = server.requests().len();
    let report = harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    assert!(report.resumed);
    assert_eq!(report.pages, 8);
    assert_eq!(
        server.requests()[before].param("resumptionToken"),
        Some("page-3|0")
    );
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!((state.runs, state.failures), (2, 1));
    assert_eq!(state.last_error, None);
    assert_eq!(state.cursor.as_deref(), Some("2015-01-16"));
}

#[tokio::test]
async fn an_expired_token_starts_the_harvest_over_from_the_same_day() {
    let records = real_records();
    let list = Arc::new(Harvestable::new(records.clone(), 25));
    list.break_page(5);
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;
    assert!(
        harvest(&*store, &fetcher(), &request(&server), &Quiet)
            .await
            .is_err()
    );

    list.mend_pages();
    list.generation.store(1, Ordering::SeqCst);
    list.expire_tokens_before.store(1, Ordering::SeqCst);
    let before = server.requests().len();
    let report = harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    assert_eq!(report.pages, 8);
    let requests = server.requests();
    assert_eq!(requests[before].param("resumptionToken"), Some("page-5|0"));
    assert_eq!(requests[before + 1].param("from"), Some("2015-01-16"));
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
}

#[tokio::test]
async fn an_empty_result_is_a_success_that_stores_nothing() {
    let list = Arc::new(Harvestable::new(Vec::new(), 25));
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;
    let report = harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    assert_eq!(report.summary.total(), 0);
    assert_eq!(store.count_papers().await.unwrap(), 0);
    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert!(state.last_success_at.is_some());
    assert_eq!(state.last_error, None);
}

#[tokio::test]
async fn a_server_without_the_arxiv_format_is_asked_for_dublin_core() {
    let dublin_core = records_of("getrecord_oai_dc_1207.1019.xml");
    let server = FixtureServer::start(move |request| {
        if request.param("metadataPrefix") == Some("arXiv") {
            Reply::ok(error("cannotDisseminateFormat", "arXiv is not supported"))
        } else {
            Reply::ok(page(&dublin_core, None, 0, 1))
        }
    })
    .await;
    let (store, _dir) = fresh_store().await;
    harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests[1].param("metadataPrefix"), Some("oai_dc"));
    assert_eq!(
        stored_ids(&*store).await.into_iter().collect::<Vec<_>>(),
        ["1207.1019"]
    );
}

#[tokio::test]
async fn a_bad_record_is_named_by_page_and_position_and_the_rest_of_its_page_is_stored() {
    let mut records = real_records()[..30].to_vec();
    // Record 3 of page 2 loses its title.
    let title_start = records[12].find("<title>").unwrap();
    let title_end = records[12].find("</title>").unwrap() + "</title>".len();
    records[12].replace_range(title_start..title_end, "<title> </title>");
    let list = Arc::new(Harvestable::new(records.clone(), 10));
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;

    struct Rejections(std::sync::Mutex<Vec<String>>);
    impl paperboy_harvest::HarvestObserver for Rejections {
        fn rejected(&self, page: &str, error: &paperboy_ingest::RecordError) {
            self.0.lock().unwrap().push(format!("{page}: {error}"));
        }
    }
    let rejections = Rejections(std::sync::Mutex::new(Vec::new()));
    let report = harvest(&*store, &fetcher(), &request(&server), &rejections)
        .await
        .unwrap();
    assert_eq!(report.rejected, 1);
    let seen = rejections.0.into_inner().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("arxiv:cs page 2: record 3"), "{seen:?}");
    assert!(seen[0].contains(&id_of(&records[12])), "{seen:?}");
    assert_eq!(stored_ids(&*store).await.len(), 29);
}

#[tokio::test]
async fn a_server_that_refuses_fails_with_its_status_recorded_in_the_state() {
    let server = FixtureServer::start(|_| Reply::status(404, "no such endpoint")).await;
    let (store, _dir) = fresh_store().await;
    let failed = harvest(&*store, &fetcher(), &request(&server), &Quiet).await;
    let message = failed.unwrap_err().to_string();
    assert!(message.contains("answered 404"), "{message}");
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
    let state = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(state.last_error.as_deref(), Some(message.as_str()));
}

#[tokio::test]
async fn a_harvest_from_a_later_day_leaves_the_cursor_where_the_gap_begins() {
    let records = real_records()[..20].to_vec();
    let list = Arc::new(Harvestable::new(records.clone(), 10));
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;
    harvest(&*store, &fetcher(), &request(&server), &Quiet)
        .await
        .unwrap();
    let cursor = |store: Arc<paperboy_store::SqliteStore>| async move {
        store
            .harvest_state("arxiv:cs")
            .await
            .unwrap()
            .unwrap()
            .cursor
    };
    assert_eq!(
        cursor(Arc::clone(&store)).await.as_deref(),
        Some("2015-01-16")
    );

    // A backfill from March sees records of March: the days between are still not harvested.
    let march: Vec<String> = records
        .iter()
        .map(|record| record.replace("<datestamp>2015-01-16", "<datestamp>2015-03-02"))
        .collect();
    let later = Arc::new(Harvestable::new(march, 10));
    let later_server = serve(&later).await;
    let backfill = OaiRequest {
        from: Some(day("2015-03-01")),
        ..request(&later_server)
    };
    let report = harvest(&*store, &fetcher(), &backfill, &Quiet)
        .await
        .unwrap();
    assert_eq!(report.newest, Some(day("2015-01-16")));
    assert_eq!(
        cursor(Arc::clone(&store)).await.as_deref(),
        Some("2015-01-16")
    );

    // The next scheduled harvest asks from where the gap begins, and then moves on.
    let scheduled = OaiRequest {
        from: None,
        ..request(&later_server)
    };
    harvest(&*store, &fetcher(), &scheduled, &Quiet)
        .await
        .unwrap();
    let asked = later_server.requests();
    assert_eq!(asked[2].param("from"), Some("2015-01-16"));
    assert_eq!(cursor(store).await.as_deref(), Some("2015-03-02"));
}

/// The 196 real records with their datestamps spread over January to March 2015, a third in
/// each month, the newest on 2015-03-20; none in April.
fn records_over_three_months() -> Vec<String> {
    let mut records: Vec<String> = real_records()
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let month = 1 + index % 3;
            record.replace(
                "<datestamp>2015-01-16",
                &format!("<datestamp>2015-0{month}-16"),
            )
        })
        .collect();
    // The third record is March's.
    records[2] = records[2].replace("<datestamp>2015-03-16", "<datestamp>2015-03-20");
    records
}

/// What a backfill told its observer: each window as it started.
#[derive(Default)]
struct Windows(std::sync::Mutex<Vec<BackfillProgress>>);

impl paperboy_harvest::HarvestObserver for Windows {
    fn window(&self, _source: &str, progress: &BackfillProgress) {
        self.0.lock().unwrap().push(progress.clone());
    }
}

fn range(from: &str, until: &str) -> BackfillRange {
    BackfillRange::new(day(from), Some(day(until)), day("2026-12-07")).unwrap()
}

/// The `from`..`until` of each request that starts a list, in order.
fn lists_asked(requests: &[common::server::Request]) -> Vec<(String, String, String)> {
    requests
        .iter()
        .filter(|request| request.param("resumptionToken").is_none())
        .map(|request| {
            (
                request.param("verb").unwrap_or_default().to_owned(),
                request.param("from").unwrap_or_default().to_owned(),
                request.param("until").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_backfill_harvests_its_months_oldest_first_and_an_empty_month_is_a_success() {
    let records = records_over_three_months();
    let list = Arc::new(Harvestable::dated(records.clone(), 25));
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;
    let windows = Windows::default();

    let report = backfill(
        &*store,
        &fetcher(),
        &request(&server),
        range("2015-01-10", "2015-04-30"),
        &windows,
    )
    .await
    .unwrap();

    let asked = lists_asked(&server.requests());
    let list_of = |verb: &str, from: &str, until: &str| (verb.into(), from.into(), until.into());
    assert_eq!(
        asked,
        [
            // One request for the whole range's size, then each month in order; April has
            // nothing (`noRecordsMatch`) and is a success.
            list_of("ListIdentifiers", "2015-01-10", "2015-04-30"),
            list_of("ListRecords", "2015-01-10", "2015-01-31"),
            list_of("ListRecords", "2015-02-01", "2015-02-28"),
            list_of("ListRecords", "2015-03-01", "2015-03-31"),
            list_of("ListRecords", "2015-04-01", "2015-04-30"),
        ]
    );
    // 66, 65 and 65 records: three pages a month, and the request for April.
    assert_eq!(server.requests().len(), 1 + 3 * 3 + 1);
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
    assert_eq!((report.windows, report.records), (4, 196));
    assert_eq!(report.harvest.pages, 9);
    assert_eq!(report.harvest.summary.total(), 196);
    assert_eq!(report.resumed_at, None);
    let seen = windows.0.into_inner().unwrap();
    let starts: Vec<(u32, u32, u64, Option<u64>)> = seen
        .iter()
        .map(|progress| {
            (
                progress.window,
                progress.windows,
                progress.records,
                progress.planned,
            )
        })
        .collect();
    assert_eq!(
        starts,
        [
            (0, 4, 0, Some(196)),
            (1, 4, 66, Some(196)),
            (2, 4, 131, Some(196)),
            (3, 4, 196, Some(196)),
        ]
    );

    // The set had no cursor: the schedule continues from the newest datestamp the backfill
    // saw, and the backfill's own row is finished.
    let set = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(set.cursor.as_deref(), Some("2015-03-20"));
    assert_eq!(report.harvest.newest, Some(day("2015-03-20")));
    let row = store
        .harvest_state("arxiv:cs backfill")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.pending, row.last_error, row.runs), (None, None, 1));
}

#[tokio::test]
async fn a_backfill_stopped_mid_window_keeps_a_prefix_in_time_and_continues_at_its_first_page_not_stored()
 {
    let records = records_over_three_months();
    let list = Arc::new(Harvestable::dated(records.clone(), 25));
    // Request 0 counts, 1–3 are January; February's second page (request 5) finds the
    // server down.
    list.go_down_at(5);
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;
    // A cursor the backfill starts after: it must stay where the gap begins.
    store
        .finish_harvest(
            "arxiv:cs",
            paperboy_store::harvest::HarvestOutcome::Succeeded {
                cursor: Some("2014-12-01".into()),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let range = range("2015-01-10", "2015-03-31");

    let failed = backfill(&*store, &fetcher(), &request(&server), range, &Quiet).await;
    assert!(failed.is_err(), "{failed:?}");
    // January whole and February's first page: a prefix in time.
    let january = |record: &&String| record.contains("<datestamp>2015-01");
    let february: Vec<&String> = records
        .iter()
        .filter(|record| record.contains("<datestamp>2015-02"))
        .collect();
    let mut stored: BTreeSet<String> = records.iter().filter(january).map(|r| id_of(r)).collect();
    stored.extend(february[..25].iter().map(|record| id_of(record)));
    assert_eq!(stored_ids(&*store).await, stored);
    let row = store
        .harvest_state("arxiv:cs backfill")
        .await
        .unwrap()
        .unwrap();
    assert!(row.last_error.unwrap().contains("500"));

    list.come_back();
    let before = server.requests().len();
    let windows = Windows::default();
    let report = backfill(&*store, &fetcher(), &request(&server), range, &windows)
        .await
        .unwrap();
    let resumed = report.resumed_at.unwrap();
    assert_eq!((resumed.window, resumed.page), (1, 2));
    assert_eq!(resumed.range.to_string(), "2015-02-01 to 2015-02-28");
    let requests = &server.requests()[before..];
    assert_eq!(
        requests[0].param("resumptionToken"),
        Some("page-1|0|2015-02-01|2015-02-28"),
        "no second count, no page asked again"
    );
    // February's last two pages and March's three.
    assert_eq!(requests.len(), 5);
    assert_eq!(stored_ids(&*store).await, expected_ids(&records));
    assert_eq!((report.records, report.harvest.pages), (196, 9));
    assert_eq!(
        report.harvest.summary.inserted + stored.len() as u64,
        expected_ids(&records).len() as u64,
        "each record stored once"
    );
    let progress = windows.0.into_inner().unwrap();
    assert_eq!(progress[0].records, 66 + 25);
    assert_eq!(progress[0].planned, Some(196));
    // Started after the cursor: the schedule still fills the days from it.
    assert_eq!(report.harvest.newest, Some(day("2014-12-01")));
    let set = store.harvest_state("arxiv:cs").await.unwrap().unwrap();
    assert_eq!(set.cursor.as_deref(), Some("2014-12-01"));
}

/// Not a check but a measurement, quoted in docs/harvest.md: what a backfill costs here apart
/// from the network and the pause between requests (fetching from a local server, parsing,
/// storing), over 20,000 real records in pages of 1,000 (arXiv's page size) in two monthly
/// windows. `cargo test -p paperboy-harvest --test oai -- --ignored --nocapture measure`
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_the_backfill_throughput_without_the_pause() {
    let records: Vec<String> = common::oai::metadata_records(20_000)
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let month = 1 + index % 2;
            record.replace("<datestamp>2019-01-", &format!("<datestamp>2019-0{month}-"))
        })
        .collect();
    let bytes: usize = records.iter().map(String::len).sum();
    let list = Arc::new(Harvestable::dated(records, 1_000));
    let server = serve(&list).await;
    let (store, _dir) = fresh_store().await;
    let started = std::time::Instant::now();
    let report = backfill(
        &*store,
        &fetcher(),
        &request(&server),
        range("2019-01-01", "2019-02-28"),
        &Quiet,
    )
    .await
    .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.records, 20_000);
    println!(
        "{} records ({:.0} MB of XML) in {} pages and {} requests: {seconds:.1} s, \
         {:.0} records/s, {:.2} s a page of 1,000",
        report.records,
        bytes as f64 / 1e6,
        report.harvest.pages,
        server.requests().len(),
        report.records as f64 / seconds,
        seconds / report.harvest.pages as f64,
    );
}
