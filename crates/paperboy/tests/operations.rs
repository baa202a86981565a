//! Keeping a data folder safe, end to end with the binary: `paperboy backup` while `serve`
//! takes writes, `restore` into an empty folder (and what it refuses), the checkpoint on a
//! clean SIGTERM, the copy taken before a schema upgrade, `paperboy check`, and the read-only
//! commands on a folder another user owns.
//!
//! One day of Hugging Face papers (15) is imported and indexed once; each test works on a copy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../paperboy-web/tests/common/html.rs"]
mod html;
#[path = "../../paperboy-mail/tests/support/smtp.rs"]
mod smtp;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{
    Server, digest_run, free_port, header, link_after, output, paperboy, shared, wait_for,
};
use paperboy_store::SCHEMA_VERSION;
use paperboy_store::sqlite_ops::table_counts_in_file;
use paperboy_store::{SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::Value;
use smtp::SmtpServer;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// The day imported, and the digest's date.
const DAY: &str = "2026-08-20";
const DATABASE: &str = "paperboy.sqlite3";

/// The indexed data folder every test copies.
fn base_folder() -> &'static Path {
    static BASE: OnceLock<tempfile::TempDir> = OnceLock::new();
    BASE.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        let (status, _, stderr) = output(
            paperboy(data.path())
                .arg("import")
                .arg(shared(&format!("hf-daily-papers/raw/{DAY}.json.gz"))),
        );
        assert_eq!(status, 0, "{stderr}");
        data
    })
    .path()
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the indexed data folder.
fn indexed_folder() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    copy_folder(base_folder(), data.path());
    data
}

/// Runs a query on a database file without changing it.
async fn strings(database: &Path, sql: &'static str) -> Vec<String> {
    let options = SqliteConnectOptions::new()
        .filename(database)
        .read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

async fn execute(database: &Path, sql: &'static str) {
    let options = SqliteConnectOptions::new()
        .filename(database)
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn counts(database: &Path) -> BTreeMap<String, u64> {
    table_counts_in_file(database)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Signs `email` in through the mailed link; returns the session cookie.
async fn sign_in(
    client: &reqwest::Client,
    server: &Server,
    smtp: &SmtpServer,
    email: &str,
) -> String {
    let before = smtp.count();
    let response = client
        .post(format!("{}/signin", server.base))
        .form(&[("email", email), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    wait_for("the sign-in mail", Duration::from_secs(20), || {
        smtp.count() > before
    });
    let mail = smtp.parsed().pop().unwrap();
    let link = link_after(
        mail["text"].as_str().unwrap(),
        &format!("{}/signin/", server.base),
    )
    .to_owned();
    let response = client.post(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Subscribes `email` and confirms through the mailed link.
async fn subscribe_confirmed(
    client: &reqwest::Client,
    server: &Server,
    smtp: &SmtpServer,
    email: &str,
) {
    let before = smtp.count();
    let answer = client
        .post(format!("{}/api/subscriptions", server.base))
        .json(&serde_json::json!({"email": email, "topics": ["video generation"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    wait_for("the confirmation mail", Duration::from_secs(20), || {
        smtp.count() > before
    });
    let mail = smtp.parsed().pop().unwrap();
    let link = link_after(
        mail["text"].as_str().unwrap(),
        &format!("{}/subscriptions/confirm/", server.base),
    )
    .to_owned();
    let confirmed = client
        .post(&link)
        .header("origin", &server.base)
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
}

/// The arXiv ids of the folder's papers.
fn paper_keys(data: &Path) -> Vec<String> {
    let (status, stdout, stderr) =
        output(paperboy(data).args(["papers", "list", "--json", "--limit", "100"]));
    assert_eq!(status, 0, "{stderr}");
    let papers: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    papers
        .iter()
        .filter_map(|paper| paper["arxiv_id"].as_str().map(str::to_owned))
        .collect()
}

#[derive(Default)]
struct Acknowledged {
    /// Papers voted for and saved: the first pass over the papers only.
    votes: AtomicU64,
    saves: AtomicU64,
    subscriptions: Mutex<Vec<String>>,
    /// Every acknowledged write, the passes after the first included.
    writes: AtomicU64,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_a_write_load_restores_every_row_and_old_links_keep_working() {
    let data = indexed_folder();
    let keys = paper_keys(data.path());
    let smtp = SmtpServer::start();
    let server = Server::start(data.path(), &smtp.url());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Before the backup: a reader signed in, and a subscriber mailed a digest with its
    // manage link (signed with the store's key).
    let cookie = sign_in(&client, &server, &smtp, "ada@example.org").await;
    subscribe_confirmed(&client, &server, &smtp, "bob@example.org").await;
    let (status, stdout, stderr) = output(&mut digest_run(data.path(), &smtp.url(), DAY));
    assert_eq!(status, 0, "{stdout}{stderr}");
    let digest = smtp
        .parsed()
        .into_iter()
        .find(|mail| mail["headers"]["List-Unsubscribe"].is_string())
        .expect("a digest with a manage link");
    let manage = header(&digest, "List-Unsubscribe")
        .trim_matches(['<', '>'])
        .to_owned();
    let page = client
        .get(format!("{}/", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form_token = html::input_value(&page, "form_token");

    // The load: votes, saves and subscriptions, acknowledged ones counted.
    let acknowledged = Arc::new(Acknowledged::default());
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        // Its own client, whose idle connections are dropped well before the server's 20 s
        // header timeout closes them: a POST sent on a connection the server is closing at
        // that moment fails without a response, and is not retried.
        let load_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let (client, base, acknowledged, stop) = (
            load_client,
            server.base.clone(),
            Arc::clone(&acknowledged),
            Arc::clone(&stop),
        );
        let (cookie, keys) = (cookie.clone(), keys.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                // Round the papers again and again, so that writes go on however long the
                // backup takes (subscriptions alone soon meet their rate limit).
                if let Some(key) = keys.get(n % keys.len().max(1)) {
                    let first_pass = n < keys.len();
                    for (action, counter) in [
                        ("upvote", &acknowledged.votes),
                        ("save", &acknowledged.saves),
                    ] {
                        let response = client
                            .post(format!("{base}/papers/{key}/{action}"))
                            .header("cookie", &cookie)
                            .form(&[("form_token", form_token.as_str()), ("value", "true")])
                            .send()
                            .await
                            .unwrap();
                        if response.status() == StatusCode::SEE_OTHER {
                            acknowledged.writes.fetch_add(1, Ordering::SeqCst);
                            if first_pass {
                                counter.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                }
                let email = format!("reader{n}@example.org");
                let answer = client
                    .post(format!("{base}/api/subscriptions"))
                    .json(&serde_json::json!({"email": email, "topics": ["robots"]}))
                    .send()
                    .await
                    .unwrap();
                if answer.status() == 202 {
                    acknowledged.subscriptions.lock().unwrap().push(email);
                }
                n += 1;
            }
        })
    };
    wait_for("some writes", Duration::from_secs(30), || {
        acknowledged.votes.load(Ordering::SeqCst) >= 3
    });

    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("paperboy-backup.sqlite3");
    let votes_before = acknowledged.votes.load(Ordering::SeqCst);
    let writes_before = acknowledged.writes.load(Ordering::SeqCst);
    let saves_before = acknowledged.saves.load(Ordering::SeqCst);
    let subscribed_before = acknowledged.subscriptions.lock().unwrap().clone();
    let (status, _, stderr) = output(paperboy(data.path()).arg("backup").arg(&backup));
    assert_eq!(status, 0, "{stderr}");
    // Writes go on during and after the backup (however slow the machine is today).
    wait_for("writes after the backup", Duration::from_secs(30), || {
        acknowledged.writes.load(Ordering::SeqCst) > writes_before
            || acknowledged.subscriptions.lock().unwrap().len() > subscribed_before.len()
    });
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert_eq!(mode(&backup), 0o600);
    assert!(
        std::fs::read_dir(backups.path()).unwrap().count() == 1,
        "no temporary file is left"
    );

    // What the backup holds: everything acknowledged before it started.
    let backed_up = counts(&backup).await;
    assert!(backed_up["votes"] >= votes_before, "{backed_up:?}");
    assert!(backed_up["saved_papers"] >= saves_before, "{backed_up:?}");
    assert_eq!(backed_up["papers"], keys.len() as u64);
    assert_eq!(backed_up["embeddings"], keys.len() as u64);
    assert_eq!(backed_up["sentence_embeddings"], keys.len() as u64);
    assert!(
        strings(&backup, "SELECT name FROM settings")
            .await
            .contains(&"manage-link-key".to_owned()),
        "the link-signing key"
    );
    assert!(backed_up["users"] >= 1 && backed_up["sessions"] >= 1);
    assert!(backed_up["outbox"] >= 3, "{backed_up:?}");
    let live = data.path().join(DATABASE);
    let live_subscribers: HashSet<String> = strings(&live, "SELECT email FROM subscribers")
        .await
        .into_iter()
        .collect();
    let backed_up_subscribers: HashSet<String> = strings(&backup, "SELECT email FROM subscribers")
        .await
        .into_iter()
        .collect();
    assert!(backed_up_subscribers.contains("bob@example.org"));
    for email in subscribed_before
        .iter()
        .filter(|email| live_subscribers.contains(*email))
    {
        assert!(
            backed_up_subscribers.contains(email),
            "{email} was stored before the backup began"
        );
    }
    drop(server);

    // Restored into an empty folder (a model cache may be there already): every table equal.
    let restored = tempfile::tempdir().unwrap();
    std::fs::create_dir(restored.path().join("models")).unwrap();
    let (status, stdout, stderr) = output(paperboy(restored.path()).arg("restore").arg(&backup));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Restored"), "{stdout}");
    let database = restored.path().join(DATABASE);
    assert_eq!(mode(&database), 0o600);
    assert_eq!(counts(&database).await, backed_up);

    // A server on the restored folder builds its index from the stored embeddings; the
    // manage link mailed before the backup and the reader's session still work.
    let server = Server::start(restored.path(), &smtp.url());
    let manage = manage.replace("http://papers.example.org", &server.base);
    let page = client.get(&manage).send().await.unwrap();
    assert_eq!(page.status(), 200, "{manage}");
    assert!(page.text().await.unwrap().contains("video generation"));
    let me = client
        .get(format!("{}/me", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    drop(server);
    let (status, stdout, stderr) =
        output(paperboy(restored.path()).args(["check", "--sample", "2"]));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("No problems found"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_a_folder_with_data_a_file_that_is_not_a_paperboy_database_and_a_live_one()
{
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let store = SqliteStore::open(&source.join(DATABASE)).await.unwrap();
    store.close().await;
    let backup = scratch.path().join("backup.sqlite3");
    let (status, _, stderr) = output(paperboy(&source).arg("backup").arg(&backup));
    assert_eq!(status, 0, "{stderr}");
    // A backup never overwrites a file.
    let (status, _, stderr) = output(paperboy(&source).arg("backup").arg(&backup));
    assert_eq!(status, 2);
    assert!(stderr.contains("already exists"), "{stderr}");

    // A folder with data in it.
    let busy = scratch.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("paperboy.toml"), "").unwrap();
    let (status, _, stderr) = output(paperboy(&busy).arg("restore").arg(&backup));
    assert_eq!(status, 2);
    assert!(
        stderr.contains("is not empty") && stderr.contains("paperboy.toml"),
        "{stderr}"
    );
    assert!(!busy.join(DATABASE).exists());

    // Files that are not Paperboy databases.
    let text = scratch.path().join("notes.txt");
    std::fs::write(&text, "SQLite? no.\n").unwrap();
    let other = scratch.path().join("other.sqlite3");
    execute(&other, "CREATE TABLE things (id INTEGER PRIMARY KEY)").await;
    for (file, why) in [
        (&text, "not an SQLite database"),
        (&other, "no Paperboy schema"),
        (&scratch.path().join("missing.sqlite3"), "cannot read"),
    ] {
        let empty = tempfile::tempdir().unwrap();
        let (status, _, stderr) = output(paperboy(empty.path()).arg("restore").arg(file));
        assert_eq!(status, 2, "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert!(!empty.path().join(DATABASE).exists());
    }

    // A database in use, its write-ahead log holding what the file lacks.
    let live = SqliteStore::open(&source.join(DATABASE)).await.unwrap();
    paperboy_store::AccountStore::add_user(
        &live,
        &"eve@example.org".parse().unwrap(),
        false,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (status, _, stderr) = output(
        paperboy(empty.path())
            .arg("restore")
            .arg(source.join(DATABASE)),
    );
    assert_eq!(status, 2);
    assert!(stderr.contains("write-ahead log"), "{stderr}");
    live.close().await;

    // The backup itself restores.
    let empty = tempfile::tempdir().unwrap();
    let (status, _, stderr) = output(paperboy(empty.path()).arg("restore").arg(&backup));
    assert_eq!(status, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_sigterm_the_database_file_alone_holds_the_latest_write() {
    let data = indexed_folder();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = paperboy(data.path())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-harvest",
        ])
        .args(["--public-url", &base])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the server to listen", Duration::from_secs(120), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    {
        let client = reqwest::Client::new();
        let answer = client
            .post(format!("{base}/api/subscriptions"))
            .json(&serde_json::json!({"email": "carol@example.org"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
    }
    let database = data.path().join(DATABASE);
    let wal = data.path().join(format!("{DATABASE}-wal"));
    assert!(
        std::fs::metadata(&wal).is_ok_and(|wal| wal.len() > 0),
        "the write is in the log while serving"
    );
    let status = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("serve to stop", Duration::from_secs(30), || {
        serve.try_wait().unwrap().is_some()
    });
    assert!(serve.wait().unwrap().success());
    assert!(
        std::fs::metadata(&wal).map_or(true, |wal| wal.len() == 0),
        "the log is folded into the database file"
    );
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&database, alone.path().join(DATABASE)).unwrap();
    let emails = strings(
        &alone.path().join(DATABASE),
        "SELECT email FROM subscribers",
    )
    .await;
    assert_eq!(emails, ["carol@example.org"]);

    // Any other command too, even one that fails.
    let (status, _, stderr) =
        output(paperboy(data.path()).args(["users", "add", "dan@example.org"]));
    assert_eq!(status, 0, "{stderr}");
    assert!(std::fs::metadata(&wal).map_or(true, |wal| wal.len() == 0));
    let (status, _, _) =
        output(paperboy(data.path()).args(["users", "hide", "nobody@example.org"]));
    assert_ne!(status, 0);
    assert!(std::fs::metadata(&wal).map_or(true, |wal| wal.len() == 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_is_copied_before_migrations_change_its_schema_and_a_newer_one_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join(DATABASE);
    let older = SCHEMA_VERSION - 1;
    SqliteStore::create_at_schema(&database, older)
        .await
        .unwrap();
    execute(
        &database,
        "INSERT INTO settings (name, value) VALUES ('kept', x'01')",
    )
    .await;

    let (status, _, stderr) = output(paperboy(data.path()).args(["papers", "list"]));
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("before upgrading its schema"), "{stderr}");
    let copies: Vec<PathBuf> = std::fs::read_dir(data.path().join("backups"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = &copies[0];
    let name = copy.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("paperboy-") && name.ends_with(&format!("-schema-{older}.sqlite3")),
        "{name}"
    );
    assert!(stderr.contains(&name), "the path is logged: {stderr}");
    assert_eq!(mode(copy), 0o600);
    let version = |path: PathBuf| async move {
        strings(
            &path,
            "SELECT CAST(MAX(version) AS TEXT) FROM _sqlx_migrations",
        )
        .await
    };
    assert_eq!(version(copy.clone()).await, [older.to_string()]);
    assert_eq!(
        strings(copy, "SELECT name FROM settings").await,
        ["kept"],
        "the copy holds the data"
    );
    assert_eq!(
        version(database.clone()).await,
        [SCHEMA_VERSION.to_string()]
    );

    // Up to date: no copy.
    let (status, _, stderr) = output(paperboy(data.path()).args(["users", "list"]));
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        std::fs::read_dir(data.path().join("backups"))
            .unwrap()
            .count(),
        1
    );

    // From a newer Paperboy: a clear refusal naming both versions, and nothing changed.
    let newer = SCHEMA_VERSION + 1;
    execute(
        &database,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         SELECT MAX(version) + 1, 'from the future', 1, x'00', 0 FROM _sqlx_migrations",
    )
    .await;
    for command in [
        &["papers", "list"][..],
        &["users", "add", "x@example.org"][..],
    ] {
        let (status, _, stderr) = output(paperboy(data.path()).args(command));
        assert_eq!(status, 2);
        assert!(
            stderr.contains(&format!("schema version {newer}"))
                && stderr.contains(&format!("up to {SCHEMA_VERSION}"))
                && stderr.contains("newer version of Paperboy")
                && !stderr.contains("migrat"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_on_a_clean_folder_and_names_damaged_embeddings_and_a_missing_index() {
    let data = indexed_folder();
    let (status, stdout, stderr) = output(paperboy(data.path()).arg("check"));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("integrity and foreign keys ok"), "{stdout}");
    assert!(
        stdout.contains("15 papers, the same as the store"),
        "{stdout}"
    );
    assert!(stdout.contains("spot check: 8 papers"), "{stdout}");
    assert!(stdout.contains("No problems found"), "{stdout}");

    let database = data.path().join(DATABASE);
    execute(
        &database,
        "UPDATE embeddings SET vector = zeroblob(12) \
         WHERE content_hash = (SELECT MIN(content_hash) FROM embeddings)",
    )
    .await;
    execute(
        &database,
        "UPDATE embeddings SET vector = x'0000' \
         WHERE content_hash = (SELECT MAX(content_hash) FROM embeddings)",
    )
    .await;
    let (status, stdout, stderr) = output(paperboy(data.path()).args(["check", "--sample", "0"]));
    assert_eq!(status, 1, "{stdout}{stderr}");
    assert!(stdout.contains("2 problems found"), "{stdout}");
    assert!(stdout.contains("has 3 values instead of 384"), "{stdout}");
    assert!(
        stdout.contains("cannot be read") && stdout.contains("table embeddings, row"),
        "{stdout}"
    );
    assert!(!stdout.contains("newer version"), "{stdout}");

    // The damaged row, met by another command: named, with what to do.
    let (status, _, stderr) = output(paperboy(data.path()).arg("reindex"));
    assert_eq!(status, 2);
    assert!(
        stderr.contains("table embeddings, row")
            && stderr.contains("paperboy check")
            && !stderr.contains("newer version"),
        "{stderr}"
    );

    let data = indexed_folder();
    std::fs::remove_dir_all(data.path().join("index")).unwrap();
    let (status, stdout, stderr) = output(paperboy(data.path()).args(["check", "--sample", "0"]));
    assert_eq!(status, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("1 problem found") && stdout.contains("search index: there is none"),
        "{stdout}"
    );
}

/// Whether the tests run as root (then they can run the binary as `nobody`).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn make_read_only(path: &Path) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            make_read_only(&entry.unwrap().path());
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555)).unwrap();
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
}

#[test]
fn commands_that_only_read_work_on_a_folder_another_user_owns() {
    if !running_as_root() {
        eprintln!("skipped: running the binary as another user needs root");
        return;
    }
    let data = indexed_folder();
    make_read_only(data.path());
    let database = data.path().join(DATABASE);
    let before = std::fs::read(&database).unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_paperboy"))
            .arg("--data-dir")
            .arg(data.path())
            .arg("--model-dir")
            .arg(common::model_dir())
            .args(args)
            .env_remove("PAPERBOY_DATA_DIR")
            .env_remove("PAPERBOY_DATABASE_URL");
        output(&mut command)
    };

    let (status, stdout, stderr) = as_nobody(&["papers", "list", "--json"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&stdout).unwrap().len(),
        15
    );
    let (status, stdout, stderr) = as_nobody(&["export"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 15);
    for mode in ["keyword", "hybrid"] {
        let (status, stdout, stderr) = as_nobody(&["search", "robot", "--mode", mode]);
        assert_eq!(status, 0, "{mode}: {stderr}");
        assert!(stdout.contains("Papers for"), "{stdout}");
    }
    let (status, stdout, stderr) = as_nobody(&["check", "--sample", "1"]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    let backup = out.path().join("backup.sqlite3");
    let (status, _, stderr) = as_nobody(&["backup", backup.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}");
    assert!(backup.exists());
    let (status, _, stderr) = as_nobody(&["subscribers", "list"]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(std::fs::read(&database).unwrap(), before);

    // A command that writes says why it cannot.
    let (status, _, stderr) = as_nobody(&["users", "add", "x@example.org"]);
    assert_eq!(status, 2, "{stderr}");
}
