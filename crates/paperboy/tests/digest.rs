//! The digest end to end: the `paperboy` binary serving the site and running `digest run`, a
//! real SMTP server (aiosmtpd) receiving the mail, and the messages read back the way a mail
//! client reads them. Also the faults: a mail server that is down, and a run killed with
//! `kill -9` in the middle of a thousand digests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../paperboy-mail/tests/support/smtp.rs"]
mod smtp;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use common::{
    Server, data_folder, digest_run, free_port, header, link_after, output, paperboy, wait_for,
};
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::Token;
use paperboy_store::{MailStore, SqliteStore, Store};
use serde_json::Value;
use smtp::SmtpServer;

const TOPICS: [&str; 2] = ["coding agents for software engineering", "video generation"];

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_confirm_receive_a_digest_and_leave_in_one_click() {
    let data = data_folder();
    let smtp = SmtpServer::start();
    let server = Server::start(data.path(), &smtp.url());
    let client = reqwest::Client::new();
    let subscribe = |body: Value| {
        client
            .post(format!("{}/api/subscriptions", server.base))
            .json(&body)
            .send()
    };

    // Subscribing: accepted, and the confirmation mail arrives.
    let answer = subscribe(serde_json::json!({
        "email": " Ada@Example.org ",
        "topics": TOPICS,
        "frequency": "daily",
    }))
    .await
    .unwrap();
    assert_eq!(answer.status(), 202);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    wait_for("the confirmation mail", Duration::from_secs(20), || {
        smtp.count() == 1
    });
    let confirmation = &smtp.parsed()[0];
    assert_eq!(confirmation["recipients"][0], "ada@example.org");
    assert_eq!(
        header(confirmation, "Subject"),
        "Confirm your Paperboy digest"
    );
    let text = confirmation["text"].as_str().unwrap();
    assert!(text.contains("coding agents for software engineering; video generation"));
    let link = link_after(text, &format!("{}/subscriptions/confirm/", server.base)).to_owned();
    assert!(
        confirmation["html"].as_str().unwrap().contains(&link),
        "the HTML part carries the same link"
    );

    // Asking again, or with bad input: the same answer, or a clear 400; no second mail (the
    // address may get one confirmation a minute).
    for _ in 0..2 {
        let again = subscribe(serde_json::json!({"email": "ada@example.org"}))
            .await
            .unwrap();
        assert_eq!(again.status(), 202);
    }
    let injected = subscribe(serde_json::json!({
        "email": "eve@example.org",
        "topics": ["graphs\r\nBcc: everyone@example.org"],
    }))
    .await
    .unwrap();
    assert_eq!(injected.status(), 400);
    let error: Value = injected.json().await.unwrap();
    assert_eq!(error["code"], "bad_request");
    for bad in [
        serde_json::json!({"email": "not an address"}),
        serde_json::json!({"email": "ada@example.org", "frequency": "hourly"}),
        serde_json::json!({"email": "ada@example.org", "categories": ["cs.NOPE"]}),
        serde_json::json!({"topics": ["no address"]}),
    ] {
        let answer = subscribe(bad.clone()).await.unwrap();
        assert_eq!(answer.status(), 400, "{bad}");
    }
    let cross_site = client
        .post(format!("{}/subscribe", server.base))
        .header("origin", "https://evil.example")
        .form(&[("email", "mallory@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);

    // Following the link: a page with a button (mail scanners only GET), which confirms once.
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Confirm my subscription")
    );
    let confirmed = client
        .post(&link)
        .header("origin", &server.base)
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("You are subscribed")
    );
    let reused = client.post(&link).send().await.unwrap();
    assert_eq!(reused.status(), 410);
    let forged = format!(
        "{}/subscriptions/confirm/{}",
        server.base,
        Token::generate().unwrap().as_str()
    );
    assert_eq!(client.post(&forged).send().await.unwrap().status(), 404);
    let cut = &link[..link.len() - 3];
    assert_eq!(client.post(cut).send().await.unwrap().status(), 404);
    assert_eq!(smtp.count(), 1, "only one confirmation mail went out");

    // The digest for the newest day: trending, then a section per topic.
    let (status, stdout, stderr) = output(&mut digest_run(data.path(), &smtp.url(), "2026-08-21"));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 due, 1 queued"), "{stdout}");
    assert_eq!(smtp.count(), 2);
    let digest = &smtp.parsed()[1];
    assert_eq!(
        digest["types"],
        serde_json::json!(["multipart/alternative", "text/plain", "text/html"])
    );
    let unsubscribe = header(digest, "List-Unsubscribe");
    assert!(unsubscribe.starts_with("<http://papers.example.org/subscription/"));
    assert_eq!(
        header(digest, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert!(header(digest, "Message-ID").ends_with("@papers.example.org>"));
    assert!(!header(digest, "Date").is_empty());
    let subject = header(digest, "Subject");
    assert!(
        subject.starts_with("Paperboy 21 Aug: ") && subject.contains("new on"),
        "{subject}"
    );
    let text = digest["text"].as_str().unwrap();
    assert!(text.contains("TRENDING"), "{text}");
    for topic in TOPICS {
        assert!(
            text.contains(&format!("NEW ON \u{201c}{}\u{201d}", topic.to_uppercase())),
            "no section for {topic}:\n{text}"
        );
    }
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|word| word.starts_with("http://papers.example.org/papers/"))
        .collect();
    let unique: HashSet<&&str> = links.iter().collect();
    assert!(links.len() > 5, "{text}");
    assert_eq!(
        unique.len(),
        links.len(),
        "a paper twice in one digest:\n{text}"
    );
    let html = digest["html"].as_str().unwrap();
    for link in &links {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "{link} not in the HTML"
        );
    }

    // Running again for the same day sends nothing more.
    let (status, stdout, _) = output(&mut digest_run(data.path(), &smtp.url(), "2026-08-21"));
    assert_eq!(status, 0);
    assert!(stdout.contains("0 due, 0 queued"), "{stdout}");
    assert_eq!(smtp.count(), 2);

    // The preview for the same day shows what is still trending, marked so, and nothing else
    // again.
    let (status, preview, stderr) = output(paperboy(data.path()).args([
        "digest",
        "preview",
        "ada@example.org",
        "--date",
        "2026-08-21",
    ]));
    assert_eq!(status, 0, "{stderr}");
    assert!(preview.contains("(still trending)"), "{preview}");
    assert!(!preview.contains("NEW ON"), "{preview}");
    // Ranked by this site's readers' votes alone (nobody here voted), nothing is trending.
    let (status, own, stderr) = output(paperboy(data.path()).args([
        "digest",
        "preview",
        "ada@example.org",
        "--date",
        "2026-08-21",
        "--digest-trending",
        "here",
    ]));
    assert_eq!(status, 0, "{stderr}");
    assert!(!own.contains("TRENDING"), "{own}");

    // One click (RFC 8058), the way a mail provider sends it, from the header's URL.
    let url = unsubscribe
        .trim_matches(['<', '>'])
        .replace("http://papers.example.org", &server.base);
    let manage = client.get(&url).send().await.unwrap();
    assert_eq!(manage.status(), 200);
    assert!(manage.text().await.unwrap().contains("video generation"));
    // The same page changes topics and frequency.
    let saved = client
        .post(format!("{url}/preferences"))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("topics", "protein folding\r\nvideo generation"),
            ("categories", "cs.CV, cs"),
            ("frequency", "weekly"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    assert!(saved.text().await.unwrap().contains("Saved"));
    let refused = client
        .post(format!("{url}/preferences"))
        .form(&[("categories", "cs.NOPE")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let (_, listed, _) = output(paperboy(data.path()).args(["subscribers", "list", "--json"]));
    let subscriber: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        subscriber["topics"],
        serde_json::json!(["protein folding", "video generation"])
    );
    assert_eq!(subscriber["categories"], serde_json::json!(["cs.CV", "cs"]));
    assert_eq!(subscriber["frequency"], "weekly");
    let left = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    assert!(left.text().await.unwrap().contains("You are unsubscribed"));
    let (_, listed, _) = output(paperboy(data.path()).args(["subscribers", "list", "--json"]));
    let subscriber: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(subscriber["state"], "unsubscribed");
    // A link for another subscriber cannot be made by changing this one.
    let mut forged = url.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(client.get(&forged).send().await.unwrap().status(), 404);

    // The form on every page, as a browser sends it.
    let page = client
        .post(format!("{}/subscribe", server.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("email", "bob@example.org"),
            ("topics", "graph neural networks"),
            ("frequency", "weekly"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Check your inbox"));
    wait_for("Bob's confirmation mail", Duration::from_secs(20), || {
        smtp.count() == 3
    });
    assert_eq!(smtp.parsed()[2]["recipients"][0], "bob@example.org");
}

/// Adds `count` confirmed subscribers, each following one of [`TOPICS`].
async fn confirmed_subscribers(data: &Path, count: usize) -> Vec<String> {
    let store = SqliteStore::open(&data.join("paperboy.sqlite3"))
        .await
        .unwrap();
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

/// Digests received per recipient, as the Message-IDs of each copy.
fn digests_by_recipient(servers: &[&SmtpServer]) -> HashMap<String, Vec<String>> {
    let mut received: HashMap<String, Vec<String>> = HashMap::new();
    for server in servers {
        for message in server.parsed() {
            received
                .entry(message["recipients"][0].as_str().unwrap().to_owned())
                .or_default()
                .push(header(&message, "Message-ID").to_owned());
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_server_that_is_down_loses_nothing_and_sends_nothing_twice() {
    let data = data_folder();
    let addresses = confirmed_subscribers(data.path(), 20).await;
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");

    let (status, stdout, stderr) = output(&mut digest_run(data.path(), &url, "2026-08-21"));
    assert_eq!(status, 1, "{stdout}{stderr}");
    assert!(stdout.contains("20 queued"), "{stdout}");
    assert!(stderr.contains("deferred messages stay queued"), "{stderr}");

    let smtp = SmtpServer::start_on(Some(port));
    let (status, stdout, stderr) = output(&mut digest_run(data.path(), &url, "2026-08-21"));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("0 queued") && stdout.contains("20 sent"),
        "{stdout}"
    );
    let received = digests_by_recipient(&[&smtp]);
    assert_eq!(received.len(), 20);
    for address in &addresses {
        assert_eq!(received[address].len(), 1, "{address}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_mid_send_then_restarted_gives_everyone_their_digest() {
    const SUBSCRIBERS: usize = 1_000;
    let data = data_folder();
    let addresses = confirmed_subscribers(data.path(), SUBSCRIBERS).await;
    let smtp = SmtpServer::start();

    let mut run = digest_run(data.path(), &smtp.url(), "2026-08-21")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("some digests to go out", Duration::from_secs(300), || {
        smtp.count() >= SUBSCRIBERS / 3
    });
    // Then at a moment not tied to a delivery: anywhere in the next 30 ms.
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(Duration::from_micros(u64::from(jitter % 30_000)));
    // SIGKILL: no chance to finish the message in flight or record anything.
    run.kill().unwrap();
    run.wait().unwrap();
    let before_restart = smtp.count();
    assert!(
        before_restart < SUBSCRIBERS,
        "the run finished before the kill"
    );

    let (status, stdout, stderr) = output(&mut digest_run(data.path(), &smtp.url(), "2026-08-21"));
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("0 queued"), "composed again: {stdout}");

    let received = digests_by_recipient(&[&smtp]);
    assert_eq!(received.len(), SUBSCRIBERS, "everyone got a digest");
    let mut repeated = 0;
    for address in &addresses {
        let copies = &received[address];
        let ids: HashSet<&String> = copies.iter().collect();
        assert_eq!(ids.len(), 1, "{address} got two different digests");
        repeated += copies.len() - 1;
    }
    // Only the messages in flight when the process died can go twice (the server may have
    // accepted one before the process could record so), and they go with the same Message-ID.
    assert!(
        repeated <= paperboy_digest::deliver::CONNECTIONS,
        "{repeated} digests repeated"
    );
    eprintln!(
        "killed after {before_restart} of {SUBSCRIBERS} digests; {repeated} repeated after the restart"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_with_sigterm_records_what_it_sent_and_sends_nothing_twice() {
    const SUBSCRIBERS: usize = 300;
    let data = data_folder();
    let addresses = confirmed_subscribers(data.path(), SUBSCRIBERS).await;
    let smtp = SmtpServer::start();
    let run = digest_run(data.path(), &smtp.url(), "2026-08-21")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("some digests to go out", Duration::from_secs(300), || {
        smtp.count() >= 30
    });
    let stopping = std::time::Instant::now();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let ended = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert_eq!(ended.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Stopped by a signal"), "{stderr}");
    assert!(stopping.elapsed() < Duration::from_secs(30));
    let before_restart = smtp.count();

    let (status, stdout, stderr) = output(&mut digest_run(data.path(), &smtp.url(), "2026-08-21"));
    assert_eq!(status, 0, "{stdout}{stderr}");
    let received = digests_by_recipient(&[&smtp]);
    assert_eq!(received.len(), SUBSCRIBERS, "everyone got a digest");
    for address in &addresses {
        assert_eq!(received[address].len(), 1, "{address} got a copy twice");
    }
    eprintln!("stopped after {before_restart} of {SUBSCRIBERS} digests; none repeated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_closed_after_people_subscribed_mails_only_those_it_still_admits() {
    let data = data_folder();
    let addresses = confirmed_subscribers(data.path(), 4).await;
    let smtp = SmtpServer::start();
    // Invited from the command line: the account is made and a sign-in link is mailed.
    let (status, stdout, stderr) = output(
        paperboy(data.path())
            .args(["users", "invite", &addresses[1], "--smtp-url", &smtp.url()])
            .args(["--public-url", "http://papers.example.org"])
            .args(["--mail-from", "digest@papers.example.org"]),
    );
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("a sign-in link was sent"), "{stdout}");
    wait_for("the invitation", Duration::from_secs(20), || {
        smtp.count() == 1
    });
    let invitation = &smtp.parsed()[0];
    assert_eq!(invitation["recipients"][0], addresses[1].as_str());
    assert!(
        invitation["text"]
            .as_str()
            .unwrap()
            .contains("http://papers.example.org/signin/"),
        "{invitation}"
    );

    // Only the invited subscriber is still admitted once the site takes lab.example only.
    let (status, stdout, stderr) = output(
        digest_run(data.path(), &smtp.url(), "2026-08-21")
            .args(["--allowed-email-domains", "lab.example"]),
    );
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("4 due, 1 queued"), "{stdout}");
    assert!(stdout.contains("Left out 3 subscriber(s)"), "{stdout}");
    wait_for("the digest", Duration::from_secs(20), || smtp.count() == 2);
    let received = digests_by_recipient(&[&smtp]);
    assert_eq!(received[&addresses[1]].len(), 2, "the link and the digest");
    assert_eq!(received.len(), 1, "{received:?}");

    // Invite-only admits the invited subscriber alone too; opened again, the others get theirs.
    let (status, stdout, _) =
        output(digest_run(data.path(), &smtp.url(), "2026-08-21").arg("--invite-only"));
    assert_eq!(status, 0);
    assert!(stdout.contains("3 due, 0 queued"), "{stdout}");
    let (status, stdout, _) = output(&mut digest_run(data.path(), &smtp.url(), "2026-08-21"));
    assert_eq!(status, 0);
    assert!(stdout.contains("3 due, 3 queued"), "{stdout}");
    wait_for("the other digests", Duration::from_secs(20), || {
        smtp.count() == 5
    });
    assert_eq!(digests_by_recipient(&[&smtp]).len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscribers_folder_is_a_section_of_their_digest_with_links_to_rate_its_papers() {
    use paperboy_store::folder::{NewFolder, Rated};
    use paperboy_store::{AccountStore, FolderStore, PaperStore};

    let data = data_folder();
    let addresses = confirmed_subscribers(data.path(), 1).await;
    let store = SqliteStore::open(&data.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    let now = Utc::now();
    let user = store
        .add_user(&addresses[0].parse().unwrap(), false, now)
        .await
        .unwrap();
    let NewFolder::Made(folder) = store
        .add_folder(user.id, "coding agents", now)
        .await
        .unwrap()
    else {
        panic!("no folder");
    };
    // Every paper but the digest day's is rated, the coding agents relevant: so the background
    // the folder is measured against is the digest's day, whose best match is called relevant
    // (it is closer than all but 1 % of the background).
    let query = |day: Option<&str>| paperboy_store::PaperQuery {
        from: day.map(|day| day.parse().unwrap()),
        until: day.map(|day| day.parse().unwrap()),
        category: None,
        limit: 1_000,
        offset: 0,
    };
    let digest_day: Vec<_> = store
        .list_papers(&query(Some("2026-08-21")))
        .await
        .unwrap()
        .iter()
        .map(|paper| paper.id)
        .collect();
    let rated: Vec<_> = store
        .list_papers(&query(None))
        .await
        .unwrap()
        .into_iter()
        .filter(|paper| !digest_day.contains(&paper.id))
        .collect();
    assert!(rated.len() > 10);
    for paper in &rated {
        let title = paper.record.title.to_lowercase();
        let relevant = ["agent", "code", "tool"]
            .iter()
            .any(|word| title.contains(word));
        assert_eq!(
            store
                .rate(user.id, folder.id, paper.id, Some(relevant), now)
                .await
                .unwrap(),
            Rated::Done
        );
    }
    store.close().await;

    // Ranked by this site's votes, of which there are none, no paper is trending: the day's
    // best match is not shown above the folder's section already.
    let (status, preview, stderr) = output(paperboy(data.path()).args([
        "digest",
        "preview",
        &addresses[0],
        "--date",
        "2026-08-21",
        "--digest-trending",
        "here",
    ]));
    assert_eq!(status, 0, "{stderr}");
    let section = preview
        .split("IN YOUR FOLDER \u{201c}CODING AGENTS\u{201d}")
        .nth(1)
        .unwrap_or_else(|| panic!("no folder section in:\n{preview}\n{stderr}"));
    let rate_link = format!("/folders/{}/rate?paper=", folder.id);
    assert!(section.contains(&rate_link), "{section}");
    assert!(
        rated
            .iter()
            .filter_map(|paper| paper.record.arxiv_id.as_ref())
            .all(|id| !section.contains(id.as_str())),
        "rated papers are not recommended: {section}"
    );
}
