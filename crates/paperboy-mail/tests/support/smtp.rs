//! A real SMTP server for tests: aiosmtpd from PyPI, installed into the target folder on first
//! use and started per test by `smtp_server.py` (see there for the addresses that provoke each
//! kind of failure). Shared by the mail crate's tests and the binary's end-to-end tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The server's script, run with `python3 -c`.
const SERVER: &str = include_str!("smtp_server.py");

/// aiosmtpd and its dependencies, pinned.
const PACKAGES: [&str; 3] = ["aiosmtpd==1.4.6", "atpublic==9.0.0", "attrs==26.1.0"];

/// aiosmtpd and its dependencies under the target folder, installed once by pip.
fn aiosmtpd() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aiosmtpd-1.4.6");
        if !target.join("aiosmtpd").is_dir() {
            let partial = target.with_extension("partial");
            let _ = std::fs::remove_dir_all(&partial);
            let status = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--no-deps", "--target"])
                .arg(&partial)
                .args(PACKAGES)
                .env("PIP_ROOT_USER_ACTION", "ignore")
                .status()
                .expect("python3 runs (the tests need Python 3 with pip)");
            assert!(status.success(), "pip could not install {PACKAGES:?}");
            std::fs::rename(&partial, &target).expect("the installed packages move into place");
        }
        target
    })
}

/// A running SMTP server and the folder it writes what it accepts to; stopped when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    received: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(None)
    }

    /// A server on `port` (a free one when `None`), writing into a fresh folder.
    pub fn start_on(port: Option<u16>) -> SmtpServer {
        SmtpServer::launch(port, std::time::Duration::ZERO)
    }

    /// A slow server: each recipient is answered after `delay` (before the message is sent, so
    /// a client killed meanwhile leaves nothing accepted), for tests that stop a client
    /// mid-run.
    pub fn start_slow(delay: std::time::Duration) -> SmtpServer {
        SmtpServer::launch(None, delay)
    }

    fn launch(port: Option<u16>, delay: std::time::Duration) -> SmtpServer {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port()
        });
        let received = tempfile::tempdir().expect("a temporary folder");
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SERVER)
            .arg(port.to_string())
            .arg(received.path())
            .arg(format!("{:.3}", delay.as_secs_f64()))
            .env("PYTHONPATH", aiosmtpd())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP server starts");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server reports");
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        SmtpServer {
            child,
            port,
            received,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The folder the server writes `<n>.json` and `<n>.eml` into, numbered in arrival order
    /// (the `.json` is written first), for tests that read new messages as they come.
    pub fn folder(&self) -> &Path {
        self.received.path()
    }

    /// The messages received so far, in arrival order, as a mail client reads them: `headers`
    /// (an object), `types` (each part's MIME type), `text`, `html` and `recipients`.
    pub fn parsed(&self) -> Vec<serde_json::Value> {
        self.files("json")
            .into_iter()
            .map(|text| serde_json::from_str(&text).expect("the server writes JSON"))
            .collect()
    }

    /// How many messages were received so far.
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.received.path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_name().to_string_lossy().ends_with(".eml"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The messages received so far, in arrival order, as received.
    pub fn messages(&self) -> Vec<String> {
        self.files("eml")
    }

    fn files(&self, extension: &str) -> Vec<String> {
        let mut files: Vec<(u64, String)> = std::fs::read_dir(self.received.path())
            .expect("the folder exists")
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let number = name.strip_suffix(&format!(".{extension}"))?.parse().ok()?;
                Some((number, std::fs::read_to_string(entry.path()).ok()?))
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, text)| text).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
