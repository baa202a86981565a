//! The soak (issue 18, item 7): `paperboy serve` under a mixed load (page views, searches, the
//! API, signed-in readers upvoting and saving, sign-ins and subscriptions confirmed through the
//! mailed links) with `paperboy import` and `paperboy digest run` running beside it, all on one
//! data folder. `serve` is killed at random moments, with SIGKILL or now and then SIGTERM, and
//! started again on the same folder and port; `digest run` and the imports are killed at
//! random moments too. Then, with everything stopped and the outbox drained by one last
//! `digest run`:
//!
//! - the database passes `PRAGMA integrity_check` and `foreign_key_check` (and
//!   `paperboy check`, where the binary has it);
//! - every vote, save, subscription request, confirmation and sign-in that the server
//!   acknowledged (a 2xx or 3xx answer reached the client) is in the store, and every
//!   acknowledged subscription or sign-in request got its mail;
//! - every mail the SMTP servers received is in the outbox under its Message-ID, recorded as
//!   sent; nothing is left queued, and every message recorded as sent arrived;
//! - no mail went out twice under two Message-IDs (the same recipient, kind and key: a digest's
//!   day, a link's token); the same message twice (the same Message-ID) only where the process
//!   that sent the first copy was killed with SIGKILL before it could record the delivery: the
//!   at-least-once window of SMTP, counted and reported, and never after a clean SIGTERM.
//!
//! Two SMTP servers (aiosmtpd) take the mail, one for `serve` and one for `digest run`, so that
//! each copy's sender is known. Its length is `PAPERBOY_SOAK_SECONDS` (45 by default, for CI);
//! `scripts/soak MINUTES` runs it longer, in release mode. `PAPERBOY_SOAK_SEED` repeats a run's
//! random choices (not its timing, on a shared machine).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../paperboy-mail/tests/support/smtp.rs"]
mod smtp;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{NaiveDate, Utc};
use common::{data_folder, free_port, link_after, output, paperboy, shared};
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_store::MailStore;
use paperboy_store::{SqliteStore, Store};
use reqwest::StatusCode;
use serde_json::Value;
use smtp::SmtpServer;

/// The load's length when `PAPERBOY_SOAK_SECONDS` is not set.
const DEFAULT_SECONDS: u64 = 45;
/// Subscribers confirmed before the load starts, so that every digest run has mail to send.
const SUBSCRIBERS: usize = 60;
/// Readers signed in before the load starts, who then vote and save throughout.
const READERS: usize = 4;
/// Tasks that view pages and search.
const BROWSERS: usize = 3;
/// Tasks that subscribe new addresses.
const SUBSCRIBING: usize = 2;
/// How long `serve` may take to answer /healthz after a start (a slow shared machine, and a
/// start that has to rebuild a missing index).
const READY_WITHIN: Duration = Duration::from_secs(180);
/// How long `serve` may take to stop after SIGTERM before it is killed.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(30);
/// A mail sent while a process was being killed waits out its lease (60 s) before it goes
/// again: how long a client waits for a mailed link.
const MAIL_WITHIN: Duration = Duration::from_secs(90);

const TOPICS: [&str; 4] = [
    "coding agents for software engineering",
    "video generation",
    "reinforcement learning for reasoning",
    "multimodal models",
];
const TERMS: [&str; 8] = [
    "attention",
    "video+generation",
    "coding+agents",
    "diffusion",
    "reinforcement+learning",
    "graph",
    "reasoning+benchmark",
    "speech",
];
/// Hugging Face days the imports running beside `serve` read in turn: new papers (embedded and
/// indexed) the first time, the same papers again after.
const IMPORTED_DAYS: [&str; 5] = [
    "2026-08-17",
    "2026-08-18",
    "2026-08-14",
    "2026-08-13",
    "2026-08-12",
];

#[test]
fn serve_killed_at_random_under_load_loses_nothing_and_sends_nothing_twice() {
    let seconds: u64 = std::env::var("PAPERBOY_SOAK_SECONDS")
        .ok()
        .map(|text| text.parse().expect("PAPERBOY_SOAK_SECONDS is a number"))
        .unwrap_or(DEFAULT_SECONDS);
    let seed: u64 = std::env::var("PAPERBOY_SOAK_SEED")
        .ok()
        .map(|text| text.parse().expect("PAPERBOY_SOAK_SEED is a number"))
        .unwrap_or_else(|| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap();
            now.as_secs() ^ u64::from(now.subsec_nanos())
        });
    eprintln!("soak: {seconds} s of load, seed {seed} (PAPERBOY_SOAK_SEED={seed} repeats it)");
    let mut rng = Rng(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // A small data folder, indexed once: three days of papers.
    let setup = Instant::now();
    let data = data_folder();
    runtime.block_on(confirmed_subscribers(data.path()));
    // Four SMTP servers: odd and even starts of `serve` and runs of `digest run` each send to
    // their own, so that a message's sender is known even where the server writes it down a
    // moment after the sender died and the next one started.
    let sinks: Vec<(Sink, SmtpServer)> = [Program::Serve, Program::Digest]
        .into_iter()
        .flat_map(|program| [0, 1].map(|parity| (Sink { program, parity }, SmtpServer::start())))
        .collect();
    let url = |program: Program, parity: usize| {
        sinks
            .iter()
            .find(|(sink, _)| *sink == Sink { program, parity })
            .map(|(_, server)| server.url())
            .unwrap()
    };
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (_, serve_help, _) = output(paperboy(data.path()).args(["serve", "--help"]));
    let (_, help, _) = output(paperboy(data.path()).arg("--help"));
    // Clients are told apart by X-Forwarded-For (the per-client limits on mail would stop the
    // load otherwise); once `serve` trusts it only from proxies it is told of, it is told.
    let serve_extra: Vec<String> = if serve_help.contains("--trusted-proxies") {
        vec!["--trusted-proxies".into(), "127.0.0.1/32".into()]
    } else {
        Vec::new()
    };
    let has_check = help
        .lines()
        .any(|line| line.trim_start().starts_with("check "));
    let soak = Arc::new(Soak {
        data: data.path().to_path_buf(),
        logs: logs.path().to_path_buf(),
        port,
        base: base.clone(),
        serve_smtp: [url(Program::Serve, 0), url(Program::Serve, 1)],
        digest_smtp: [url(Program::Digest, 0), url(Program::Digest, 1)],
        serve_extra,
        deadline: Mutex::new(None),
        lives: Mutex::new(Vec::new()),
        readiness: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        halted: AtomicBool::new(false),
    });
    let mailbox = Arc::new(Mutex::new(Mailbox::new(
        &sinks
            .iter()
            .map(|(sink, server)| (*sink, server.folder()))
            .collect::<Vec<_>>(),
    )));

    let first = soak.start_serve(1).expect("the first start of serve");
    let clients = Arc::new(Clients {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        base,
        soak: Arc::clone(&soak),
        mailbox: Arc::clone(&mailbox),
        stats: Mutex::new(BTreeMap::new()),
        samples: Mutex::new(BTreeMap::new()),
        acks: Mutex::new(Acks::default()),
        keys: Mutex::new(Vec::new()),
    });
    // Readers sign in through the mail before the load starts (the load signs in others).
    let readers: Vec<Reader> = runtime.block_on(async {
        let keys = clients.paper_keys().await;
        assert!(keys.len() >= 10, "papers to vote on: {keys:?}");
        *clients.keys.lock().unwrap() = keys;
        let mut readers = Vec::new();
        for number in 0..READERS {
            let email = format!("reader{number}@soak.example");
            let reader = clients
                .sign_in(&email, &mut rng.fork())
                .await
                .unwrap_or_else(|| panic!("{email} signs in before the load"));
            readers.push(reader);
        }
        readers
    });
    let setup = setup.elapsed();

    // The load, and the kills.
    let start = Instant::now();
    *soak.deadline.lock().unwrap() = Some(start + Duration::from_secs(seconds));
    let first_date = Utc::now().date_naive().succ_opt().unwrap();
    let serving = {
        let soak = Arc::clone(&soak);
        let mut rng = rng.fork();
        std::thread::spawn(move || soak.keep_serving(first, &mut rng))
    };
    let digests = {
        let soak = Arc::clone(&soak);
        let mut rng = rng.fork();
        std::thread::spawn(move || soak.run_digests(first_date, &mut rng))
    };
    let imports = {
        let soak = Arc::clone(&soak);
        let mut rng = rng.fork();
        std::thread::spawn(move || soak.run_imports(&mut rng))
    };
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..BROWSERS {
            tasks.push(tokio::spawn(Arc::clone(&clients).browse(rng.fork())));
        }
        for reader in readers {
            tasks.push(tokio::spawn(
                Arc::clone(&clients).vote_and_save(reader, rng.fork()),
            ));
        }
        for number in 0..SUBSCRIBING {
            tasks.push(tokio::spawn(
                Arc::clone(&clients).subscribe(number, rng.fork()),
            ));
        }
        tasks.push(tokio::spawn(Arc::clone(&clients).newcomers(rng.fork())));
        for task in tasks {
            task.await.unwrap();
        }
    });
    let last = serving.join().unwrap();
    let (last_date, last_run) = digests.join().unwrap();
    imports.join().unwrap();
    // The last server stops cleanly.
    if let Some((number, started, mut child)) = last {
        let end = terminate(&mut child);
        soak.record(Program::Serve, number, started, end);
    }
    let loaded = start.elapsed();

    // Whatever is still queued (or claimed by a process that was killed: its lease runs out
    // first) goes out now.
    let drain = Instant::now();
    let started = SystemTime::now();
    let mut run = soak.digest_command(last_run + 1, last_date);
    let (status, stdout, stderr) = output(&mut run);
    soak.record(
        Program::Digest,
        last_run + 1,
        started,
        End::Exited(Some(status)),
    );
    assert_eq!(status, 0, "the last digest run:\n{stdout}{stderr}");
    let drain = drain.elapsed();
    // The imports once more, left to finish, as after an import that was killed.
    let mut import = paperboy(data.path());
    import.arg("import");
    for day in IMPORTED_DAYS {
        import.arg(shared(&format!("hf-daily-papers/raw/{day}.json.gz")));
    }
    let (status, _, stderr) = output(&mut import);
    assert_eq!(status, 0, "the imports run again: {stderr}");

    let report = soak.check(&clients, has_check);
    let timing = format!(
        "setup {:.0} s, load {:.0} s, final delivery {:.0} s",
        setup.as_secs_f64(),
        loaded.as_secs_f64(),
        drain.as_secs_f64()
    );
    eprintln!("\n{}\n{timing}\n", report.text);
    let failures = soak.failures.lock().unwrap();
    assert!(
        failures.is_empty() && report.problems.is_empty(),
        "the soak failed (seed {seed}):\n{}\n{}",
        failures.join("\n"),
        report.problems.join("\n")
    );
}

/// A small random number generator (splitmix64): the soak's choices, from a seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A generator of its own for a thread or task.
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.unit() < probability
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn between(&mut self, low: f64, high: f64) -> Duration {
        Duration::from_secs_f64(low + (high - low) * self.unit())
    }

    /// A client address for X-Forwarded-For.
    fn address(&mut self) -> String {
        let n = self.next();
        format!(
            "10.{}.{}.{}",
            n & 0xff,
            (n >> 8) & 0xff,
            ((n >> 16) & 0xfd) + 1
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    Serve,
    Digest,
    Import,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// SIGKILL, at a random moment.
    Killed,
    /// SIGTERM, then it exited by itself, with this status, after this long.
    Terminated(Option<i32>, Duration),
    /// SIGTERM, and still running [`SHUTDOWN_WITHIN`] later: killed.
    TermIgnored,
    /// Exited by itself, with this status.
    Exited(Option<i32>),
}

#[derive(Debug, Clone)]
struct Life {
    program: Program,
    number: usize,
    started: SystemTime,
    ended: SystemTime,
    end: End,
}

impl Life {
    fn describe(&self) -> String {
        format!(
            "{:?} {}, from {:?} to {:?}, {:?}",
            self.program, self.number, self.started, self.ended, self.end
        )
    }
}

/// What the threads that run the processes share.
#[derive(Debug)]
struct Soak {
    data: PathBuf,
    logs: PathBuf,
    port: u16,
    base: String,
    /// The SMTP servers of even and odd starts of `serve`.
    serve_smtp: [String; 2],
    /// The SMTP servers of even and odd runs of `digest run`.
    digest_smtp: [String; 2],
    serve_extra: Vec<String>,
    /// When the load ends; `None` before it starts.
    deadline: Mutex<Option<Instant>>,
    lives: Mutex<Vec<Life>>,
    /// How long each start of `serve` took to answer /healthz.
    readiness: Mutex<Vec<Duration>>,
    failures: Mutex<Vec<String>>,
    /// Set on a failure that ends the load early (serve does not come up).
    halted: AtomicBool,
}

impl Soak {
    fn over(&self) -> bool {
        self.halted.load(Ordering::Relaxed)
            || self
                .deadline
                .lock()
                .unwrap()
                .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn deadline(&self) -> Instant {
        self.deadline
            .lock()
            .unwrap()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    fn fail(&self, message: String) {
        eprintln!("soak: {message}");
        self.failures.lock().unwrap().push(message);
    }

    fn record(&self, program: Program, number: usize, started: SystemTime, end: End) {
        self.lives.lock().unwrap().push(Life {
            program,
            number,
            started,
            ended: SystemTime::now(),
            end,
        });
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// `serve` number `number`, answering /healthz.
    fn start_serve(&self, number: usize) -> Result<(usize, SystemTime, Child), String> {
        let started = SystemTime::now();
        let log = self.log(&format!("serve-{number}"));
        let mut command = paperboy(&self.data);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--smtp-url", &self.serve_smtp[number % 2]])
            .args(["--public-url", &self.base])
            .args(["--mail-from", "digest@papers.example.org", "--no-harvest"])
            // It composes the day's digests at every start (idempotently), beside `digest run`.
            .args(["--digest-time", "00:00", "--send-empty-digests"])
            .args(&self.serve_extra);
        let mut child = spawn_logged(command, &log);
        let asked = Instant::now();
        loop {
            if healthy(self.port) {
                self.readiness.lock().unwrap().push(asked.elapsed());
                return Ok((number, started, child));
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!(
                    "serve {number} exited ({status}) before it answered /healthz:\n{}",
                    tail(&log)
                ));
            }
            if asked.elapsed() > READY_WITHIN {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "serve {number} did not answer /healthz within {READY_WITHIN:?}:\n{}",
                    tail(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Keeps `serve` up for random spells, ending each with SIGKILL or (one in four) SIGTERM,
    /// until the load ends; returns the server running then.
    fn keep_serving(
        &self,
        first: (usize, SystemTime, Child),
        rng: &mut Rng,
    ) -> Option<(usize, SystemTime, Child)> {
        let (mut number, mut started, mut child) = first;
        loop {
            let until = (Instant::now() + rng.between(0.5, 5.0)).min(self.deadline());
            while Instant::now() < until {
                if let Some(status) = child.try_wait().unwrap() {
                    self.fail(format!(
                        "serve {number} stopped by itself ({status}):\n{}",
                        tail(&self.log(&format!("serve-{number}")))
                    ));
                    self.record(Program::Serve, number, started, End::Exited(status.code()));
                    self.halted.store(true, Ordering::Relaxed);
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.over() {
                return Some((number, started, child));
            }
            let end = if rng.chance(0.25) {
                terminate(&mut child)
            } else {
                kill(&mut child)
            };
            self.record(Program::Serve, number, started, end);
            if let End::Terminated(code, _) = end
                && code != Some(0)
            {
                self.fail(format!(
                    "serve {number} exited with {code:?} after SIGTERM:\n{}",
                    tail(&self.log(&format!("serve-{number}")))
                ));
            }
            match self.start_serve(number + 1) {
                Ok(next) => (number, started, child) = next,
                Err(message) => {
                    self.fail(message);
                    self.halted.store(true, Ordering::Relaxed);
                    return None;
                }
            }
        }
    }

    /// `digest run` number `number` for `date`.
    fn digest_command(&self, number: usize, date: NaiveDate) -> Command {
        let mut command = paperboy(&self.data);
        command
            .args(["digest", "run", "--date", &date.to_string()])
            .args(["--smtp-url", &self.digest_smtp[number % 2]])
            .args(["--public-url", &self.base])
            .args(["--mail-from", "digest@papers.example.org"])
            .arg("--send-empty-digests");
        command
    }

    /// `digest run` for one day after another, most runs killed at a random moment (a killed
    /// run's day is run again half the time); returns the last day and run's number.
    fn run_digests(&self, first: NaiveDate, rng: &mut Rng) -> (NaiveDate, usize) {
        let mut date = first;
        let mut number = 0;
        while !self.over() {
            number += 1;
            let log = self.log(&format!("digest-{number}"));
            let started = SystemTime::now();
            let mut child = spawn_logged(self.digest_command(number, date), &log);
            // A run left alone still ends within 15 s: one that waits out the lease of a
            // message claimed by a killed process would take a minute.
            let stop_at = if rng.chance(0.7) {
                Instant::now() + rng.between(0.05, 3.0)
            } else {
                Instant::now() + Duration::from_secs(15)
            };
            let end = match wait_until(&mut child, stop_at.min(self.deadline())) {
                Some(status) => End::Exited(status.code()),
                None => kill(&mut child),
            };
            self.record(Program::Digest, number, started, end);
            match end {
                End::Exited(Some(0)) => date = date.succ_opt().unwrap(),
                End::Exited(code) => self.fail(format!(
                    "digest run {number} for {date} exited with {code:?}:\n{}",
                    tail(&log)
                )),
                _ if rng.chance(0.5) => date = date.succ_opt().unwrap(),
                _ => {}
            }
            std::thread::sleep(rng.between(0.1, 1.0));
        }
        (date, number)
    }

    /// `paperboy import` of one day's papers after another, a third of them killed at a random
    /// moment, the others let finish (or stopped when the load ends).
    fn run_imports(&self, rng: &mut Rng) {
        let mut number = 0;
        while !self.over() {
            let day = IMPORTED_DAYS[number % IMPORTED_DAYS.len()];
            number += 1;
            let log = self.log(&format!("import-{number}"));
            let started = SystemTime::now();
            let mut command = paperboy(&self.data);
            command
                .arg("import")
                .arg(shared(&format!("hf-daily-papers/raw/{day}.json.gz")));
            let mut child = spawn_logged(command, &log);
            let stop_at = if rng.chance(0.3) {
                Instant::now() + rng.between(0.2, 4.0)
            } else {
                self.deadline()
            };
            let end = match wait_until(&mut child, stop_at.min(self.deadline())) {
                Some(status) => End::Exited(status.code()),
                None => kill(&mut child),
            };
            self.record(Program::Import, number, started, end);
            if let End::Exited(code) = end
                && code != Some(0)
            {
                self.fail(format!(
                    "import {number} of {day} exited with {code:?}:\n{}",
                    tail(&log)
                ));
            }
            std::thread::sleep(rng.between(0.2, 1.5));
        }
    }

    /// The checks, once everything has stopped; the figures and what failed.
    fn check(&self, clients: &Clients, has_check: bool) -> Report {
        let mut problems = Vec::new();
        let store = Stored::read(&self.data.join("paperboy.sqlite3"));
        if store.integrity != ["ok"] {
            problems.push(format!("PRAGMA integrity_check: {:?}", store.integrity));
        }
        if store.foreign_key_errors != 0 {
            problems.push(format!(
                "PRAGMA foreign_key_check: {} rows",
                store.foreign_key_errors
            ));
        }
        let mut check_line = String::from("integrity_check ok");
        if has_check {
            // After the imports were run again in full: what a killed import left undone is
            // reported (and is what `paperboy reindex` is for); after a reindex, nothing may be.
            let (status, stdout, _) = output(paperboy(&self.data).arg("check"));
            if status == 0 {
                check_line.push_str(", `paperboy check` ok");
            } else {
                let found: Vec<&str> = stdout
                    .lines()
                    .filter(|line| line.trim_start().starts_with("- "))
                    .map(str::trim)
                    .collect();
                let _ = write!(
                    check_line,
                    ", `paperboy check` after the imports ran again in full: {}",
                    found.join(" ")
                );
                let (status, _, stderr) = output(paperboy(&self.data).arg("reindex"));
                assert_eq!(status, 0, "paperboy reindex: {stderr}");
                let (status, again, _) = output(paperboy(&self.data).arg("check"));
                if status == 0 {
                    check_line.push_str("; ok after `paperboy reindex`");
                } else {
                    problems.push(format!(
                        "paperboy check exited {status}, and after a reindex too:\n{stdout}\n{again}"
                    ));
                }
            }
        }

        // Everything acknowledged is there.
        let acks = clients.acks.lock().unwrap();
        let missing = |what: &str,
                       acked: &HashSet<(String, String)>,
                       found: &HashSet<(String, String)>,
                       problems: &mut Vec<String>| {
            let lost: Vec<_> = acked.difference(found).collect();
            if !lost.is_empty() {
                problems.push(format!(
                    "{} acknowledged {what} missing: {lost:?}",
                    lost.len()
                ));
            }
        };
        missing("votes", &acks.votes, &store.votes, &mut problems);
        missing("saves", &acks.saves, &store.saved, &mut problems);
        for email in &acks.subscription_requests {
            if !store.subscribers.contains_key(email) {
                problems.push(format!(
                    "the acknowledged subscription of {email} is missing"
                ));
            }
        }
        for email in &acks.confirmations {
            if store.subscribers.get(email).map(String::as_str) != Some("confirmed") {
                problems.push(format!(
                    "the acknowledged confirmation of {email} is missing: {:?}",
                    store.subscribers.get(email)
                ));
            }
        }
        for email in &acks.sign_ins {
            if !store.users.contains(email) {
                problems.push(format!("the acknowledged sign-in of {email} left no user"));
            }
        }

        // Mail: every copy received is a message the outbox recorded as sent, under its
        // Message-ID; nothing is left queued; every message recorded as sent arrived.
        let mut mailbox = clients.mailbox.lock().unwrap();
        mailbox.refresh();
        let mails = &mailbox.mails;
        let outbox: HashMap<&str, &Outgoing> = store
            .outbox
            .iter()
            .map(|message| (message.message_id.as_str(), message))
            .collect();
        let mut copies: HashMap<&str, Vec<&Mail>> = HashMap::new();
        for mail in mails {
            copies
                .entry(mail.message_id.as_str())
                .or_default()
                .push(mail);
            match outbox.get(mail.message_id.as_str()) {
                None => problems.push(format!(
                    "a mail to {} ({:?}) is not in the outbox: <{}>",
                    mail.recipient, mail.subject, mail.message_id
                )),
                Some(message) if message.recipient != mail.recipient => problems.push(format!(
                    "<{}> went to {} but the outbox says {}",
                    mail.message_id, mail.recipient, message.recipient
                )),
                Some(message) if message.state != "sent" => problems.push(format!(
                    "<{}> arrived but the outbox has it {}",
                    mail.message_id, message.state
                )),
                Some(_) => {}
            }
        }
        for message in &store.outbox {
            if message.state != "sent" {
                problems.push(format!(
                    "{} {} to {} is {} after the last run ({} attempts)",
                    message.kind, message.key, message.recipient, message.state, message.attempts
                ));
            } else if !copies.contains_key(message.message_id.as_str()) {
                problems.push(format!(
                    "{} {} to {} is recorded as sent but never arrived",
                    message.kind, message.key, message.recipient
                ));
            }
        }
        for email in &acks.subscription_requests {
            if !mails
                .iter()
                .any(|mail| &mail.recipient == email && mail.kind() == "confirmation")
            {
                problems.push(format!("{email} asked to subscribe and got no mail"));
            }
        }
        for email in &acks.sign_in_requests {
            if !mails
                .iter()
                .any(|mail| &mail.recipient == email && mail.kind() == "sign-in")
            {
                problems.push(format!("{email} asked for a sign-in link and got no mail"));
            }
        }
        // The same mail under two Message-IDs: the same recipient, kind and key (a digest's
        // day, a link's token) in two messages.
        let mut logical: HashMap<(String, &str, String), HashSet<&str>> = HashMap::new();
        for mail in mails {
            logical
                .entry((mail.recipient.clone(), mail.kind(), mail.key()))
                .or_default()
                .insert(&mail.message_id);
        }
        let twice: Vec<_> = logical.iter().filter(|(_, ids)| ids.len() > 1).collect();
        for ((recipient, kind, key), ids) in &twice {
            problems.push(format!(
                "the {kind} {key} went to {recipient} under {} Message-IDs: {ids:?}",
                ids.len()
            ));
        }
        // The same message twice: each copy but the last is one whose sender did not live to
        // record it.
        let lives = self.lives.lock().unwrap();
        let mut repeated: BTreeMap<&str, u64> = BTreeMap::new();
        for (id, list) in &mut copies {
            if list.len() < 2 {
                continue;
            }
            list.sort_by_key(|mail| (mail.at, mail.number));
            for copy in &list[..list.len() - 1] {
                let sender = sender_of(&lives, copy);
                let why = match sender.map(|life| life.end) {
                    Some(End::Killed | End::TermIgnored) => "after SIGKILL",
                    Some(End::Terminated(..)) => "after SIGTERM",
                    _ => "unexplained",
                };
                *repeated.entry(why).or_default() += 1;
                if why != "after SIGKILL" {
                    problems.push(format!(
                        "<{id}> to {} was delivered again {why}: its copy at {:?} came from {}",
                        copy.recipient,
                        copy.at,
                        sender.map_or_else(|| "no process".to_owned(), Life::describe)
                    ));
                }
            }
        }

        // The figures.
        let count = |program: Program, test: &dyn Fn(End) -> bool| {
            lives
                .iter()
                .filter(|life| life.program == program && test(life.end))
                .count()
        };
        let killed = |end: End| matches!(end, End::Killed);
        let termed = |end: End| matches!(end, End::Terminated(..));
        let ignored = |end: End| matches!(end, End::TermIgnored);
        let finished = |end: End| matches!(end, End::Exited(_));
        let longest_stop = lives
            .iter()
            .filter_map(|life| match life.end {
                End::Terminated(_, took) => Some(took),
                _ => None,
            })
            .max()
            .unwrap_or_default();
        let mut readiness = self.readiness.lock().unwrap().clone();
        readiness.sort();
        let median_ready = readiness
            .get(readiness.len() / 2)
            .copied()
            .unwrap_or_default();
        let slowest_ready = readiness.last().copied().unwrap_or_default();
        let mut text = String::new();
        let _ = writeln!(
            text,
            "serve: {} starts; {} SIGKILL, {} SIGTERM (clean exits, the longest in {:.1} s), {} SIGTERM not obeyed in {} s; /healthz answered in {:.1} s (median), {:.1} s (slowest)",
            readiness.len(),
            count(Program::Serve, &killed),
            count(Program::Serve, &termed),
            longest_stop.as_secs_f64(),
            count(Program::Serve, &ignored),
            SHUTDOWN_WITHIN.as_secs(),
            median_ready.as_secs_f64(),
            slowest_ready.as_secs_f64(),
        );
        let _ = writeln!(
            text,
            "digest run: {} runs, {} killed with SIGKILL, {} finished (with the final run); import: {} runs, {} killed, {} finished",
            count(Program::Digest, &|_| true),
            count(Program::Digest, &killed),
            count(Program::Digest, &finished),
            count(Program::Import, &|_| true),
            count(Program::Import, &killed),
            count(Program::Import, &finished),
        );
        let stats = clients.stats.lock().unwrap();
        let total: Tally = stats
            .values()
            .fold(Tally::default(), |sum, tally| sum.plus(tally));
        let _ = writeln!(
            text,
            "requests: {} sent, {} answered 2xx/3xx, {} 4xx, {} 5xx, {} unanswered (server down or killed mid-request)",
            total.sent, total.ok, total.client_errors, total.server_errors, total.unanswered
        );
        for (kind, tally) in stats.iter() {
            let _ = writeln!(
                text,
                "  {kind:<12} {:>6} sent {:>6} ok {:>4} 4xx {:>4} 5xx {:>5} unanswered",
                tally.sent, tally.ok, tally.client_errors, tally.server_errors, tally.unanswered
            );
        }
        let samples = clients.samples.lock().unwrap();
        if !samples.is_empty() {
            let _ = writeln!(text, "unexpected answers:");
            for (what, (count, first)) in samples.iter() {
                let _ = writeln!(text, "  {what}: {count}, the first {first}");
            }
        }
        if total.server_errors > 0 {
            problems.push(format!("{} answers were 5xx", total.server_errors));
        }
        let _ = writeln!(
            text,
            "acknowledged and found in the store: {} votes, {} saves, {} subscription requests (each with its mail), {} confirmations, {} sign-in requests (each with its mail), {} sign-ins",
            acks.votes.len(),
            acks.saves.len(),
            acks.subscription_requests.len(),
            acks.confirmations.len(),
            acks.sign_in_requests.len(),
            acks.sign_ins.len(),
        );
        let by_kind = |kind: &str| mails.iter().filter(|mail| mail.kind() == kind).count();
        let _ = writeln!(
            text,
            "mail: {} copies received ({} digests, {} confirmations, {} sign-in links) of {} messages, all recorded as sent; {} outbox messages in all",
            mails.len(),
            by_kind("digest"),
            by_kind("confirmation"),
            by_kind("sign-in"),
            copies.len(),
            store.outbox.len(),
        );
        let _ = writeln!(
            text,
            "mail sent twice: {} under two Message-IDs; same Message-ID again {} after SIGKILL (SMTP's at-least-once window), {} after SIGTERM, {} unexplained",
            twice.len(),
            repeated.get("after SIGKILL").unwrap_or(&0),
            repeated.get("after SIGTERM").unwrap_or(&0),
            repeated.get("unexplained").unwrap_or(&0),
        );
        let _ = writeln!(
            text,
            "store: {check_line}, foreign_key_check ok; {} papers, {} users, {} subscribers",
            store.papers,
            store.users.len(),
            store.subscribers.len()
        );
        Report { text, problems }
    }
}

struct Report {
    text: String,
    problems: Vec<String>,
}

/// The process that sent `mail`: the last started before it of those that send to its server.
fn sender_of<'a>(lives: &'a [Life], mail: &Mail) -> Option<&'a Life> {
    lives
        .iter()
        .filter(|life| {
            life.program == mail.sink.program
                && life.number % 2 == mail.sink.parity
                && life.started <= mail.at
        })
        .max_by_key(|life| life.started)
}

fn spawn_logged(mut command: Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// The last lines of a log.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn wait_until(child: &mut Child, until: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(child: &mut Child) -> End {
    if let Some(status) = child.try_wait().unwrap() {
        return End::Exited(status.code());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    End::Killed
}

/// SIGTERM, then SIGKILL if the process has not stopped within [`SHUTDOWN_WITHIN`].
fn terminate(child: &mut Child) -> End {
    if let Some(status) = child.try_wait().unwrap() {
        return End::Exited(status.code());
    }
    let asked = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    match wait_until(child, asked + SHUTDOWN_WITHIN) {
        Some(status) => End::Terminated(status.code(), asked.elapsed()),
        None => {
            kill(child);
            End::TermIgnored
        }
    }
}

/// Whether `serve` answers /healthz with 200 (a raw request: no client, no pool).
fn healthy(port: u16) -> bool {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Adds [`SUBSCRIBERS`] confirmed daily subscribers, straight into the store.
async fn confirmed_subscribers(data: &Path) {
    let store = SqliteStore::open(&data.join("paperboy.sqlite3"))
        .await
        .unwrap();
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| {
            let preferences = Preferences::new(
                [TOPICS[n % TOPICS.len()]],
                Vec::<String>::new(),
                Frequency::Daily,
            )
            .unwrap();
            let address = format!("digest{n}@soak.example");
            (address.parse().unwrap(), preferences)
        })
        .collect();
    let added = store
        .add_confirmed_subscribers(&subscribers, Utc::now())
        .await
        .unwrap();
    assert_eq!(added, SUBSCRIBERS as u64);
    store.close().await;
}

/// Which SMTP server received a mail: the one of odd or even starts of `serve`, or of runs of
/// `digest run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sink {
    program: Program,
    parity: usize,
}

#[derive(Debug)]
struct Mail {
    sink: Sink,
    /// Its number at that server, in arrival order.
    number: u64,
    recipient: String,
    message_id: String,
    subject: String,
    /// The text part of links' mail (not kept for digests).
    text: String,
    /// When the server wrote it, which is before it answered the sender.
    at: SystemTime,
}

impl Mail {
    fn kind(&self) -> &'static str {
        match self.subject.as_str() {
            "Sign in to Paperboy" => "sign-in",
            "Confirm your Paperboy digest" => "confirmation",
            _ => "digest",
        }
    }

    /// What makes a mail the one it is beside its kind and recipient: a link's token, a
    /// digest's day ("Paperboy 8 Dec: …").
    fn key(&self) -> String {
        match self.kind() {
            "digest" => self
                .subject
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned(),
            _ => self
                .text
                .split_whitespace()
                .find(|word| word.contains("/signin/") || word.contains("/confirm/"))
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// The mail both SMTP servers received, read as it comes.
#[derive(Debug)]
struct Mailbox {
    folders: Vec<(Sink, PathBuf, u64)>,
    mails: Vec<Mail>,
}

impl Mailbox {
    fn new(folders: &[(Sink, &Path)]) -> Mailbox {
        Mailbox {
            folders: folders
                .iter()
                .map(|(sink, folder)| (*sink, folder.to_path_buf(), 0))
                .collect(),
            mails: Vec::new(),
        }
    }

    fn refresh(&mut self) {
        for (sink, folder, next) in &mut self.folders {
            // The .eml is written after the .json: with it, both are complete.
            while let Ok(written) = std::fs::metadata(folder.join(format!("{next}.eml"))) {
                let json = std::fs::read_to_string(folder.join(format!("{next}.json"))).unwrap();
                let parsed: Value = serde_json::from_str(&json).unwrap();
                let subject = parsed["headers"]["Subject"].as_str().unwrap().to_owned();
                let mut mail = Mail {
                    sink: *sink,
                    number: *next,
                    recipient: parsed["recipients"][0].as_str().unwrap().to_lowercase(),
                    message_id: parsed["headers"]["Message-ID"]
                        .as_str()
                        .unwrap()
                        .trim()
                        .trim_matches(['<', '>'])
                        .to_owned(),
                    subject,
                    text: String::new(),
                    at: written.modified().unwrap(),
                };
                if mail.kind() != "digest" {
                    mail.text = parsed["text"].as_str().unwrap_or_default().to_owned();
                }
                self.mails.push(mail);
                *next += 1;
            }
        }
    }

    /// The newest link starting with `prefix` mailed to `recipient`, other than `used`.
    fn link(&mut self, recipient: &str, prefix: &str, used: &HashSet<String>) -> Option<String> {
        self.refresh();
        self.mails
            .iter()
            .rev()
            .filter(|mail| mail.recipient == recipient && mail.text.contains(prefix))
            .map(|mail| link_after(&mail.text, prefix).to_owned())
            .find(|link| !used.contains(link))
    }
}

/// Requests of one kind.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    sent: u64,
    /// 2xx and 3xx.
    ok: u64,
    client_errors: u64,
    server_errors: u64,
    /// No answer: the server was down or was killed with the request in flight.
    unanswered: u64,
}

impl Tally {
    fn plus(self, other: &Tally) -> Tally {
        Tally {
            sent: self.sent + other.sent,
            ok: self.ok + other.ok,
            client_errors: self.client_errors + other.client_errors,
            server_errors: self.server_errors + other.server_errors,
            unanswered: self.unanswered + other.unanswered,
        }
    }
}

/// What the server acknowledged, by address (and paper).
#[derive(Debug, Default)]
struct Acks {
    votes: HashSet<(String, String)>,
    saves: HashSet<(String, String)>,
    subscription_requests: HashSet<String>,
    /// Answered "You are subscribed", or "already used" after an attempt whose answer was lost.
    confirmations: HashSet<String>,
    sign_in_requests: HashSet<String>,
    sign_ins: HashSet<String>,
}

/// A signed-in reader.
#[derive(Debug, Clone)]
struct Reader {
    email: String,
    cookie: String,
    form_token: String,
}

/// An answer to a request.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    location: Option<String>,
    /// The cookie set, `name=value`.
    cookie: Option<String>,
    body: String,
}

/// The load's clients.
#[derive(Debug)]
struct Clients {
    http: reqwest::Client,
    base: String,
    soak: Arc<Soak>,
    mailbox: Arc<Mutex<Mailbox>>,
    stats: Mutex<BTreeMap<&'static str, Tally>>,
    /// Unexpected answers by kind and status: how many, and the first.
    samples: Mutex<BTreeMap<String, (u64, String)>>,
    acks: Mutex<Acks>,
    /// Papers to view and vote on.
    keys: Mutex<Vec<String>>,
}

impl Clients {
    fn over(&self) -> bool {
        self.soak.over()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn key(&self, rng: &mut Rng) -> String {
        rng.pick(&self.keys.lock().unwrap()).clone()
    }

    /// Sends a request and counts its answer under `kind`; statuses in `expected` (besides
    /// 2xx and 3xx) are not reported as unexpected.
    async fn send(
        &self,
        kind: &'static str,
        request: reqwest::RequestBuilder,
        expected: &[u16],
    ) -> Option<Answer> {
        let (what, result) = match request.build() {
            Ok(request) => (
                format!("{} {}", request.method(), request.url().path()),
                self.http.execute(request).await,
            ),
            Err(error) => panic!("a request that cannot be built: {error}"),
        };
        let answer = match result {
            Ok(response) => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned)
                };
                let status = response.status();
                let location = header("location");
                let cookie = header("set-cookie")
                    .and_then(|cookie| cookie.split(';').next().map(str::to_owned));
                match response.text().await {
                    Ok(body) => Some(Answer {
                        status,
                        location,
                        cookie,
                        body,
                    }),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let mut stats = self.stats.lock().unwrap();
        let tally = stats.entry(kind).or_default();
        tally.sent += 1;
        match &answer {
            None => tally.unanswered += 1,
            Some(Answer { status, body, .. }) => {
                if status.is_success() || status.is_redirection() {
                    tally.ok += 1;
                } else if status.is_server_error() {
                    tally.server_errors += 1;
                } else {
                    tally.client_errors += 1;
                }
                if !(status.is_success()
                    || status.is_redirection()
                    || expected.contains(&status.as_u16()))
                {
                    let mut samples = self.samples.lock().unwrap();
                    let sample = samples
                        .entry(format!("{kind} {status}"))
                        .or_insert_with(|| (0, format!("{what}: {}", gist(body))));
                    sample.0 += 1;
                }
            }
        }
        answer
    }

    /// The papers the trending page and the front page link to.
    async fn paper_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for path in ["/trending", "/", "/trending?window=month"] {
            let answer = self.send("page", self.http.get(self.url(path)), &[]).await;
            let Some(Answer {
                status: StatusCode::OK,
                body: page,
                ..
            }) = answer
            else {
                panic!("{path} answers: {answer:?}");
            };
            for piece in page.split(r#"href="/papers/"#).skip(1) {
                let key = piece.split('"').next().unwrap().to_owned();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// Pages, searches, the API and feeds, one after another.
    async fn browse(self: Arc<Self>, mut rng: Rng) {
        while !self.over() {
            let key = self.key(&mut rng);
            let term = rng.pick(&TERMS);
            let (kind, path) = match rng.below(12) {
                0 => ("page", "/".to_owned()),
                1 => ("page", "/trending".to_owned()),
                2 => ("page", "/trending?window=day".to_owned()),
                3 | 4 => ("search", format!("/search?q={term}")),
                5 => ("search", format!("/search?q={term}&mode=keyword&page=2")),
                6 => ("api", format!("/api/papers/search?q={term}&limit=20")),
                7 | 8 => ("paper", format!("/papers/{key}")),
                9 => ("api", format!("/api/papers/{key}")),
                10 => ("api", "/api/daily_papers".to_owned()),
                _ => ("feed", "/feeds/daily.atom".to_owned()),
            };
            let answer = self.send(kind, self.http.get(self.url(&path)), &[]).await;
            pause(&mut rng, answer.is_some(), 0.01, 0.08).await;
        }
    }

    /// A signed-in reader upvoting (and now and then saving) papers, with the form a page
    /// posts or as JSON.
    async fn vote_and_save(self: Arc<Self>, reader: Reader, mut rng: Rng) {
        while !self.over() {
            let key = self.key(&mut rng);
            let (kind, action) = if rng.chance(0.8) {
                ("vote", "upvote")
            } else {
                ("save", "save")
            };
            let acked = self.mark(&reader, &key, kind, action, &mut rng).await;
            if acked {
                let mut acks = self.acks.lock().unwrap();
                let acked = (reader.email.clone(), key);
                if kind == "vote" {
                    acks.votes.insert(acked);
                } else {
                    acks.saves.insert(acked);
                }
            }
            pause(&mut rng, acked, 0.05, 0.3).await;
        }
    }

    /// Upvotes or saves `key`; whether the server acknowledged it.
    async fn mark(
        &self,
        reader: &Reader,
        key: &str,
        kind: &'static str,
        action: &str,
        rng: &mut Rng,
    ) -> bool {
        let json = rng.chance(0.5);
        let mut request = self
            .http
            .post(self.url(&format!("/papers/{key}/{action}")))
            .header("cookie", &reader.cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&[
                ("form_token", reader.form_token.as_str()),
                ("value", "true"),
                ("next", "/trending"),
            ]);
        if json {
            request = request.header("accept", "application/json");
        }
        match self.send(kind, request, &[]).await {
            Some(Answer {
                status: StatusCode::OK,
                body,
                ..
            }) if json => {
                let body: Value = serde_json::from_str(&body).unwrap_or_default();
                body["upvoted"] == true || body["saved"] == true
            }
            Some(Answer {
                status: StatusCode::SEE_OTHER,
                location: Some(location),
                ..
            }) if !json => location == "/trending",
            _ => false,
        }
    }

    /// Signs in through the mailed link: asks for a link until the request is acknowledged,
    /// follows the newest that comes, and asks again if none comes or it does not work.
    async fn sign_in(&self, email: &str, rng: &mut Rng) -> Option<Reader> {
        let prefix = format!("{}/signin/", self.base);
        let mut used = HashSet::new();
        'ask: while !self.over() {
            let request = self
                .http
                .post(self.url("/signin"))
                .header("sec-fetch-site", "same-origin")
                .header("x-forwarded-for", rng.address())
                .form(&[("email", email), ("next", "/trending")]);
            match self.send("sign-in", request, &[]).await {
                Some(Answer {
                    status: StatusCode::OK,
                    ..
                }) => {
                    let mut acks = self.acks.lock().unwrap();
                    acks.sign_in_requests.insert(email.to_owned());
                }
                _ => {
                    pause(rng, false, 0.0, 0.0).await;
                    continue;
                }
            }
            let asked = Instant::now();
            let link = loop {
                let link = self.mailbox.lock().unwrap().link(email, &prefix, &used);
                if let Some(link) = link {
                    break link;
                }
                if self.over() {
                    return None;
                }
                if asked.elapsed() > MAIL_WITHIN {
                    continue 'ask;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            used.insert(link.clone());
            let cookie = loop {
                if self.over() {
                    return None;
                }
                let request = self
                    .http
                    .post(&link)
                    .header("sec-fetch-site", "same-origin");
                match self.send("sign-in link", request, &[410]).await {
                    Some(Answer {
                        status: StatusCode::SEE_OTHER,
                        cookie: Some(cookie),
                        ..
                    }) => break cookie,
                    Some(_) => {
                        // Used by an attempt whose answer was lost: a new link, once the 30 s
                        // an address waits between links have passed.
                        tokio::time::sleep(Duration::from_secs(31)).await;
                        continue 'ask;
                    }
                    None => pause(rng, false, 0.0, 0.0).await,
                }
            };
            self.acks.lock().unwrap().sign_ins.insert(email.to_owned());
            // The session's form token, from a page.
            while !self.over() {
                let request = self
                    .http
                    .get(self.url("/trending"))
                    .header("cookie", &cookie);
                if let Some(Answer {
                    status: StatusCode::OK,
                    body,
                    ..
                }) = self.send("page", request, &[]).await
                {
                    let form_token = body
                        .split(r#"name="form_token" value=""#)
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_else(|| panic!("no form token on /trending for {email}"))
                        .to_owned();
                    return Some(Reader {
                        email: email.to_owned(),
                        cookie,
                        form_token,
                    });
                }
                pause(rng, false, 0.0, 0.0).await;
            }
            return None;
        }
        None
    }

    /// New readers signing in during the load, each upvoting one paper once in.
    async fn newcomers(self: Arc<Self>, mut rng: Rng) {
        let mut number = 0;
        while !self.over() {
            number += 1;
            let email = format!("newcomer{number}@soak.example");
            let Some(reader) = self.sign_in(&email, &mut rng).await else {
                break;
            };
            let key = self.key(&mut rng);
            while !self.over() {
                if self.mark(&reader, &key, "vote", "upvote", &mut rng).await {
                    self.acks.lock().unwrap().votes.insert((email.clone(), key));
                    break;
                }
                pause(&mut rng, false, 0.0, 0.0).await;
            }
        }
    }

    /// New addresses subscribing, through the API or the form, each confirmed by a task of its
    /// own once the mail comes.
    async fn subscribe(self: Arc<Self>, task: usize, mut rng: Rng) {
        let mut number = 0;
        let mut confirming = Vec::new();
        while !self.over() {
            number += 1;
            let email = format!("subscriber{task}-{number}@soak.example");
            let topic = *rng.pick(&TOPICS);
            let request = if rng.chance(0.5) {
                self.http
                    .post(self.url("/api/subscriptions"))
                    .json(&serde_json::json!({
                        "email": email,
                        "topics": [topic],
                        "frequency": "daily",
                    }))
            } else {
                self.http
                    .post(self.url("/subscribe"))
                    .header("sec-fetch-site", "same-origin")
                    .form(&[
                        ("email", email.as_str()),
                        ("topics", topic),
                        ("frequency", "daily"),
                    ])
            };
            let request = request.header("x-forwarded-for", rng.address());
            let answer = self.send("subscribe", request, &[]).await;
            let acked = answer
                .as_ref()
                .is_some_and(|answer| answer.status.is_success());
            if acked {
                let mut acks = self.acks.lock().unwrap();
                acks.subscription_requests.insert(email.clone());
                drop(acks);
                confirming.push(tokio::spawn(Arc::clone(&self).confirm(email, rng.fork())));
            }
            pause(&mut rng, answer.is_some(), 0.3, 1.5).await;
        }
        for task in confirming {
            task.await.unwrap();
        }
    }

    /// Follows the confirmation link mailed to `email`, once it comes.
    async fn confirm(self: Arc<Self>, email: String, mut rng: Rng) {
        let prefix = format!("{}/subscriptions/confirm/", self.base);
        let link = loop {
            let link = self
                .mailbox
                .lock()
                .unwrap()
                .link(&email, &prefix, &HashSet::new());
            if let Some(link) = link {
                break link;
            }
            if self.over() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let mut lost = false;
        while !self.over() {
            let request = self.http.post(&link).header("origin", &self.base);
            match self.send("confirm", request, &[410]).await {
                Some(Answer {
                    status: StatusCode::OK,
                    ..
                }) => {
                    self.acks.lock().unwrap().confirmations.insert(email);
                    return;
                }
                // Used: by the attempt whose answer was lost.
                Some(Answer {
                    status: StatusCode::GONE,
                    ..
                }) if lost => {
                    self.acks.lock().unwrap().confirmations.insert(email);
                    return;
                }
                Some(answer) => {
                    self.soak.fail(format!(
                        "confirming {email}: {} {}",
                        answer.status,
                        answer.body.chars().take(300).collect::<String>()
                    ));
                    return;
                }
                None => {
                    lost = true;
                    pause(&mut rng, false, 0.0, 0.0).await;
                }
            }
        }
    }
}

/// The words of a page's main part (or of a JSON answer), shortened.
fn gist(body: &str) -> String {
    let (main, mut in_tag) = match body.split_once("<main") {
        Some((_, rest)) => (rest.split("</main>").next().unwrap_or(rest), true),
        None => (body, false),
    };
    let mut words = String::new();
    for c in main.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                words.push(' ');
            }
            _ if !in_tag => words.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = words.split_whitespace().collect();
    words.join(" ").chars().take(200).collect()
}

async fn pause(rng: &mut Rng, answered: bool, low: f64, high: f64) {
    let wait = if answered {
        rng.between(low, high)
    } else {
        rng.between(0.1, 0.3)
    };
    tokio::time::sleep(wait).await;
}

/// What the store holds at the end, read with Python's sqlite3 (Python runs the SMTP server
/// already) while nothing else has the database open.
#[derive(Debug)]
struct Stored {
    integrity: Vec<String>,
    foreign_key_errors: u64,
    papers: u64,
    votes: HashSet<(String, String)>,
    saved: HashSet<(String, String)>,
    /// State by address.
    subscribers: HashMap<String, String>,
    users: HashSet<String>,
    outbox: Vec<Outgoing>,
}

#[derive(Debug)]
struct Outgoing {
    key: String,
    kind: String,
    recipient: String,
    message_id: String,
    state: String,
    attempts: i64,
}

const READ_STORE: &str = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = lambda sql: [list(row) for row in db.execute(sql)]
print(json.dumps({
    "integrity": [row[0] for row in rows("PRAGMA integrity_check")],
    "foreign_key_errors": len(rows("PRAGMA foreign_key_check")),
    "papers": rows("SELECT count(*) FROM papers")[0][0],
    "votes": rows("SELECT u.email, coalesce(p.arxiv_id, p.id) FROM votes v JOIN users u ON u.id = v.user_id JOIN papers p ON p.id = v.paper_id"),
    "saved": rows("SELECT u.email, coalesce(p.arxiv_id, p.id) FROM saved_papers s JOIN users u ON u.id = s.user_id JOIN papers p ON p.id = s.paper_id"),
    "subscribers": rows("SELECT email, state FROM subscribers"),
    "users": [row[0] for row in rows("SELECT email FROM users")],
    "outbox": rows("SELECT idempotency_key, kind, recipient, message_id, state, attempts FROM outbox"),
}))
"#;

impl Stored {
    fn read(database: &Path) -> Stored {
        let (status, stdout, stderr) = output(
            Command::new("python3")
                .arg("-c")
                .arg(READ_STORE)
                .arg(database),
        );
        assert_eq!(status, 0, "reading the store: {stderr}");
        let read: Value = serde_json::from_str(&stdout).unwrap();
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let pairs = |name: &str| -> HashSet<(String, String)> {
            read[name]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| (text(&row[0]).to_lowercase(), text(&row[1])))
                .collect()
        };
        Stored {
            integrity: read["integrity"]
                .as_array()
                .unwrap()
                .iter()
                .map(text)
                .collect(),
            foreign_key_errors: read["foreign_key_errors"].as_u64().unwrap(),
            papers: read["papers"].as_u64().unwrap(),
            votes: pairs("votes"),
            saved: pairs("saved"),
            subscribers: pairs("subscribers").into_iter().collect(),
            users: read["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|email| text(email).to_lowercase())
                .collect(),
            outbox: read["outbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| Outgoing {
                    key: text(&row[0]),
                    kind: text(&row[1]),
                    recipient: text(&row[2]).to_lowercase(),
                    message_id: text(&row[3]).trim_matches(['<', '>']).to_owned(),
                    state: text(&row[4]),
                    attempts: row[5].as_i64().unwrap_or_default(),
                })
                .collect(),
        }
    }
}
