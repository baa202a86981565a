//! `paperboy eval csfcube`: CSFCube's NDCG%20, MAP and Recall@20 of "similar papers", per
//! facet and overall.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context as _;
use paperboy_core::PaperId;
use paperboy_search::eval::{EvalDocument, PoolMetrics, fold_mean, load_csfcube, score_pool};
use paperboy_search::{Mode, Query, Searcher, off_async_threads, paper_text};

use super::{modes, searcher_for};
use crate::Outcome;
use crate::cli::CsfcubeArgs;
use crate::context::Context;

pub(crate) async fn run(ctx: &Context, args: &CsfcubeArgs) -> anyhow::Result<Outcome> {
    let dir = args.path.clone();
    let cube = tokio::task::spawn_blocking(move || load_csfcube(&dir)).await??;
    eprintln!(
        "CSFCube: {} papers, {} query facets.",
        cube.documents.len(),
        cube.facets
            .iter()
            .map(|facet| facet.pools.len())
            .sum::<usize>()
    );
    let searcher = searcher_for(ctx, &cube.documents).await?;
    let modes = modes(args.mode);
    let report = off_async_threads(move || -> anyhow::Result<String> {
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
    .await?;
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
