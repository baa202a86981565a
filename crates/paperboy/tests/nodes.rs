//! Several `paperboy serve` processes ("nodes") sharing one PostgreSQL database, end to end on
//! the throwaway server `scripts/test` starts (`PAPERBOY_TEST_POSTGRES_URL`). Each node has a
//! data folder of its own (its search index is derived data) and the same `--database-url`.
//!
//! - Readers are shared: a reader signs in on one node, upvotes on a second and sees it on a
//!   third; a thousand votes from a hundred readers, spread over three nodes at once, are
//!   counted exactly; a paper the CLI imports beside the nodes is searchable on all of them
//!   within 10 s.
//! - Digests go out once: two nodes' schedulers and a `digest run` composing at once send each
//!   subscriber one digest; the node sending them killed mid-run, another finishes the run.
//! - The daily harvest runs once, on the node elected to run the schedules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// The site's tests read pages the same way.
#[path = "../../paperboy-web/tests/common/html.rs"]
mod html;
#[path = "../../paperboy-mail/tests/support/smtp.rs"]
mod smtp;
// The harvest crate's fixtures; this file uses only part of them.
#[allow(dead_code)]
#[path = "../../paperboy-harvest/tests/common/oai.rs"]
mod oai;
#[allow(dead_code)]
#[path = "../../paperboy-harvest/tests/common/server.rs"]
mod server;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{
    digest_run, free_port, header, link_after, new_postgres_database, output, paperboy, shared,
    wait_for,
};
use html::input_value;
use paperboy_core::EmailAddress;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::Token;
use paperboy_store::Store;
use paperboy_store::account::SignInRequest;
use paperboy_store::mail::{AddressLimit, MessageKind, NewMessage, RequestOutcome};
use reqwest::StatusCode;
use serde_json::Value;
use server::{FixtureServer, Reply, Request};
use smtp::SmtpServer;
use sqlx::Connection;

/// The day every database starts with (imported, so embedded: nodes start without embedding).
const FIRST_DAY: &str = "2026-08-20";
/// The day the CLI imports while the nodes run.
const NEXT_DAY: &str = "2026-08-21";
/// Topics the subscribers follow.
const TOPICS: [&str; 2] = ["coding agents for software engineering", "video generation"];

/// A new database holding `day`'s Hugging Face papers, imported (and indexed, so their
/// embeddings are stored) by the CLI; its URL and the CLI's data folder, whose index the CLI's
/// later commands use.
async fn populated_database(day: &str) -> (String, tempfile::TempDir) {
    let url = new_postgres_database("nodes").await;
    let cli = tempfile::tempdir().unwrap();
    let (status, _, stderr) = output(
        paperboy(cli.path())
            .arg("--database-url")
            .arg(&url)
            .arg("import")
            .arg(shared(&format!("hf-daily-papers/raw/{day}.json.gz"))),
    );
    assert_eq!(status, 0, "{stderr}");
    (url, cli)
}

/// `paperboy serve` on a data folder of its own, its output kept in a file that is printed if
/// the test fails; killed (SIGKILL) when dropped.
struct Node {
    name: String,
    child: Child,
    base: String,
    port: u16,
    folder: tempfile::TempDir,
}

impl Node {
    /// Starts a node on the database `url` without waiting for it to listen.
    fn spawn(name: &str, url: &str, smtp_url: &str, extra: &[&str]) -> Node {
        let folder = tempfile::tempdir().unwrap();
        let data = folder.path().join("data");
        let log = std::fs::File::create(folder.path().join("serve.log")).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = paperboy(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", url])
            .args(["--smtp-url", smtp_url, "--public-url", &base])
            .args(["--mail-from", "digest@papers.example.org"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Node {
            name: name.to_owned(),
            child,
            base,
            port,
            folder,
        }
    }

    fn wait_listening(&mut self) {
        let what = format!("{} to listen", self.name);
        let port = self.port;
        wait_for(&what, Duration::from_secs(120), || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} stopped ({status}):\n{}", self.name, self.log());
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the node printed so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.folder.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGKILL: no chance to finish anything or give up its leases.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as an operator stops a node; waits for it to stop.
    fn terminate(&mut self) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{} ended {status}:\n{}",
            self.name,
            self.log()
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            // Less each request's line.
            let lines: Vec<&str> = log
                .lines()
                .filter(|line| !line.contains(" request request_id="))
                .collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("--- the end of {}'s output ---\n{tail}", self.name);
        }
    }
}

/// The pid of the node holding the schedules' lease, if one holds it now. Nodes name
/// themselves `host:pid:tag` in the election.
async fn schedules_holder(url: &str) -> Option<u32> {
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT holder FROM leases WHERE name = 'schedules' AND expires_at > now()",
    )
    .fetch_optional(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    holder.map(|holder| holder.rsplit(':').nth(1).unwrap().parse().unwrap())
}

/// Polls `done` every 50 ms until it holds; fails after `timeout`.
async fn poll_until<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client that does not follow redirects, to see where the site sends the browser.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The session cookie (`name=value`) a response sets.
fn session_cookie(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A page as the browser with `cookie` sees it (a request with a cookie is never answered
/// from the node's micro-cache).
async fn page(client: &reqwest::Client, url: &str, cookie: &str) -> String {
    let response = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.text().await.unwrap()
}

/// The upvote form of paper `key` on a page.
fn upvote_form<'a>(page: &'a str, key: &str) -> &'a str {
    let form = page
        .split(&format!(r#"action="/papers/{key}/upvote""#))
        .nth(1)
        .unwrap_or_else(|| panic!("no upvote form for {key}"));
    form.split("</form>").next().unwrap()
}

/// The count a paper's upvote button shows on a page.
fn shown_upvotes(page: &str, key: &str) -> u64 {
    let count = upvote_form(page, key)
        .split(r#"<span class="count">"#)
        .nth(1)
        .unwrap();
    count.split('<').next().unwrap().parse().unwrap()
}

/// Upvotes `key` on `node` the way the page's script does (the form's fields, JSON back),
/// from the node's own origin; the answer's status and body.
async fn upvote(
    client: &reqwest::Client,
    node: &str,
    key: &str,
    cookie: &str,
    form_token: &str,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{node}/papers/{key}/upvote"))
        .header("cookie", cookie)
        .header("origin", node)
        .header("accept", "application/json")
        .form(&[("form_token", form_token), ("value", "true")])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Records a sign-in link for `email` in the store (as a mailed link is; the mail is not read)
/// and follows it on `node`: the session cookie.
async fn sign_in_through_store(
    store: &dyn Store,
    client: &reqwest::Client,
    node: &str,
    email: &str,
) -> String {
    let token = Token::generate().unwrap();
    let now = Utc::now();
    let email: EmailAddress = email.parse().unwrap();
    let key = token.hash().to_hex();
    let outcome = store
        .request_sign_in(SignInRequest {
            email: email.clone(),
            token: token.hash(),
            now,
            expires_at: now + chrono::Duration::minutes(15),
            limit: AddressLimit {
                per_day: u32::MAX,
                gap: Duration::ZERO,
            },
            mail: NewMessage {
                key: format!("nodes-test-sign-in:{key}"),
                kind: MessageKind::SignIn,
                sender: "digest@papers.example.org".parse().unwrap(),
                recipient: email,
                message_id: format!("<{key}@papers.example.org>"),
                bytes: b"Subject: Sign in\r\n\r\n(not read in this test)\r\n".to_vec(),
            },
        })
        .await
        .unwrap();
    assert_eq!(outcome, RequestOutcome::Queued);
    let response = client
        .post(format!("{node}/signin/{}", token.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    session_cookie(&response)
}

/// The arXiv ids of a search's hits on `node` (asked with a cookie, so that the answer is the
/// index's now, not one the node kept for a few seconds).
async fn search_hits(client: &reqwest::Client, node: &str, query: &str) -> Vec<String> {
    let response = client
        .get(format!("{node}/api/papers/search"))
        .query(&[("q", query)])
        .header("cookie", "nodes-test=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let hits: Value = response.json().await.unwrap();
    hits.as_array()
        .unwrap()
        .iter()
        .filter_map(|hit| hit["arxiv_id"].as_str().map(str::to_owned))
        .collect()
}

/// Every paper in the store, by arXiv id.
async fn papers_by_key(store: &dyn Store) -> BTreeMap<String, paperboy_core::Paper> {
    store
        .papers_after(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|paper| (paper.record.arxiv_id.as_ref().unwrap().to_string(), paper))
        .collect()
}

/// A small deterministic generator (the votes differ between papers and readers, the same in
/// every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_votes_and_imports_are_shared_by_three_nodes() {
    let (url, cli) = populated_database(FIRST_DAY).await;
    let smtp = SmtpServer::start();
    let mut nodes: Vec<Node> = (1..=3)
        .map(|n| Node::spawn(&format!("node {n}"), &url, &smtp.url(), &["--no-harvest"]))
        .collect();
    for node in &mut nodes {
        node.wait_listening();
    }
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();
    let store = paperboy_store::open(&url).await.unwrap();
    let client = browser();
    let papers = papers_by_key(&*store).await;
    let keys: Vec<String> = papers.keys().cloned().collect();
    assert!(keys.len() >= 10, "{keys:?}");

    // A reader signs in on node 1 with the link the mail server received...
    let started = Instant::now();
    let response = client
        .post(format!("{}/signin", bases[0]))
        .form(&[("email", "ada@example.org"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    wait_for("the sign-in mail", Duration::from_secs(20), || {
        smtp.count() >= 1
    });
    let mail = &smtp.parsed()[0];
    assert_eq!(mail["recipients"][0], "ada@example.org");
    assert_eq!(header(mail, "Subject"), "Sign in to Paperboy");
    let link = link_after(
        mail["text"].as_str().unwrap(),
        &format!("{}/signin/", bases[0]),
    )
    .to_owned();
    let response = client.post(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&response);
    // ...upvotes a paper on node 2, which knows the session and its form token...
    let paper = &keys[2];
    let on_node_2 = page(&client, &format!("{}/papers/{paper}", bases[1]), &cookie).await;
    assert!(upvote_form(&on_node_2, paper).contains(r#"aria-pressed="false""#));
    let before = shown_upvotes(&on_node_2, paper);
    let form_token = input_value(&on_node_2, "form_token");
    let (status, body) = upvote(&client, &bases[1], paper, &cookie, &form_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["upvoted"], true, "{body}");
    assert_eq!(body["upvotes"], before + 1, "{body}");
    // ...and sees the new count and their mark on node 3.
    let on_node_3 = page(&client, &format!("{}/papers/{paper}", bases[2]), &cookie).await;
    assert_eq!(shown_upvotes(&on_node_3, paper), before + 1);
    assert!(
        upvote_form(&on_node_3, paper).contains(r#"aria-pressed="true""#),
        "{}",
        upvote_form(&on_node_3, paper)
    );
    let me = page(&client, &format!("{}/me", bases[2]), &cookie).await;
    assert!(me.contains("ada@example.org"));
    eprintln!(
        "signed in on node 1, upvoted on node 2, seen on node 3: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A thousand votes from a hundred readers, sent to the three nodes at once: each reader
    // picks ten papers at random, so many pick one twice, which counts once.
    const READERS: usize = 100;
    const VOTES_EACH: usize = 10;
    let started = Instant::now();
    let mut signing_in = tokio::task::JoinSet::new();
    let store: Arc<dyn Store> = Arc::from(store);
    for reader in 0..READERS {
        let store = Arc::clone(&store);
        let client = client.clone();
        let node = bases[reader % 3].clone();
        let form_node = bases[(reader + 1) % 3].clone();
        let paper = keys[reader % keys.len()].clone();
        signing_in.spawn(async move {
            let email = format!("voter{reader}@example.org");
            let cookie = sign_in_through_store(&*store, &client, &node, &email).await;
            let page = page(&client, &format!("{form_node}/papers/{paper}"), &cookie).await;
            (reader, cookie, input_value(&page, "form_token"))
        });
    }
    let mut readers: Vec<(String, String)> = vec![Default::default(); READERS];
    while let Some(signed_in) = signing_in.join_next().await {
        let (reader, cookie, form_token) = signed_in.unwrap();
        readers[reader] = (cookie, form_token);
    }
    let signed_in_after = started.elapsed();
    let mut random = Lcg(0x5eed);
    let mut votes: Vec<(usize, usize)> = (0..READERS)
        .flat_map(|reader| std::iter::repeat_n(reader, VOTES_EACH))
        .map(|reader| (reader, random.below(keys.len())))
        .collect();
    // Shuffled, so that one reader's votes are in flight at once on several nodes.
    for at in (1..votes.len()).rev() {
        votes.swap(at, random.below(at + 1));
    }
    let mut voters: HashMap<usize, HashSet<usize>> = HashMap::new();
    for &(reader, paper) in &votes {
        voters.entry(paper).or_default().insert(reader);
    }
    let repeated = votes.len() - voters.values().map(HashSet::len).sum::<usize>();
    assert!(repeated > 50, "only {repeated} repeated votes");
    let readers = Arc::new(readers);
    let at_once = Arc::new(tokio::sync::Semaphore::new(48));
    let mut voting = tokio::task::JoinSet::new();
    for (n, &(reader, paper)) in votes.iter().enumerate() {
        let client = client.clone();
        let readers = Arc::clone(&readers);
        let node = bases[n % 3].clone();
        let key = keys[paper].clone();
        let at_once = Arc::clone(&at_once);
        voting.spawn(async move {
            let _turn = at_once.acquire().await.unwrap();
            let (cookie, form_token) = &readers[reader];
            let (status, body) = upvote(&client, &node, &key, cookie, form_token).await;
            assert_eq!(status, StatusCode::OK, "{node} {key}: {body}");
            assert_eq!(body["upvoted"], true, "{node} {key}: {body}");
        });
    }
    while let Some(voted) = voting.join_next().await {
        voted.unwrap();
    }
    let voted_after = started.elapsed() - signed_in_after;
    // Each paper's count is its count before plus the readers who upvoted it, in the store
    // and on every node.
    let counted = papers_by_key(&*store).await;
    for (index, key) in keys.iter().enumerate() {
        let expected = papers[key].local_upvotes as usize
            + usize::from(key == paper)
            + voters.get(&index).map_or(0, HashSet::len);
        assert_eq!(
            counted[key].local_upvotes as usize, expected,
            "{key}: stored count"
        );
        for base in &bases {
            let response = client
                .get(format!("{base}/api/papers/{key}"))
                .header("cookie", "nodes-test=1")
                .send()
                .await
                .unwrap();
            let json: Value = response.json().await.unwrap();
            assert_eq!(json["local_upvotes"], expected, "{key} on {base}: {json}");
            assert_eq!(
                json["upvotes"],
                json["external_upvotes"].as_u64().unwrap() + expected as u64,
                "{key} on {base}: {json}"
            );
        }
    }
    // A reader's mark on a page of any node: the first reader's first paper.
    let (cookie, _) = &readers[votes.iter().find(|vote| vote.0 == 0).unwrap().0];
    let first = &keys[votes.iter().find(|vote| vote.0 == 0).unwrap().1];
    let seen = page(&client, &format!("{}/papers/{first}", bases[2]), cookie).await;
    assert!(upvote_form(&seen, first).contains(r#"aria-pressed="true""#));
    eprintln!(
        "{READERS} readers signed in in {:.1} s; {} votes ({repeated} repeated) over three nodes in {:.1} s",
        signed_in_after.as_secs_f64(),
        votes.len(),
        voted_after.as_secs_f64()
    );

    // Another day imported by the CLI beside the running nodes: its papers are searchable on
    // every node within 10 s.
    let (status, _, stderr) = output(
        paperboy(cli.path())
            .arg("--database-url")
            .arg(&url)
            .arg("import")
            .arg(shared(&format!("hf-daily-papers/raw/{NEXT_DAY}.json.gz"))),
    );
    assert_eq!(status, 0, "{stderr}");
    let imported = Instant::now();
    let now = papers_by_key(&*store).await;
    let (new_key, new_paper) = now
        .iter()
        .filter(|(key, _)| !papers.contains_key(*key))
        .max_by_key(|(_, paper)| paper.record.title.len())
        .expect("the import added papers");
    let title = new_paper.record.title.clone();
    let mut found_after = Vec::new();
    let (client, title) = (&client, title.as_str());
    for base in &bases {
        poll_until(
            &format!("{new_key} ({title}) to be found on {base}"),
            Duration::from_secs(10).saturating_sub(imported.elapsed()),
            || async move { search_hits(client, base, title).await.contains(new_key) },
        )
        .await;
        found_after.push(imported.elapsed().as_secs_f64());
    }
    eprintln!("the imported paper was found on the three nodes after {found_after:.1?} s");
    store.close().await;
}

/// Adds `count` confirmed subscribers (daily, each following one of [`TOPICS`]); their
/// addresses.
async fn confirmed_subscribers(url: &str, count: usize) -> Vec<String> {
    let store = paperboy_store::open(url).await.unwrap();
    let addresses: Vec<String> = (0..count)
        .map(|n| format!("reader{n}@example.org"))
        .collect();
    let subscribers: Vec<_> = addresses
        .iter()
        .enumerate()
        .map(|(n, address)| {
            let preferences =
                Preferences::new([TOPICS[n % 2]], Vec::<String>::new(), Frequency::Daily).unwrap();
            (address.parse().unwrap(), preferences)
        })
        .collect();
    let added = store
        .add_confirmed_subscribers(&subscribers, Utc::now())
        .await
        .unwrap();
    assert_eq!(added, count as u64);
    store.close().await;
    addresses
}

/// The Message-IDs of the digests each recipient received, in arrival order.
fn digests_by_recipient(smtp: &SmtpServer) -> HashMap<String, Vec<String>> {
    let mut received: HashMap<String, Vec<String>> = HashMap::new();
    for message in smtp.parsed() {
        if header(&message, "Subject").starts_with("Paperboy ") {
            received
                .entry(message["recipients"][0].as_str().unwrap().to_owned())
                .or_default()
                .push(header(&message, "Message-ID").to_owned());
        }
    }
    received
}

/// Waits until nothing is queued in the outbox or being sent.
async fn outbox_drained(url: &str, timeout: Duration) {
    let store = paperboy_store::open(url).await.unwrap();
    let drained = &store;
    poll_until("the outbox to drain", timeout, || async move {
        drained.outbox_summary().await.unwrap().queued == 0
    })
    .await;
    store.close().await;
}

/// Node arguments for digests due now: composed as a node starts, whether or not anything in
/// them is new.
const DIGESTS_NOW: [&str; 4] = [
    "--no-harvest",
    "--digest-time",
    "00:00",
    "--send-empty-digests",
];

#[tokio::test(flavor = "multi_thread")]
async fn two_schedulers_and_a_digest_run_at_once_send_each_subscriber_one_digest() {
    const SUBSCRIBERS: usize = 150;
    let (url, cli) = populated_database(FIRST_DAY).await;
    let addresses = confirmed_subscribers(&url, SUBSCRIBERS).await;
    let smtp = SmtpServer::start();
    let today = Utc::now().date_naive().to_string();

    // Two nodes starting (the first to take the lease composes at once: the digest time has
    // passed) and the CLI composing and delivering the same day, all at once.
    let started = Instant::now();
    let mut nodes = [
        Node::spawn("node 1", &url, &smtp.url(), &DIGESTS_NOW),
        Node::spawn("node 2", &url, &smtp.url(), &DIGESTS_NOW),
    ];
    let (status, stdout, stderr) = output(
        digest_run(cli.path(), &smtp.url(), &today)
            .arg("--database-url")
            .arg(&url)
            .arg("--send-empty-digests"),
    );
    assert_eq!(status, 0, "{stdout}{stderr}");
    let ran_for = started.elapsed();
    // The messages the nodes were sending as the run ended were not waited for as if their
    // sender had died (a lease: 60 s).
    assert!(
        ran_for < Duration::from_secs(45),
        "the run took {ran_for:?}: {stderr}"
    );
    for node in &mut nodes {
        node.wait_listening();
    }
    wait_for("every digest", Duration::from_secs(120), || {
        smtp.count() >= SUBSCRIBERS
    });
    // The node elected composes too (it queues none again: composing is idempotent per
    // subscriber and day); then the outbox drains.
    wait_for("a node to compose", Duration::from_secs(60), || {
        nodes
            .iter()
            .any(|node| node.log().contains("digests composed"))
    });
    outbox_drained(&url, Duration::from_secs(60)).await;
    let composed: Vec<String> = nodes
        .iter()
        .flat_map(|node| {
            node.log()
                .lines()
                .filter(|line| line.contains("digests composed"))
                .map(|line| format!("{}: {line}", node.name))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        composed.len(),
        1,
        "only the elected node composes: {composed:?}"
    );
    let received = digests_by_recipient(&smtp);
    assert_eq!(received.len(), SUBSCRIBERS, "everyone got a digest");
    for address in &addresses {
        assert_eq!(
            received[address].len(),
            1,
            "{address}: {:?}",
            received[address]
        );
    }
    assert_eq!(
        smtp.count(),
        SUBSCRIBERS,
        "nothing but the digests was sent"
    );
    eprintln!(
        "{SUBSCRIBERS} digests, one each, in {:.1} s (the run, after {:.1} s: {:?} {:?}; {})",
        started.elapsed().as_secs_f64(),
        ran_for.as_secs_f64(),
        stdout.trim(),
        stderr.trim(),
        composed[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_mid_run_leaves_the_rest_of_the_digests_to_another() {
    const SUBSCRIBERS: usize = 300;
    let (url, _cli) = populated_database(FIRST_DAY).await;
    let addresses = confirmed_subscribers(&url, SUBSCRIBERS).await;
    // Each message takes the server 50 ms: the run lasts seconds, so a kill lands mid-run.
    let smtp = SmtpServer::start_slow(Duration::from_millis(50));
    let mut nodes = [
        Node::spawn("node 1", &url, &smtp.url(), &DIGESTS_NOW),
        Node::spawn("node 2", &url, &smtp.url(), &DIGESTS_NOW),
    ];
    for node in &mut nodes {
        node.wait_listening();
    }
    wait_for("some digests to go out", Duration::from_secs(120), || {
        smtp.count() >= SUBSCRIBERS / 5
    });
    // The node that composed them (the one running the schedules) is sending them: killed.
    let holder = schedules_holder(&url)
        .await
        .expect("a node runs the schedules");
    let (killed, survivor) = if holder == nodes[0].pid() {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(holder, nodes[killed].pid());
    nodes[killed].kill();
    let killed_at = Instant::now();
    let before = smtp.count();
    assert!(before < SUBSCRIBERS, "the run finished before the kill");

    // The other node takes over the schedules once the lease expires, and sends the rest:
    // the messages the killed node had claimed once their leases run out.
    let (survivor_pid, database) = (nodes[survivor].pid(), url.as_str());
    poll_until(
        "the other node to run the schedules",
        Duration::from_secs(60),
        || async move { schedules_holder(database).await == Some(survivor_pid) },
    )
    .await;
    let took_over = killed_at.elapsed();
    wait_for("every digest", Duration::from_secs(180), || {
        smtp.count() >= SUBSCRIBERS
    });
    outbox_drained(&url, Duration::from_secs(120)).await;
    let finished = killed_at.elapsed();
    let received = digests_by_recipient(&smtp);
    assert_eq!(received.len(), SUBSCRIBERS, "everyone got a digest");
    let mut repeated = 0;
    for address in &addresses {
        let copies = &received[address];
        let ids: HashSet<&String> = copies.iter().collect();
        assert_eq!(ids.len(), 1, "{address} got two different digests");
        repeated += copies.len() - 1;
    }
    // Only a message the server accepted just before the kill, before the node could record
    // it, can go again (with the same Message-ID, which mail providers use to drop the copy).
    assert!(
        repeated <= paperboy_digest::deliver::CONNECTIONS,
        "{repeated} digests repeated"
    );
    eprintln!(
        "killed after {before} of {SUBSCRIBERS} digests; the other node ran the schedules \
         after {:.1} s and the last digest was sent {:.1} s after the kill; {repeated} repeated",
        took_over.as_secs_f64(),
        finished.as_secs_f64()
    );
}

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

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_harvest_runs_once_on_the_elected_node() {
    // Upstream: three pages of arXiv records and a day of the Hugging Face list.
    let list = Arc::new(oai::Harvestable::new(
        oai::real_records()[..40].to_vec(),
        15,
    ));
    let pages = list.pages();
    let mut hf_list = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(shared("hf-daily-papers/raw/2024-05-28.json.gz")).unwrap(),
    )
    .read_to_string(&mut hf_list)
    .unwrap();
    let answering = Arc::clone(&list);
    let upstream = serve(move |request| {
        if request.path == "/hf" {
            Reply::ok(hf_list.clone())
        } else {
            answering.answer(request)
        }
    });
    let hf_url = upstream.url.replace("/oai", "/hf");
    let (url, _cli) = populated_database("2024-05-27").await;

    // Two nodes harvesting on schedule; the harvest time has passed, so it is due at once.
    let harvesting = [
        "--harvest-time",
        "00:00",
        "--harvest-sets",
        "cs",
        "--oai-url",
        upstream.url.as_str(),
        "--hf-url",
        hf_url.as_str(),
    ];
    let smtp = format!("smtp://127.0.0.1:{}", free_port());
    let mut nodes = [
        Node::spawn("node 1", &url, &smtp, &harvesting),
        Node::spawn("node 2", &url, &smtp, &harvesting),
    ];
    for node in &mut nodes {
        node.wait_listening();
    }
    let store = paperboy_store::open(&url).await.unwrap();
    let started = Instant::now();
    let due_at = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let harvested = &store;
    poll_until(
        "both sources harvested",
        Duration::from_secs(300),
        || async move {
            let states = harvested.harvest_states().await.unwrap();
            ["arxiv:cs", "hf"].iter().all(|source| {
                states.iter().any(|state| {
                    state.source == *source && state.last_success_at.is_some_and(|at| at >= due_at)
                })
            })
        },
    )
    .await;
    let asked = |upstream: &FixtureServer| {
        let requests = upstream.requests();
        let hf = requests
            .iter()
            .filter(|request| request.path == "/hf")
            .count();
        (requests.len() - hf, hf)
    };
    assert_eq!(asked(&upstream), (pages, 3), "one harvest: every page once");
    for state in store.harvest_states().await.unwrap() {
        assert_eq!(state.runs, 1, "{state:?}");
    }

    // The harvesting node stops; the other takes over the schedules at once (the lease is
    // given up) and finds today's harvest done.
    let holder = schedules_holder(&url)
        .await
        .expect("a node runs the schedules");
    let (leader, other) = if holder == nodes[0].pid() {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(holder, nodes[leader].pid());
    let harvested_after = started.elapsed();
    nodes[leader].terminate();
    let stopped = Instant::now();
    let (other_pid, database) = (nodes[other].pid(), url.as_str());
    poll_until(
        "the other node to run the schedules",
        Duration::from_secs(30),
        || async move { schedules_holder(database).await == Some(other_pid) },
    )
    .await;
    let took_over = stopped.elapsed();
    // Its schedule looks at the harvest states as it takes over: a harvest would start with a
    // request at once. Nothing is asked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(asked(&upstream), (pages, 3), "the harvest ran again");
    for state in store.harvest_states().await.unwrap() {
        assert_eq!(state.runs, 1, "{state:?}");
    }
    eprintln!(
        "harvested once ({pages} pages, 3 days of the list) by {} in {:.1} s; {} ran the \
         schedules {:.1} s after it stopped and asked for nothing",
        nodes[leader].name,
        harvested_after.as_secs_f64(),
        nodes[other].name,
        took_over.as_secs_f64()
    );
    store.close().await;
}
