//! Sentence embeddings with all-MiniLM-L6-v2: WordPiece tokens (at most 256), the BERT encoder,
//! mean pooling over real tokens and L2 normalisation, exactly as sentence-transformers computes
//! them. Texts are batched by length so that little of each batch is padding, and the batches
//! are spread over the cores, one thread each.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use crate::bert::{Bert, BertConfig, Workspace};
use crate::compute::ComputePath;
use crate::model::{ModelDir, ModelError};

/// Dimensions of an embedding.
pub const DIMENSIONS: usize = 384;
/// Tokens per text, special tokens included; the rest is cut, as the model was trained.
pub const MAX_TOKENS: usize = 256;
/// Texts encoded together.
const BATCH_SIZE: usize = 8;

/// Why embedding failed: the model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot read the model's {file}: {message}")]
    ModelFile { file: &'static str, message: String },
    #[error("tokenizing failed: {0}")]
    Tokenizer(String),
    #[error("this CPU cannot run the {0} compute path")]
    Unavailable(ComputePath),
    #[error("running the model failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The text a paper is embedded as.
pub fn paper_text(title: &str, abstract_text: &str) -> String {
    format!("{title}. {abstract_text}")
}

/// What one worker embedded: text positions and their vectors.
type Share = Vec<(usize, Vec<f32>)>;

/// A loaded embedding model.
pub struct Embedder {
    tokenizer: Tokenizer,
    model: Bert,
    path: ComputePath,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model for the fastest compute path this CPU has.
    pub fn load(dir: &ModelDir) -> Result<Self, EmbedError> {
        Self::load_for(dir, ComputePath::best())
    }

    /// Loads the model for `path`; an error if this CPU cannot run it.
    pub fn load_for(dir: &ModelDir, path: ComputePath) -> Result<Self, EmbedError> {
        if !path.is_available() {
            return Err(EmbedError::Unavailable(path));
        }
        let mut tokenizer = Tokenizer::from_file(dir.file("tokenizer.json")).map_err(|error| {
            EmbedError::ModelFile {
                file: "tokenizer.json",
                message: error.to_string(),
            }
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|error| EmbedError::Tokenizer(error.to_string()))?;
        tokenizer.with_padding(None::<PaddingParams>);

        let config_text = std::fs::read_to_string(dir.file("config.json")).map_err(|error| {
            EmbedError::ModelFile {
                file: "config.json",
                message: error.to_string(),
            }
        })?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|error| EmbedError::ModelFile {
                file: "config.json",
                message: error.to_string(),
            })?;
        let tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load(dir.file("model.safetensors"), &Device::Cpu)?;
        let weights = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let model = Bert::load(weights, &config, path)?;
        Ok(Embedder {
            tokenizer,
            model,
            path,
        })
    }

    /// The compute path the model runs on.
    pub fn path(&self) -> ComputePath {
        self.path
    }

    /// Token ids of a text, special tokens included, cut at [`MAX_TOKENS`].
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|error| EmbedError::Tokenizer(error.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Embeds texts; the result has one L2-normalised vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokenized = texts
            .iter()
            .map(|text| self.tokens(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| tokenized[index].len());
        let batches: Vec<&[usize]> = order.chunks(BATCH_SIZE).collect();
        // Batches go to the cores in turn, each encoded on one thread from start to end. A lone
        // batch (a query) has its products split over the cores instead.
        let cores = candle_core::utils::get_num_threads().max(1);
        let workers = cores.min(batches.len().max(1));
        let parts = if batches.len() == 1 { cores } else { 1 };
        let embed_share = |worker: usize| -> Result<Share, EmbedError> {
            let mut done = Vec::new();
            let mut workspace = Workspace::default();
            for batch in batches.iter().skip(worker).step_by(workers) {
                let vectors = self.embed_batch(
                    batch.iter().map(|&index| tokenized[index].as_slice()),
                    parts,
                    &mut workspace,
                )?;
                done.extend(batch.iter().copied().zip(vectors));
            }
            Ok(done)
        };
        let shares: Vec<Result<Share, EmbedError>> = if workers == 1 {
            vec![embed_share(0)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|worker| scope.spawn(move || embed_share(worker)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| {
                        handle
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            })
        };
        let mut embeddings = vec![Vec::new(); texts.len()];
        for share in shares {
            for (index, vector) in share? {
                embeddings[index] = vector;
            }
        }
        Ok(embeddings)
    }

    fn embed_batch<'a>(
        &self,
        batch: impl ExactSizeIterator<Item = &'a [u32]> + Clone,
        parts: usize,
        workspace: &mut Workspace,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let rows = batch.len();
        let width = batch.clone().map(<[u32]>::len).max().unwrap_or(0).max(1);
        let mut ids = vec![0u32; rows * width];
        let mut mask = vec![0u32; rows * width];
        for (row, tokens) in batch.enumerate() {
            ids[row * width..row * width + tokens.len()].copy_from_slice(tokens);
            mask[row * width..row * width + tokens.len()].fill(1);
        }
        Ok(self.model.embed(&ids, &mask, width, parts, workspace)?)
    }
}
