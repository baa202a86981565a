//! `paperboy eval`: search quality on public judgements, per ranking mode, through the same
//! [`Searcher`] the other commands use.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use paperboy_core::PaperId;
use paperboy_search::eval::{
    EvalDocument, Metrics, PoolMetrics, fold_mean, index_documents, load_beir, load_csfcube, mean,
    score_pool, score_query,
};
use paperboy_search::fusion::Weights;
use paperboy_search::indexing::Silent;
use paperboy_search::{Embedder, Mode, Query, SearchIndex, Searcher, paper_text};
use paperboy_store::SqliteStore;

use crate::Outcome;
use crate::cli::{Cli, EvalMode};

/// Indexes an evaluation corpus in memory, with embeddings cached in the data folder.
pub(crate) async fn searcher_for(
    cli: &Cli,
    documents: &[EvalDocument],
) -> anyhow::Result<Searcher> {
    let model = cli.model()?;
    let embedder = tokio::task::spawn_blocking(move || Embedder::load(&model))
        .await?
        .context("loading the embedding model")?;
    let embedder = Arc::new(embedder);
    std::fs::create_dir_all(&cli.data_dir)?;
    let cache = SqliteStore::open(&cli.data_dir.join("eval-cache.sqlite3"))
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
    let searcher = searcher_for(cli, &dataset.documents).await?;
    let modes = modes(mode);
    // Tuning: every keyword share 0, 0.05, …, 1 with every sentence share 0, 0.1, …, 1, each
    // scored in hybrid mode, and in semantic mode (where the keyword share plays no part).
    let keyword_shares: Vec<f32> = (0..=20).map(|step| step as f32 * 0.05).collect();
    let sentence_shares: Vec<f32> = (0..=10).map(|step| step as f32 * 0.1).collect();
    let grid: Vec<Weights> = if tune {
        keyword_shares
            .iter()
            .flat_map(|&keyword| {
                sentence_shares
                    .iter()
                    .map(move |&sentence| Weights { keyword, sentence })
            })
            .collect()
    } else {
        Vec::new()
    };
    let tuning: Vec<Searcher> = grid
        .iter()
        .map(|weights| searcher.clone().with_weights(*weights))
        .collect();
    let measured = modes.clone();
    let (per_mode, per_weight) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<Metrics>, Vec<Metrics>)> {
            let mut per_mode = vec![Vec::new(); measured.len()];
            let mut per_weight = vec![Vec::new(); tuning.len()];
            for (query_id, text) in &dataset.queries {
                let judged = &dataset.judgements[query_id];
                // Each mode ranks the candidates it finds itself (hybrid's semantic list also
                // holds the keyword candidates); keyword mode's are hybrid's keyword list.
                let query = Query::new(text).limit(paperboy_search::eval::DEPTH);
                let hybrid = searcher.candidates(&query.clone().mode(Mode::Hybrid))?;
                let semantic = searcher.candidates(&query.mode(Mode::Semantic))?;
                let score = |searcher: &Searcher, mode: Mode| {
                    let candidates = if mode == Mode::Semantic {
                        &semantic
                    } else {
                        &hybrid
                    };
                    let ranking: Vec<&str> = searcher
                        .rank(mode, candidates)
                        .into_iter()
                        .map(|(id, _)| dataset.documents[id.0 as usize].id.as_str())
                        .collect();
                    score_query(&ranking, judged)
                };
                for (metrics, mode) in per_mode.iter_mut().zip(&measured) {
                    metrics.push(score(&searcher, *mode));
                }
                for ((metrics, tuned), weights) in per_weight.iter_mut().zip(&tuning).zip(&grid) {
                    let mode = if weights.keyword == 0.0 {
                        Mode::Semantic
                    } else {
                        Mode::Hybrid
                    };
                    metrics.push(score(tuned, mode));
                }
            }
            Ok((
                per_mode.iter().map(|metrics| mean(metrics)).collect(),
                per_weight.iter().map(|metrics| mean(metrics)).collect(),
            ))
        })
        .await??;
    println!(
        "mode       nDCG@10  Recall@100  MAP@100   (SciFact {split}, {} queries)",
        per_mode.first().map_or(0, |metrics| metrics.queries)
    );
    for (mode, metrics) in modes.iter().zip(&per_mode) {
        println!(
            "{:<9}  {:.4}   {:.4}      {:.4}",
            mode.name(),
            metrics.ndcg_at_10,
            metrics.recall_at_100,
            metrics.map
        );
    }
    if tune {
        println!(
            "\nnDCG@10 by keyword share (rows; 0 is semantic mode) and sentence share (columns)"
        );
        print!("keyword ");
        for sentence in &sentence_shares {
            print!("  {sentence:>6.1}");
        }
        for (row, keyword) in per_weight
            .chunks(sentence_shares.len())
            .zip(&keyword_shares)
        {
            print!("\n{keyword:>7.2} ");
            for metrics in row {
                print!("  {:.4}", metrics.ndcg_at_10);
            }
        }
        println!();
    }
    Ok(Outcome::Success)
}

pub(crate) async fn csfcube(cli: &Cli, path: &Path, mode: EvalMode) -> anyhow::Result<Outcome> {
    let dir = path.to_path_buf();
    let cube = tokio::task::spawn_blocking(move || load_csfcube(&dir)).await??;
    eprintln!(
        "CSFCube: {} papers, {} query facets.",
        cube.documents.len(),
        cube.facets
            .iter()
            .map(|facet| facet.pools.len())
            .sum::<usize>()
    );
    let searcher = searcher_for(cli, &cube.documents).await?;
    let modes = modes(mode);
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let row_of: HashMap<&str, PaperId> = cube
            .documents
            .iter()
            .enumerate()
            .map(|(row, document)| (document.id.as_str(), PaperId(row as i64)))
            .collect();
        let mut report = String::from(
            "mode       facet        NDCG%20  MAP     Recall@20   (CSFCube test folds)\n",
        );
        for mode in &modes {
            let mut all_queries: HashMap<String, PoolMetrics> = HashMap::new();
            let mut all_folds: [Vec<String>; 2] = Default::default();
            for facet in &cube.facets {
                let mut per_query = HashMap::new();
                for (query_id, pool) in &facet.pools {
                    let query_row = *row_of
                        .get(query_id.as_str())
                        .with_context(|| format!("query paper {query_id} is not in the corpus"))?;
                    let ranked =
                        rank_pool(&searcher, &cube.documents, query_row, pool, &row_of, *mode)?;
                    per_query.insert(query_id.clone(), score_pool(&ranked));
                }
                let metrics = fold_mean(&per_query, &facet.folds);
                report.push_str(&format!(
                    "{:<9}  {:<11}  {:.4}   {:.4}  {:.4}\n",
                    mode.name(),
                    facet.name,
                    metrics.ndcg_pct20,
                    metrics.map,
                    metrics.recall_at_20
                ));
                for (fold, ids) in all_folds.iter_mut().zip(&facet.folds) {
                    fold.extend(ids.iter().map(|id| format!("{id}_{}", facet.name)));
                }
                all_queries.extend(
                    per_query
                        .into_iter()
                        .map(|(id, metrics)| (format!("{id}_{}", facet.name), metrics)),
                );
            }
            let overall = fold_mean(&all_queries, &all_folds);
            report.push_str(&format!(
                "{:<9}  {:<11}  {:.4}   {:.4}  {:.4}\n",
                mode.name(),
                "all",
                overall.ndcg_pct20,
                overall.map,
                overall.recall_at_20
            ));
        }
        Ok(report)
    })
    .await??;
    print!("{report}");
    Ok(Outcome::Success)
}

/// Ranks a query paper's pool as "similar papers" would (the whole paper as the query, the
/// paper itself left out) and returns the pool's grades in that order; candidates a mode does
/// not score (no word in common) follow in pool order.
fn rank_pool(
    searcher: &Searcher,
    documents: &[EvalDocument],
    query_row: PaperId,
    pool: &[(String, u32)],
    row_of: &HashMap<&str, PaperId>,
    mode: Mode,
) -> anyhow::Result<Vec<u32>> {
    let grade_of: HashMap<PaperId, u32> = pool
        .iter()
        .filter_map(|(id, grade)| Some((*row_of.get(id.as_str())?, *grade)))
        .collect();
    let members: HashSet<PaperId> = grade_of.keys().copied().collect();
    let document = &documents[query_row.0 as usize];
    let query = Query::like_paper(query_row, &paper_text(&document.title, &document.text))
        .mode(mode)
        .within(Arc::new(members))
        .limit(pool.len());
    let mut ranked: Vec<u32> = Vec::with_capacity(pool.len());
    let mut seen = HashSet::new();
    for hit in searcher.search(&query)?.hits {
        if seen.insert(hit.id) {
            ranked.push(grade_of.get(&hit.id).copied().unwrap_or(0));
        }
    }
    for (id, grade) in pool {
        if row_of
            .get(id.as_str())
            .is_none_or(|row| !seen.contains(row) && *row != query_row)
        {
            ranked.push(*grade);
        }
    }
    Ok(ranked)
}
