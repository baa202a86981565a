//! `paperboy bench`: measuring how fast things run on this machine.

use std::time::Instant;

use anyhow::{Context as _, bail};
use paperboy_search::{Embedder, ModelDir, paper_text};
use paperboy_store::Store;

use crate::Outcome;

pub(crate) async fn embed(
    store: &dyn Store,
    model: ModelDir,
    count: u32,
) -> anyhow::Result<Outcome> {
    let papers = store.papers_after(None, count).await?;
    if papers.is_empty() {
        bail!("the store has no papers: import some first (e.g. paperboy demo)");
    }
    let texts: Vec<String> = papers
        .iter()
        .map(|paper| paper_text(&paper.record.title, &paper.record.abstract_text))
        .collect();
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let embedder = Embedder::load(&model).context("loading the embedding model")?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs[..refs.len().min(16)])?;
        let tokens: usize = refs
            .iter()
            .map(|text| embedder.tokens(text).map(|ids| ids.len()))
            .sum::<Result<usize, _>>()?;
        let started = Instant::now();
        embedder.embed(&refs)?;
        let seconds = started.elapsed().as_secs_f64();
        Ok(format!(
            "Embedded {} papers ({:.0} tokens each on average) in {seconds:.2} s: {:.1} docs/s.",
            refs.len(),
            tokens as f64 / refs.len() as f64,
            refs.len() as f64 / seconds
        ))
    })
    .await??;
    println!("{report}");
    Ok(Outcome::Success)
}
