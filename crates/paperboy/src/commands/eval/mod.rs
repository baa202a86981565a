//! `paperboy eval`: search quality on public judgements, per ranking mode, through the same
//! [`Searcher`] the other commands use; one module per evaluation, and what they share here.

mod csfcube;
mod for_you;
mod scifact;
mod trending;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use paperboy_core::PaperRecord;
use paperboy_ingest::pipeline::{Quiet, import_paths};
use paperboy_search::eval::{EvalDocument, index_documents};
use paperboy_search::indexing::Silent;
use paperboy_search::{Mode, SearchIndex, Searcher};
use paperboy_store::{SqliteStore, for_each_paper};

use crate::Outcome;
use crate::cli::{EvalCommand, EvalMode};
use crate::context::Context;

pub(crate) async fn run(ctx: &Context, command: &EvalCommand) -> anyhow::Result<Outcome> {
    match command {
        EvalCommand::Scifact(args) => scifact::run(ctx, args).await,
        EvalCommand::Csfcube(args) => csfcube::run(ctx, args).await,
        EvalCommand::Trending(args) => trending::run(args).await,
        EvalCommand::ForYou(args) => for_you::run(ctx, args).await,
    }
}

/// Indexes an evaluation corpus in memory, with embeddings cached in the data folder.
async fn searcher_for(ctx: &Context, documents: &[EvalDocument]) -> anyhow::Result<Searcher> {
    let embedder = Arc::new(ctx.model.load().await?);
    let data_dir = &ctx.data_dir;
    std::fs::create_dir_all(data_dir.root())?;
    let cache = SqliteStore::open(&data_dir.eval_cache(embedder.path()))
        .await
        .context("opening the evaluation embedding cache")?;
    let index: SearchIndex = index_documents(documents, &embedder, &cache, &Silent).await?;
    Ok(Searcher::new(Arc::new(index), Some(embedder)))
}

fn modes(mode: EvalMode) -> Vec<Mode> {
    match mode {
        EvalMode::All => vec![Mode::Keyword, Mode::Semantic, Mode::Hybrid],
        EvalMode::Keyword => vec![Mode::Keyword],
        EvalMode::Semantic => vec![Mode::Semantic],
        EvalMode::Hybrid => vec![Mode::Hybrid],
    }
}

/// The papers of the Hugging Face daily lists in `path`, imported as any import would (merged
/// across days, with their real counts), in the order the store keeps them.
async fn read_lists(path: &Path) -> anyhow::Result<Vec<PaperRecord>> {
    let scratch = tempfile::tempdir()?;
    let lists = SqliteStore::open(&scratch.path().join("lists.sqlite3")).await?;
    let report = import_paths(&lists, &[path.to_path_buf()], Arc::new(Quiet)).await?;
    anyhow::ensure!(
        report.summary.inserted > 0,
        "no papers were read from {}",
        path.display()
    );
    let mut records = Vec::new();
    for_each_paper(&lists, |paper| {
        records.push(paper.record);
        Ok::<_, anyhow::Error>(())
    })
    .await?;
    Ok(records)
}
