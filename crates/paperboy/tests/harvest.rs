//! `paperboy harvest` and the daily harvest of `paperboy serve`, end to end against a local
//! server that serves real arXiv metadata as a multi-page OAI-PMH list (the test harness's
//! fixture server, shared with the harvest crate's tests): a harvest is searchable without a
//! reindex, a harvest killed (`kill -9`) at random pages ends with exactly the records of an
//! uninterrupted one, and `serve` harvests on its schedule and answers from the new index.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// The harvest crate's fixtures; this file uses only part of them.
#[allow(dead_code)]
#[path = "../../paperboy-harvest/tests/common/oai.rs"]
mod oai;
#[allow(dead_code)]
#[path = "../../paperboy-harvest/tests/common/server.rs"]
mod server;

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Server, output, paperboy, shared, wait_for};
use oai::{Harvestable, id_of, metadata_records};
use server::{FixtureServer, Reply, Request};

/// Runs the fixture server on its own thread and runtime, for tests that run processes.
fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FixtureServer {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            sender.send(FixtureServer::start(handler).await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().unwrap()
}

fn harvest_command(data: &std::path::Path, url: &str) -> std::process::Command {
    let mut command = paperboy(data);
    // One window: the records are all of January 2019.
    command.args(["harvest", "arxiv", "--set", "cs", "--from", "2019-01-01"]);
    command.args(["--until", "2019-01-31"]);
    command.args(["--base-url", url, "--pause", "0"]);
    command
}

/// The title of a record, as written in its XML (escaped).
fn title_of(record: &str) -> String {
    let start = record.find("<title>").unwrap() + "<title>".len();
    let end = record.find("</title>").unwrap();
    record[start..end].to_owned()
}

/// Eight pages of real records (400: enough pages to cross every resumption token, few enough
/// that embedding them does not dominate the suite; the 46k import tests scale).
#[test]
fn a_multi_page_harvest_is_searchable_without_a_reindex() {
    let records = metadata_records(400);
    let list = Arc::new(Harvestable::new(records.clone(), 50));
    let answering = Arc::clone(&list);
    let server = serve(move |request| answering.answer(request));
    let data = tempfile::tempdir().unwrap();

    let (status, _, stderr) = output(&mut harvest_command(data.path(), &server.url));
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("arxiv:cs: 8 pages: 400 new"), "{stderr}");
    assert!(stderr.contains("next harvest from 2019-01-20"), "{stderr}");
    assert!(stderr.contains("Indexed 400 papers"), "{stderr}");
    assert_eq!(server.requests().len(), 8);

    // A paper from the last page (the one with the longest title) is found by its title, in
    // every mode.
    let wanted = records[350..]
        .iter()
        .max_by_key(|record| title_of(record).len())
        .unwrap();
    let title = title_of(wanted).replace("&amp;", "&");
    for mode in ["keyword", "semantic", "hybrid"] {
        let (status, stdout, stderr) = output(
            paperboy(data.path())
                .args(["search", &title, "--json", "--limit", "3", "--mode", mode]),
        );
        assert_eq!(status, 0, "{stderr}");
        let hits: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let found: Vec<&str> = hits
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|hit| hit["arxiv_id"].as_str())
            .collect();
        assert!(
            found.contains(&id_of(wanted).as_str()),
            "{mode}: {title}: {stdout}"
        );
    }
}

#[test]
fn a_harvest_killed_at_random_pages_ends_with_exactly_the_records_of_an_uninterrupted_one() {
    let records = metadata_records(600);
    let list = Arc::new(Harvestable::new(records, 50));
    let pages = list.pages();
    let answering = Arc::clone(&list);
    let server = serve(move |request| {
        // Slow enough that a kill lands mid-harvest.
        std::thread::sleep(Duration::from_millis(40));
        answering.answer(request)
    });

    let uninterrupted = tempfile::tempdir().unwrap();
    let mut run = harvest_command(uninterrupted.path(), &server.url);
    let (status, _, stderr) = output(run.arg("--no-index"));
    assert_eq!(status, 0, "{stderr}");
    let expected = export(uninterrupted.path());
    assert_eq!(expected.lines().count(), 600);

    let killed = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let mut random = |below: usize| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        seed / 65_536 % below
    };
    let start = server.requests().len();
    let mut kills = Vec::new();
    for run in 0..4 {
        // Killed once the run has asked for 1 or 2 pages (2 the first time, so that a page is
        // surely stored), at a random moment: waiting for the answer, storing it, or between.
        let after = if run == 0 { 2 } else { 1 + random(2) };
        let delay = Duration::from_millis(random(60) as u64);
        let before = server.requests().len();
        let mut child = harvest_command(killed.path(), &server.url)
            .arg("--no-index")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for(
            "the harvest to reach its page",
            Duration::from_secs(60),
            || server.requests().len() >= before + after || child.try_wait().unwrap().is_some(),
        );
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills.push((after, delay));
    }
    let (status, _, stderr) = output(harvest_command(killed.path(), &server.url).arg("--no-index"));
    assert_eq!(status, 0, "kills {kills:?}: {stderr}");
    assert!(stderr.contains("(resumed at"), "kills {kills:?}: {stderr}");
    assert_eq!(export(killed.path()), expected, "kills {kills:?}");
    // Each run continued where the last stopped: at most the page in flight was asked twice.
    let asked = server.requests().len() - start;
    assert!(
        asked <= pages + kills.len(),
        "{asked} requests, kills {kills:?}"
    );
}

/// 150 real records, 50 in each of January, February and March 2019, as a server that
/// answers each request with the records of its `from`..`until`, 25 a page.
fn three_months() -> Arc<Harvestable> {
    let records = metadata_records(150)
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let month = 1 + index % 3;
            record.replace("<datestamp>2019-01-", &format!("<datestamp>2019-0{month}-"))
        })
        .collect();
    Arc::new(Harvestable::dated(records, 25))
}

fn backfill_command(data: &std::path::Path, url: &str, range: &[&str]) -> std::process::Command {
    let mut command = paperboy(data);
    command
        .args(["harvest", "arxiv", "--set", "cs"])
        .args(range);
    command.args(["--base-url", url, "--pause", "0", "--no-index"]);
    command
}

#[test]
fn a_backfill_goes_month_by_month_with_progress_and_continues_where_it_stopped() {
    let list = three_months();
    // Request 0 counts the range, 1–2 are January, 3 February's first page: the server is
    // down from February's second page.
    list.go_down_at(4);
    let answering = Arc::clone(&list);
    let server = serve(move |request| answering.answer(request));
    let data = tempfile::tempdir().unwrap();
    let range = ["--from", "2019-01-01", "--until", "2019-03-31"];

    let (status, _, stderr) = output(&mut backfill_command(data.path(), &server.url, &range));
    assert_ne!(status, 0, "{stderr}");
    assert!(
        stderr.contains(
            "arxiv:cs: window 1 of 3 (2019-01-01 to 2019-01-31), page 1: 25 of about 150 records"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("window 2 of 3 (2019-02-01 to 2019-02-28), page 1: 75 of about 150"),
        "{stderr}"
    );
    assert!(stderr.contains("records/s"), "{stderr}");
    assert!(
        stderr.contains("running the same command again continues"),
        "{stderr}"
    );

    list.come_back();
    let (status, _, stderr) = output(&mut backfill_command(data.path(), &server.url, &range));
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("window 3 of 3 (2019-03-01 to 2019-03-31), page 2: 150 of about 150"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "arxiv:cs: 6 pages (resumed at window 2 of 3, 2019-02-01 to 2019-02-28, page 2): \
             75 new"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("backfilled 2019-01-01 to 2019-03-31 in 3 windows, 150 records"),
        "{stderr}"
    );
    assert_eq!(export(data.path()).lines().count(), 150);
}

#[test]
fn a_backfill_that_ends_before_it_starts_or_starts_tomorrow_is_refused_before_any_request() {
    let server = serve(|_| Reply::status(500, "not to be asked"));
    let data = tempfile::tempdir().unwrap();
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
    for (range, message) in [
        (
            ["--from", "2020-01-01", "--until", "2019-01-01"],
            "the backfill would start on 2020-01-01, after it ends on 2019-01-01".to_owned(),
        ),
        (
            ["--from", tomorrow.as_str(), "--until", "2099-01-01"],
            format!("the backfill would start on {tomorrow}, after today"),
        ),
    ] {
        let (status, _, stderr) = output(&mut backfill_command(data.path(), &server.url, &range));
        assert_ne!(status, 0, "{stderr}");
        assert!(stderr.contains(&message), "{stderr}");
    }
    assert!(server.requests().is_empty());
}

fn export(data: &std::path::Path) -> String {
    let (status, stdout, stderr) = output(paperboy(data).arg("export"));
    assert_eq!(status, 0, "{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_harvests_on_its_schedule_and_answers_from_the_new_index() {
    let records = oai::real_records()[..40].to_vec();
    let wanted = records[7].clone();
    let list = Arc::new(Harvestable::new(records, 15));
    let mut hf_list = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(shared("hf-daily-papers/raw/2024-05-28.json.gz")).unwrap(),
    )
    .read_to_string(&mut hf_list)
    .unwrap();
    let answering = Arc::clone(&list);
    let server = serve(move |request| {
        if request.path == "/hf" {
            Reply::ok(hf_list.clone())
        } else {
            answering.answer(request)
        }
    });
    let hf_url = server.url.replace("/oai", "/hf");
    // Three days of papers, indexed: the server starts without building an index first.
    let data = common::data_folder();
    // A harvest time already past today: the server harvests as it starts.
    let site = Server::start_with(
        data.path(),
        "smtp://127.0.0.1:9",
        &[
            "--harvest-time",
            "00:00",
            "--harvest-sets",
            "cs",
            "--oai-url",
            &server.url,
            "--hf-url",
            &hf_url,
        ],
    );
    let client = reqwest::Client::new();
    let title = title_of(&wanted);
    let search = format!(
        "{}/api/papers/search?q={}",
        site.base,
        title.replace(' ', "+")
    );
    let started = std::time::Instant::now();
    loop {
        let found = match client.get(&search).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if found.contains(&id_of(&wanted)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the harvested paper never became searchable: {found}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let metrics = client
        .get(format!("{}/metrics", site.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("paperboy_harvest_runs_total{source=\"arxiv:cs\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paperboy_harvest_failing{source=\"hf\"} 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paperboy_harvest_runs_total{source=\"hf\"} 1\n"),
        "three days are one run: {metrics}"
    );
    // Three days of the list were asked for: today and the two before.
    let asked: Vec<String> = server
        .requests()
        .iter()
        .filter(|request| request.path == "/hf")
        .filter_map(|request| request.param("date").map(str::to_owned))
        .collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
}
