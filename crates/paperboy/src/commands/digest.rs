//! `paperboy digest preview|run`: the email digest composed, previewed and sent by hand or from
//! cron. (The schedule inside `serve` is in [`crate::commands::serve`].)

use std::time::Duration;

use anyhow::bail;
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_digest::compose::{Schedule, compose, preview as compose_preview};
use paperboy_digest::deliver::{DeliveryReport, LEASE, deliver_due_unless};

use crate::Outcome;
use crate::cli::{DigestCommand, DigestPreviewArgs, DigestRunArgs};
use crate::context::Context;
use crate::mail::OFFLINE_URL;
use crate::shutdown::shutdown_requested;

pub(crate) async fn run(ctx: &Context, command: &DigestCommand) -> anyhow::Result<Outcome> {
    match command {
        DigestCommand::Preview(args) => preview(ctx, args).await,
        DigestCommand::Run(args) => send(ctx, args).await,
    }
}

/// `paperboy digest preview`.
async fn preview(ctx: &Context, args: &DigestPreviewArgs) -> anyhow::Result<Outcome> {
    let store = ctx.store();
    let email: EmailAddress = args.email.parse()?;
    let mailer = args.mail.mailer(store, OFFLINE_URL).await?;
    let searcher = ctx.searcher(true).await?;
    let date = args.date.unwrap_or_else(|| Utc::now().date_naive());
    let schedule = args.mail.schedule();
    let Some(digest) = compose_preview(store, &searcher, &mailer, schedule, &email, date).await?
    else {
        bail!("{} is not subscribed", email.masked());
    };
    println!("Subject: {}\n\n{}", digest.subject, digest.text);
    Ok(Outcome::Success)
}

/// `paperboy digest run`.
async fn send(ctx: &Context, args: &DigestRunArgs) -> anyhow::Result<Outcome> {
    let store = ctx.store();
    let transport = args.mail.transport(&ctx.data_dir)?;
    let mailer = args.mail.mailer(store, OFFLINE_URL).await?;
    let searcher = ctx.searcher(true).await?;
    let date = args.date.unwrap_or_else(|| Utc::now().date_naive());
    let schedule = Schedule {
        membership: args.membership.membership(),
        ..args.mail.schedule()
    };
    let report = compose(store, &searcher, &mailer, schedule, date, Utc::now()).await?;
    println!(
        "Digests for {date}: {} due, {} queued, {} with nothing new (not sent).",
        report.due, report.queued, report.empty
    );
    if report.refused > 0 {
        println!(
            "Left out {} subscriber(s) the site no longer admits (--allowed-email-domains, --invite-only).",
            report.refused
        );
    }
    if report.forgotten > 0 {
        println!(
            "Forgot {} address(es) that nobody confirmed.",
            report.forgotten
        );
    }
    if args.queue_only {
        return Ok(Outcome::Success);
    }
    // Run by hand or from cron, this is the retry: messages waiting out a backoff go now.
    store.retry_queued_now(Utc::now()).await?;
    // From here a SIGTERM or Ctrl-C stops the sending between messages: each message being sent
    // is recorded first, so a stopped run sends nothing twice. (Until here the default, exiting
    // at once, loses nothing: composing is one transaction per subscriber.)
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_requested().await;
        let _ = stop.send(true);
    });
    let stopping = {
        let stopped = stopped.clone();
        move || *stopped.borrow()
    };
    let mut delivered = DeliveryReport::default();
    let mut told = false;
    loop {
        let pass = deliver_due_unless(store, &transport, &stopping).await?;
        delivered += pass;
        if stopping() || pass.deferred > 0 {
            break;
        }
        // Messages claimed by another process: a `serve` node sending them now, or a run that
        // stopped mid-send (killed, crashed), whose messages come back when their lease ends.
        // Wait for them rather than leave them for the next run, looking again each second: a
        // node records its messages sent long before their leases end.
        let summary = store.outbox_summary().await?;
        let Some(due) = summary.next_due.filter(|_| summary.queued > 0) else {
            break;
        };
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if wait > LEASE + Duration::from_secs(5) {
            break;
        }
        if !told {
            eprintln!(
                "Waiting up to {} s for {} message(s) claimed by another process (a node \
                 sending them, or a run that stopped before finishing)…",
                wait.as_secs(),
                summary.queued
            );
            told = true;
        }
        let nap = wait.min(Duration::from_secs(1)) + Duration::from_millis(100);
        let mut woken = stopped.clone();
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
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
