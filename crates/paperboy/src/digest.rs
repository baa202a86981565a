//! `paperboy digest` and `paperboy subscribers`, and the digest schedule `serve` runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, Utc};
use paperboy_core::EmailAddress;
use paperboy_digest::Mailer;
use paperboy_digest::compose::{Schedule, compose, preview as compose_preview};
use paperboy_digest::deliver::{DeliveryReport, LEASE, deliver_due_unless};
use paperboy_mail::{Sender, Transport};
use paperboy_search::{LiveSearcher, SearchIndex, Searcher};
use paperboy_store::Store;
use tokio::sync::Notify;

use crate::Outcome;
use crate::cli::{Cli, MailArgs};
use crate::search::open_searcher;

/// Where mail goes: SMTP when a URL is given, else `.eml` files in the data folder.
pub(crate) fn transport(cli: &Cli, mail: &MailArgs) -> anyhow::Result<Transport> {
    match &mail.smtp_url {
        Some(url) => Ok(Transport::smtp(url)?),
        None => Ok(Transport::files(cli.data_dir.join("mail"))),
    }
}

/// What rendering mail needs; `default_url` when no public URL is configured.
pub(crate) async fn mailer(
    store: &dyn Store,
    mail: &MailArgs,
    default_url: &str,
) -> anyhow::Result<Mailer> {
    let from: EmailAddress = mail
        .mail_from
        .parse()
        .context("--mail-from is not usable as a sender")?;
    let sender = Sender::new(&mail.mail_from_name, from)?;
    let public_url = mail.public_url.as_deref().unwrap_or(default_url);
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("--public-url must start with http:// or https://");
    }
    Ok(Mailer::new(store, sender, public_url).await?)
}

pub(crate) fn schedule(mail: &MailArgs) -> Schedule {
    Schedule {
        weekly_on: mail.digest_weekday,
        send_empty: mail.send_empty_digests,
    }
}

const OFFLINE_URL: &str = "http://127.0.0.1:8080";

pub(crate) async fn preview(
    store: &dyn Store,
    cli: &Cli,
    email: &str,
    date: Option<NaiveDate>,
    mail: &MailArgs,
) -> anyhow::Result<Outcome> {
    let email: EmailAddress = email.parse()?;
    let mailer = mailer(store, mail, OFFLINE_URL).await?;
    let searcher = open_searcher(cli, true).await?;
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    let Some(digest) =
        compose_preview(store, &searcher, &mailer, schedule(mail), &email, date).await?
    else {
        bail!("{} is not subscribed", email.masked());
    };
    println!("Subject: {}\n\n{}", digest.subject, digest.text);
    Ok(Outcome::Success)
}

pub(crate) async fn run(
    store: &dyn Store,
    cli: &Cli,
    date: Option<NaiveDate>,
    queue_only: bool,
    mail: &MailArgs,
) -> anyhow::Result<Outcome> {
    let transport = transport(cli, mail)?;
    let mailer = mailer(store, mail, OFFLINE_URL).await?;
    let searcher = open_searcher(cli, true).await?;
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    let report = compose(store, &searcher, &mailer, schedule(mail), date, Utc::now()).await?;
    println!(
        "Digests for {date}: {} due, {} queued, {} with nothing new (not sent).",
        report.due, report.queued, report.empty
    );
    if report.forgotten > 0 {
        println!(
            "Forgot {} address(es) that nobody confirmed.",
            report.forgotten
        );
    }
    if queue_only {
        return Ok(Outcome::Success);
    }
    // Run by hand or from cron, this is the retry: messages waiting out a backoff go now.
    store.retry_queued_now(Utc::now()).await?;
    // From here a SIGTERM or Ctrl-C stops the sending between messages: each message being sent
    // is recorded first, so a stopped run sends nothing twice. (Until here the default, exiting
    // at once, loses nothing: composing is one transaction per subscriber.)
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::serve::shutdown_requested().await;
        let _ = stop.send(true);
    });
    let stopping = {
        let stopped = stopped.clone();
        move || *stopped.borrow()
    };
    let mut delivered = DeliveryReport::default();
    loop {
        let pass = deliver_due_unless(store, &transport, &stopping).await?;
        delivered += pass;
        if stopping() || pass.deferred > 0 {
            break;
        }
        // Messages still claimed by a run that stopped mid-send (killed, crashed) come back
        // when their lease ends; wait for them rather than leave them for the next run.
        let summary = store.outbox_summary().await?;
        let Some(due) = summary.next_due.filter(|_| summary.queued > 0) else {
            break;
        };
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if wait > LEASE + Duration::from_secs(5) {
            break;
        }
        eprintln!(
            "Waiting {} s for {} message(s) claimed by a run that stopped before finishing…",
            wait.as_secs(),
            summary.queued
        );
        let mut woken = stopped.clone();
        tokio::select! {
            () = tokio::time::sleep(wait + Duration::from_millis(100)) => {}
            _ = woken.changed() => {}
        }
    }
    println!(
        "Mail: {} sent, {} deferred, {} failed.",
        delivered.sent, delivered.deferred, delivered.failed
    );
    if stopping() {
        eprintln!("Stopped by a signal: the mail not yet sent stays queued for the next run.");
        return Ok(Outcome::Partial);
    }
    if delivered.deferred > 0 || delivered.failed > 0 {
        eprintln!(
            "Some mail did not go out (the server's reasons are in the log above); deferred \
             messages stay queued and go out on the next run or from `paperboy serve`."
        );
        return Ok(Outcome::Partial);
    }
    Ok(Outcome::Success)
}

pub(crate) async fn list_subscribers(store: &dyn Store, json: bool) -> anyhow::Result<Outcome> {
    const PAGE: u32 = 1_000;
    let mut after = None;
    loop {
        let page = store.subscribers_after(after, None, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for subscriber in page {
            let preferences = &subscriber.preferences;
            if json {
                let line = serde_json::json!({
                    "id": subscriber.id.0,
                    "email": subscriber.email.as_str(),
                    "state": subscriber.state.as_str(),
                    "frequency": preferences.frequency().as_str(),
                    "topics": preferences.topics(),
                    "categories": preferences.categories(),
                    "created_at": subscriber.created_at.to_rfc3339(),
                    "last_digest": subscriber.last_digest_period,
                });
                println!("{line}");
            } else {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    subscriber.email.as_str(),
                    subscriber.state.as_str(),
                    preferences.frequency().as_str(),
                    preferences.topics().join("; "),
                    preferences.categories().join(","),
                );
            }
        }
    }
    Ok(Outcome::Success)
}

pub(crate) async fn remove_subscriber(store: &dyn Store, email: &str) -> anyhow::Result<Outcome> {
    let email: EmailAddress = email.parse()?;
    if store.remove_subscriber(&email).await? {
        println!("Removed {} and everything kept about them.", email.masked());
        Ok(Outcome::Success)
    } else {
        bail!("{} is not subscribed", email.masked())
    }
}

/// Composes the day's digests at the configured time (and at start-up, if that time has
/// passed and the day's digests are not all queued: composing is idempotent), then wakes the
/// outbox worker. The search index is read afresh from `index_dir` first, so that papers
/// imported since the server started are matched to topics before the digest moves past them
/// (and the site answers from it from then on).
pub(crate) async fn run_schedule(
    store: Arc<dyn Store>,
    live: Arc<LiveSearcher>,
    index_dir: PathBuf,
    mailer: Mailer,
    mail_schedule: Schedule,
    at: chrono::NaiveTime,
    wake: Arc<Notify>,
) {
    let mut done: Option<NaiveDate> = None;
    loop {
        let now = Utc::now();
        let today = now.date_naive();
        let due_at = today.and_time(at).and_utc();
        if now >= due_at && done != Some(today) {
            let loaded = live.current();
            let searcher = match fresh_searcher(&index_dir, &loaded).await {
                Ok(fresh) => {
                    // The site answers from the fresh index too.
                    live.replace(fresh.clone());
                    fresh
                }
                Err(error) => {
                    tracing::warn!(%error, "rereading the search index failed; using the one loaded");
                    Searcher::clone(&loaded)
                }
            };
            match compose(&*store, &searcher, &mailer, mail_schedule, today, now).await {
                Ok(_) => {
                    done = Some(today);
                    wake.notify_one();
                }
                Err(error) => {
                    tracing::error!(%error, "composing digests failed; retrying in 10 minutes")
                }
            }
        }
        let next = if done == Some(today) {
            due_at + chrono::Duration::days(1)
        } else {
            due_at.max(now + chrono::Duration::minutes(10))
        };
        // Woken at least hourly, so a changed clock never delays the run by more.
        let wait = (next - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600));
        tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
    }
}

/// A searcher over the index as it is on disk now, with `loaded`'s embedding model.
async fn fresh_searcher(index_dir: &Path, loaded: &Searcher) -> anyhow::Result<Searcher> {
    let dir = index_dir.to_path_buf();
    let index = tokio::task::spawn_blocking(move || SearchIndex::open(&dir)).await??;
    Ok(Searcher::new(Arc::new(index), loaded.embedder().cloned()))
}
