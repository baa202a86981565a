//! `paperboy serve`: the website and API, ready on a fresh data folder. An empty store gets the
//! demo papers and a missing search index is built first, so the README's one command is all a
//! new user runs.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use paperboy_search::{Embedder, SearchIndex, Searcher};
use paperboy_store::Store;
use paperboy_web::AppState;

use crate::cli::Cli;
use crate::search::{index_dir, reindex};
use crate::{Outcome, demo};

pub(crate) async fn run(
    store: Box<dyn Store>,
    cli: &Cli,
    listen: SocketAddr,
    public_url: Option<String>,
) -> anyhow::Result<Outcome> {
    let store: Arc<dyn Store> = Arc::from(store);
    let dir = index_dir(&cli.data_dir);
    if store.count_papers().await? == 0 {
        eprintln!("The data folder has no papers yet: importing the demo papers.");
        demo::run(&*store).await?;
        reindex(&*store, cli.model()?, &cli.data_dir).await?;
    } else if !SearchIndex::exists(&dir) {
        eprintln!("There is no search index yet: building it.");
        reindex(&*store, cli.model()?, &cli.data_dir).await?;
    }
    let model = cli.model()?;
    let (index, embedder) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let index = SearchIndex::open(&dir)
            .with_context(|| format!("cannot read the search index in {}", dir.display()))?;
        let embedder = Embedder::load(&model).context("loading the embedding model")?;
        Ok((index, embedder))
    })
    .await??;
    let searcher = Searcher::new(Arc::new(index), Some(Arc::new(embedder)));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    println!(
        "Serving {} papers on http://{address} (Ctrl-C to stop)",
        store.count_papers().await?,
    );
    let state = AppState::new(
        store,
        Arc::new(searcher),
        public_url.unwrap_or_else(|| format!("http://{address}")),
    );
    paperboy_web::serve(listener, state, shutdown_requested()).await?;
    eprintln!("Stopped.");
    Ok(Outcome::Success)
}

/// Completes on Ctrl-C or SIGTERM; requests in flight are then finished before exiting.
async fn shutdown_requested() {
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
