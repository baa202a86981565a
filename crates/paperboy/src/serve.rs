//! `paperboy serve`: the website and API, ready on a fresh data folder. An empty store gets the
//! demo papers and a missing search index is built first, so the README's one command is all a
//! new user runs.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use paperboy_digest::deliver::run_worker;
use paperboy_search::{LiveSearcher, SearchIndex};
use paperboy_store::Store;
use paperboy_web::{AppState, Subscriptions};
use tokio::sync::{Notify, watch};

use crate::cli::{Cli, HarvestSchedule, MailArgs, SiteArgs};
use crate::search::{index_dir, open_searcher, reindex};
use crate::{Outcome, demo, digest, harvest};

pub(crate) async fn run(
    store: Arc<dyn Store>,
    cli: &Cli,
    listen: SocketAddr,
    site: &SiteArgs,
    mail: &MailArgs,
    harvest_schedule: &HarvestSchedule,
) -> anyhow::Result<Outcome> {
    let dir = index_dir(&cli.data_dir);
    if store.count_papers().await? == 0 {
        eprintln!("The data folder has no papers yet: importing the demo papers.");
        demo::run(&*store).await?;
        reindex(&*store, cli.model()?, &cli.data_dir).await?;
    } else if !SearchIndex::exists(&dir) {
        eprintln!(
            "There is no search index yet (or only one from before sentence vectors): building it."
        );
        reindex(&*store, cli.model()?, &cli.data_dir).await?;
    }
    let searcher = Arc::new(LiveSearcher::new(open_searcher(cli, true).await?));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let transport = digest::transport(cli, mail)?;
    let mailer = digest::mailer(&*store, mail, &format!("http://{address}")).await?;
    let wake = Arc::new(Notify::new());
    let (stop_worker, worker_stop) = watch::channel(false);
    let worker = tokio::spawn(run_worker(
        Arc::clone(&store),
        transport.clone(),
        Arc::clone(&wake),
        worker_stop,
    ));
    tokio::spawn(digest::run_schedule(
        Arc::clone(&store),
        Arc::clone(&searcher),
        index_dir(&cli.data_dir),
        mailer.clone(),
        digest::schedule(mail),
        mail.digest_time,
        Arc::clone(&wake),
    ));
    if !harvest_schedule.no_harvest {
        tokio::spawn(harvest::run_schedule(
            Arc::clone(&store),
            Arc::clone(&searcher),
            cli.data_dir.clone(),
            harvest_schedule.clone(),
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
        .with_max_queued_searches(site.max_queued_searches as usize);
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

/// Completes on Ctrl-C or SIGTERM; requests in flight are then finished before exiting.
pub(crate) async fn shutdown_requested() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
