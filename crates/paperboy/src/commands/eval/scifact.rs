//! `paperboy eval scifact`: BEIR SciFact's nDCG@10, Recall@100 and MAP per ranking mode, and
//! with `--tune` the grid of fusion weights the defaults were chosen from.

use paperboy_search::eval::{Metrics, load_beir, mean, score_query};
use paperboy_search::fusion::Weights;
use paperboy_search::{Mode, Query, Searcher, off_async_threads};

use super::{modes, searcher_for};
use crate::Outcome;
use crate::cli::ScifactArgs;
use crate::context::Context;

pub(crate) async fn run(ctx: &Context, args: &ScifactArgs) -> anyhow::Result<Outcome> {
    let (split, mode, tune) = (args.split.as_str(), args.mode, args.tune);
    let dir = args.path.clone();
    let split_name = split.to_owned();
    let dataset = tokio::task::spawn_blocking(move || load_beir(&dir, &split_name)).await??;
    eprintln!(
        "SciFact {split}: {} documents, {} queries.",
        dataset.documents.len(),
        dataset.queries.len()
    );
    let searcher = searcher_for(ctx, &dataset.documents).await?;
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
        off_async_threads(move || -> anyhow::Result<(Vec<Metrics>, Vec<Metrics>)> {
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
        .await?;
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
