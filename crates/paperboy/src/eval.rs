//! `paperboy eval`: search quality on public judgements, per ranking mode.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use paperboy_search::Embedder;
use paperboy_search::eval::{Metrics, Mode, Retriever, load_beir, mean, rank, score_query};
use paperboy_search::fusion::KEYWORD_WEIGHT;
use paperboy_search::indexing::Silent;
use paperboy_store::SqliteStore;

use crate::Outcome;
use crate::cli::{Cli, EvalMode};

pub(crate) async fn scifact(
    cli: &Cli,
    path: &Path,
    split: &str,
    mode: EvalMode,
    tune: bool,
) -> anyhow::Result<Outcome> {
    let dir = path.to_path_buf();
    let split_name = split.to_owned();
    let dataset = tokio::task::spawn_blocking(move || load_beir(&dir, &split_name)).await??;
    eprintln!(
        "SciFact {split}: {} documents, {} queries.",
        dataset.documents.len(),
        dataset.queries.len()
    );
    let needs_embeddings = mode != EvalMode::Keyword || tune;
    let embedder = if needs_embeddings {
        let model = cli.model()?;
        let embedder = tokio::task::spawn_blocking(move || Embedder::load(&model))
            .await?
            .context("loading the embedding model")?;
        Some(Arc::new(embedder))
    } else {
        None
    };
    std::fs::create_dir_all(&cli.data_dir)?;
    let cache = SqliteStore::open(&cli.data_dir.join("eval-cache.sqlite3"))
        .await
        .context("opening the evaluation embedding cache")?;
    let retriever = Retriever::build(&dataset.documents, embedder, &cache, &Silent).await?;

    let modes: Vec<(&str, Mode)> = match mode {
        EvalMode::All => vec![
            ("keyword", Mode::Keyword),
            ("semantic", Mode::Semantic),
            ("hybrid", Mode::Hybrid(KEYWORD_WEIGHT)),
        ],
        EvalMode::Keyword => vec![("keyword", Mode::Keyword)],
        EvalMode::Semantic => vec![("semantic", Mode::Semantic)],
        EvalMode::Hybrid => vec![("hybrid", Mode::Hybrid(KEYWORD_WEIGHT))],
    };
    let weights: Vec<f32> = if tune {
        (0..=20).map(|step| step as f32 * 0.05).collect()
    } else {
        Vec::new()
    };
    let mut per_mode: Vec<Vec<Metrics>> = vec![Vec::new(); modes.len()];
    let mut per_weight: Vec<Vec<Metrics>> = vec![Vec::new(); weights.len()];
    for (query_id, text) in &dataset.queries {
        let judged = &dataset.judgements[query_id];
        let (keyword, semantic) = retriever.candidates(text)?;
        let score = |mode: Mode| {
            let ranking: Vec<&str> = rank(mode, &keyword, &semantic)
                .into_iter()
                .map(|id| dataset.documents[id.0 as usize].id.as_str())
                .collect();
            score_query(&ranking, judged)
        };
        for (metrics, (_, mode)) in per_mode.iter_mut().zip(&modes) {
            metrics.push(score(*mode));
        }
        for (metrics, weight) in per_weight.iter_mut().zip(&weights) {
            metrics.push(score(Mode::Hybrid(*weight)));
        }
    }
    println!(
        "mode       nDCG@10  Recall@100  MAP@100   (SciFact {split}, {} queries)",
        dataset.queries.len()
    );
    for ((name, _), metrics) in modes.iter().zip(&per_mode) {
        let metrics = mean(metrics);
        println!(
            "{name:<9}  {:.4}   {:.4}      {:.4}",
            metrics.ndcg_at_10, metrics.recall_at_100, metrics.map
        );
    }
    if tune {
        println!("\nkeyword weight  hybrid nDCG@10");
        for (weight, metrics) in weights.iter().zip(&per_weight) {
            println!("{weight:>14.2}  {:.4}", mean(metrics).ndcg_at_10);
        }
    }
    Ok(Outcome::Success)
}
