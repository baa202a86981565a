//! `paperboy serve`: the website and API, ready on a fresh data folder. An empty store gets the
//! demo papers and a missing search index is built first, so the README's one command is all a
//! new user runs. While it serves, it also composes the digests and harvests new papers on a
//! schedule ([`digests`], [`harvests`]).

mod digests;
mod follow;
mod harvests;
mod leader;

use std::sync::Arc;

use anyhow::Context as _;
use paperboy_digest::compose::Schedule;
use paperboy_digest::deliver::run_worker;
use paperboy_search::{LiveSearcher, SearchIndex};
use paperboy_web::{AccessPolicy, AppState, Subscriptions};
use tokio::sync::{Notify, watch};

use crate::Outcome;
use crate::cli::ServeArgs;
use crate::commands::demo;
use crate::context::Context;
use crate::index;
use crate::shutdown::shutdown_requested;

pub(crate) async fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<Outcome> {
    let ServeArgs {
        listen,
        site,
        access,
        mail,
        harvest: harvest_schedule,
    } = args;
    let store = Arc::clone(&ctx.store);
    let membership = access.membership.membership();
    if store.count_papers().await? == 0 {
        eprintln!("The data folder has no papers yet: importing the demo papers.");
        demo::import(&*store).await?;
        index::rebuild(ctx).await?;
    } else if SearchIndex::is_outdated(&ctx.data_dir.index()) {
        eprintln!(
            "The search index was written by an earlier version (vectors not mapped): building it \
             again from the stored embeddings."
        );
        index::rebuild(ctx).await?;
    } else if !SearchIndex::exists(&ctx.data_dir.index()) {
        eprintln!(
            "There is no search index yet (or only one from before sentence vectors): building it."
        );
        index::rebuild(ctx).await?;
    }
    let searcher = Arc::new(LiveSearcher::new(ctx.searcher(true).await?));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let transport = mail.transport(&ctx.data_dir)?;
    let mailer = mail.mailer(&*store, &format!("http://{address}")).await?;
    let wake = Arc::new(Notify::new());
    let (stop_worker, worker_stop) = watch::channel(false);
    let (stop_election, election_stop) = watch::channel(false);
    let (leadership, election) =
        leader::elect(Arc::clone(&store), leader::node_name(), election_stop);
    let worker = tokio::spawn(run_worker(
        Arc::clone(&store),
        transport.clone(),
        Arc::clone(&wake),
        worker_stop,
    ));
    let (stop_follower, follower_stop) = watch::channel(false);
    let follower = {
        let (store, searcher, leadership) = (
            Arc::clone(&store),
            Arc::clone(&searcher),
            leadership.clone(),
        );
        let index_dir = ctx.data_dir.index();
        tokio::spawn(async move {
            follow::run(store, searcher, &index_dir, leadership, follower_stop).await;
        })
    };
    tokio::spawn(digests::run_schedule(
        Arc::clone(&store),
        Arc::clone(&searcher),
        mailer.clone(),
        Schedule {
            membership: membership.clone(),
            ..mail.schedule()
        },
        mail.digest_time,
        Arc::clone(&wake),
        leadership.clone(),
    ));
    if !harvest_schedule.no_harvest {
        tokio::spawn(harvests::run_schedule(
            Arc::clone(&store),
            Arc::clone(&searcher),
            harvest_schedule.clone(),
            leadership,
        ));
    }
    println!(
        "Serving {} papers on http://{address} (Ctrl-C to stop)",
        store.count_papers().await?,
    );
    match &transport {
        paperboy_mail::Transport::Files(dir) => println!(
            "Mail (confirmations, digests at {} UTC) is written to {} (set --smtp-url to send it).",
            mail.digest_time.format("%H:%M"),
            dir.display()
        ),
        paperboy_mail::Transport::Smtp(_) => println!(
            "Digests go out over SMTP at {} UTC.",
            mail.digest_time.format("%H:%M")
        ),
    }
    if harvest_schedule.no_harvest {
        println!("Nothing is harvested on a schedule (--no-harvest).");
    } else {
        println!(
            "New papers are harvested at {} UTC daily: arXiv {} and the Hugging Face list.",
            harvest_schedule.harvest_time.format("%H:%M"),
            harvest_schedule.harvest_sets.join(", ")
        );
    }
    let limits = paperboy_web::ServerLimits {
        max_connections: fitting_open_files(site.max_connections as usize),
        max_connections_per_client: site.max_connections_per_client as usize,
        ..paperboy_web::ServerLimits::default()
    };
    let mut state = AppState::new(store, searcher, Subscriptions::new(mailer, wake))
        .with_trusted_proxies(site.trusted_proxies.clone())
        .with_limits(limits)
        .with_max_queued_searches(site.max_queued_searches as usize)
        .with_access_policy({
            let policy = AccessPolicy::new(membership.clone());
            if access.private {
                println!("Reading: signed-in readers only.");
                policy.private()
            } else {
                policy
            }
        });
    if let Some(who) = membership.who() {
        println!("Sign-in and the digest are {who}.");
    }
    let (stop_site, site_stop) = watch::channel(false);
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let metrics = match site.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for /metrics"))?;
            println!("Metrics are at http://{}/metrics.", listener.local_addr()?);
            state = state.with_metrics_elsewhere();
            Some(tokio::spawn(paperboy_web::serve_metrics(
                listener,
                state.clone(),
                stopped(site_stop.clone()),
            )))
        }
        None => None,
    };
    let serving = paperboy_web::serve(listener, state, stopped(site_stop));
    tokio::pin!(serving);
    let served = tokio::select! {
        served = &mut serving => served,
        () = shutdown_requested() => {
            eprintln!("Stopping: finishing the requests and mail in flight.");
            let _ = stop_site.send(true);
            serving.await
        }
    };
    let _ = stop_follower.send(true);
    let _ = follower.await;
    // Another node takes over the schedules at once.
    let _ = stop_election.send(true);
    let _ = election.await;
    // No more mail is claimed; what is being sent is recorded, so none goes out twice.
    let _ = stop_worker.send(true);
    if tokio::time::timeout(std::time::Duration::from_secs(30), worker)
        .await
        .is_err()
    {
        tracing::warn!("mail still being sent after 30 s was cut off; it will be retried");
    }
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served?;
    eprintln!("Stopped.");
    Ok(Outcome::Success)
}

/// The connection cap, lowered so that connections cannot use up the open-file limit that the
/// database, the index and the mail connections need too.
fn fitting_open_files(asked: usize) -> usize {
    const KEPT_FOR_FILES: usize = 128;
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        });
    match soft_limit {
        Some(limit) if limit.saturating_sub(KEPT_FOR_FILES) < asked => {
            let fitting = limit.saturating_sub(KEPT_FOR_FILES).max(16);
            eprintln!(
                "Serving at most {fitting} connections at once: the open-file limit (ulimit -n) is {limit}."
            );
            fitting
        }
        _ => asked,
    }
}
