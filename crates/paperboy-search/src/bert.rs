//! A BERT encoder (as in all-MiniLM-L6-v2): embeddings, self-attention layers, and nothing
//! else. Written out here rather than taken from candle-transformers, whose hundreds of models
//! would dominate the build for the one we run. candle reads the weights; the forward pass runs
//! on plain buffers (see [`Workspace`]) with this crate's kernels.

use candle_core::Tensor;
use candle_nn::{VarBuilder, linear};
use serde::Deserialize;

use crate::attention::Attention;
use crate::compute::ComputePath;
use crate::kernels::{bias_gelu_in_place, bias_residual_norm_in_place};
use crate::packed::PackedWeights;
use crate::quantized::{QuantizedRows, QuantizedWeights};

/// The fields of the model's `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) max_position_embeddings: usize,
    pub(crate) type_vocab_size: usize,
    pub(crate) layer_norm_eps: f64,
    pub(crate) hidden_act: String,
}

#[derive(Debug)]
pub(crate) struct Bert {
    /// `[vocabulary, hidden]`.
    word_embeddings: Vec<f32>,
    /// Each position's embedding plus the token-type embedding of type 0 (single sentences only
    /// use that one), `[positions, hidden]`.
    position_embeddings: Vec<f32>,
    /// The embeddings' norm as [`bias_residual_norm_in_place`] takes it: a zero bias, gamma
    /// and beta, `[3, hidden]`.
    embeddings_norm: Vec<f32>,
    hidden: usize,
    norm_eps: f32,
    layers: Vec<Layer>,
    /// The instruction set of the embeddings' norm.
    arch: pulp::Arch,
}

#[derive(Debug)]
struct Layer {
    /// The query, key and value projections as one, `[3 · hidden, hidden]`, without bias; the
    /// query weights are pre-scaled by 1/√head_size so scores need no scaling.
    query_key_value: Dense,
    /// The query bias (scaled as its weights) and the value bias, `[2, hidden]`, for
    /// [`Attention`], which also explains why the key bias is not needed.
    query_value_bias: Vec<f32>,
    /// Without bias: the bias is added by [`bias_residual_norm_in_place`] with
    /// `attention_norm`.
    attention_output: Dense,
    /// Bias of `attention_output`, then the norm's gamma and beta: `[3, hidden]`.
    attention_norm: Vec<f32>,
    /// Without bias: the bias is added by [`bias_gelu_in_place`].
    intermediate: Dense,
    intermediate_bias: Vec<f32>,
    /// Without bias, as `attention_output`.
    output: Dense,
    output_norm: Vec<f32>,
    norm_eps: f32,
    heads: usize,
    /// The instruction set of the attention and the element-wise steps.
    arch: pulp::Arch,
}

impl Bert {
    /// Loads the weights for products on `path` (which the caller checked the CPU has).
    pub(crate) fn load(
        vb: VarBuilder<'_>,
        config: &BertConfig,
        path: ComputePath,
    ) -> candle_core::Result<Self> {
        let Some(arch) = path.arch() else {
            candle_core::bail!("this CPU cannot run the {path} path");
        };
        if config.hidden_act != "gelu" {
            candle_core::bail!(
                "unsupported activation {:?} (expected gelu)",
                config.hidden_act
            );
        }
        let hidden = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let values = |tensor: Tensor| tensor.flatten_all()?.to_vec1::<f32>();
        let table =
            |name: &str, rows: usize| values(embeddings.pp(name).get((rows, hidden), "weight")?);
        let token_type_zero = embeddings
            .pp("token_type_embeddings")
            .get((config.type_vocab_size, hidden), "weight")?
            .get(0)?
            .to_vec1::<f32>()?;
        let mut position_embeddings = table("position_embeddings", config.max_position_embeddings)?;
        for row in position_embeddings.chunks_exact_mut(hidden) {
            for (value, token_type) in row.iter_mut().zip(&token_type_zero) {
                *value += token_type;
            }
        }
        let norm = embeddings.pp("LayerNorm");
        let embeddings_norm = values(Tensor::stack(
            &[
                &Tensor::zeros(hidden, candle_core::DType::F32, &candle_core::Device::Cpu)?,
                &norm.get(hidden, "weight")?,
                &norm.get(hidden, "bias")?,
            ],
            0,
        )?)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config, path, arch))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Bert {
            word_embeddings: table("word_embeddings", config.vocab_size)?,
            position_embeddings,
            embeddings_norm,
            hidden,
            norm_eps: config.layer_norm_eps as f32,
            layers,
            arch,
        })
    }

    /// Embeds a padded batch: `ids` and `mask` are `[texts, tokens]` (`mask` 1 for real
    /// tokens, 0 for padding). Returns each text's mean of its real tokens' last hidden states,
    /// L2-normalised. The dense layers' products are computed in `parts` blocks at once (1: on
    /// the calling thread); `workspace` holds the layers' buffers from one batch to the next.
    pub(crate) fn embed(
        &self,
        ids: &[u32],
        mask: &[u32],
        tokens: usize,
        parts: usize,
        workspace: &mut Workspace,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        // The embeddings, without candle: its operations run on a pool of threads of its own,
        // which spun beside the embedder's threads (5% of the samples in `perf`).
        let hidden = self.hidden;
        let rows = ids.len();
        if mask.len() != rows || !rows.is_multiple_of(tokens.max(1)) {
            candle_core::bail!(
                "{rows} token ids and {} mask values for texts of {tokens}",
                mask.len()
            );
        }
        if tokens * hidden > self.position_embeddings.len() {
            candle_core::bail!("{tokens} tokens are more than the model's positions");
        }
        workspace.hidden.clear();
        for &id in ids {
            let start = id as usize * hidden;
            let Some(row) = self.word_embeddings.get(start..start + hidden) else {
                candle_core::bail!("token id {id} is outside the vocabulary");
            };
            workspace.hidden.extend_from_slice(row);
        }
        let positions = &self.position_embeddings[..tokens * hidden];
        workspace.attended.clear();
        for _ in 0..rows / tokens.max(1) {
            workspace.attended.extend_from_slice(positions);
        }
        bias_residual_norm_in_place(
            self.arch,
            self.norm_eps,
            &mut workspace.hidden,
            &workspace.attended,
            &self.embeddings_norm,
        );
        // Padding gets a large negative bias before the softmax.
        let bias: Vec<f32> = mask
            .iter()
            .map(|&real| if real == 0 { -1e4 } else { 0.0 })
            .collect();
        for layer in &self.layers {
            layer.forward(&bias, tokens, parts, workspace)?;
        }
        Ok(mean_pool_normalised(&workspace.hidden, mask, tokens))
    }
}

/// The buffers a thread's batches pass through, kept from one batch to the next. A batch of
/// eight abstracts passes about 35 MB through each layer; allocated afresh for each step, that
/// memory came back from the allocator as new (huge) pages, which the kernel clears: 10–19% of
/// the encoder's time in `perf`, and more zeroing in the allocator.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// The layer's input, then its output: `[rows, hidden]`.
    hidden: Vec<f32>,
    /// The query, key and value projections, `[rows, 3 · hidden]`.
    qkv: Vec<f32>,
    /// Attention's output, `[rows, hidden]`.
    context: Vec<f32>,
    /// The attention block's output after its residual norm, `[rows, hidden]`.
    attended: Vec<f32>,
    /// The feed-forward block's inner activations, `[rows, intermediate]`.
    inner: Vec<f32>,
    /// A product's inputs rearranged for the float kernel.
    interleaved: Vec<f32>,
    /// A product's inputs as codes for the integer kernel.
    quantised: QuantizedRows,
}

impl Layer {
    fn load(
        vb: VarBuilder<'_>,
        config: &BertConfig,
        path: ComputePath,
        arch: pulp::Arch,
    ) -> candle_core::Result<Self> {
        let dense = |weight: &Tensor| Dense::new(weight, path, arch);
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        let head_size = hidden / heads;
        let attention = vb.pp("attention");
        let query = linear(hidden, hidden, attention.pp("self.query"))?;
        let key = linear(hidden, hidden, attention.pp("self.key"))?;
        let value = linear(hidden, hidden, attention.pp("self.value"))?;
        let scale = 1.0 / (head_size as f64).sqrt();
        let query_key_value = dense(&Tensor::cat(
            &[&(query.weight() * scale)?, key.weight(), value.weight()],
            0,
        )?)?;
        let bias_of = |layer: &candle_nn::Linear| {
            layer.bias().cloned().ok_or_else(|| {
                candle_core::Error::Msg("an attention projection has no bias".into())
            })
        };
        let query_value_bias = Tensor::stack(&[(bias_of(&query)? * scale)?, bias_of(&value)?], 0)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let (attention_output, attention_norm) =
            unbiased_with_norm(hidden, hidden, attention.pp("output"), dense)?;
        let intermediate = linear(
            hidden,
            config.intermediate_size,
            vb.pp("intermediate.dense"),
        )?;
        let intermediate_bias = intermediate
            .bias()
            .ok_or_else(|| candle_core::Error::Msg("intermediate.dense has no bias".into()))?
            .to_vec1::<f32>()?;
        let (output, output_norm) =
            unbiased_with_norm(config.intermediate_size, hidden, vb.pp("output"), dense)?;
        Ok(Layer {
            query_key_value,
            query_value_bias,
            attention_output,
            attention_norm,
            intermediate: dense(intermediate.weight())?,
            intermediate_bias,
            output,
            output_norm,
            norm_eps: config.layer_norm_eps as f32,
            heads,
            arch,
        })
    }

    /// One layer over `workspace.hidden`, `[texts · tokens, hidden]`, in place; `mask` is the
    /// softmax bias of each token.
    fn forward(
        &self,
        mask: &[f32],
        tokens: usize,
        parts: usize,
        workspace: &mut Workspace,
    ) -> candle_core::Result<()> {
        let Workspace {
            hidden,
            qkv,
            context,
            attended,
            inner,
            interleaved,
            quantised,
        } = workspace;
        let rows = mask.len();
        let mut product = |dense: &Dense, x: &[f32], out: &mut Vec<f32>| {
            dense.product_into(x, rows, parts, interleaved, quantised, out)
        };
        product(&self.query_key_value, hidden, qkv)?;
        Attention {
            heads: self.heads,
            parts,
            arch: self.arch,
        }
        .apply(qkv, mask, &self.query_value_bias, tokens, context)?;
        product(&self.attention_output, context, attended)?;
        bias_residual_norm_in_place(
            self.arch,
            self.norm_eps,
            attended,
            hidden,
            &self.attention_norm,
        );
        product(&self.intermediate, attended, inner)?;
        bias_gelu_in_place(self.arch, inner, &self.intermediate_bias);
        product(&self.output, inner, hidden)?;
        bias_residual_norm_in_place(
            self.arch,
            self.norm_eps,
            hidden,
            attended,
            &self.output_norm,
        );
        Ok(())
    }
}

/// A dense layer without bias (each bias is added by the fused step that follows it),
/// `[outputs, inputs]` as candle's `Linear`, its weights packed once for the compute path. A
/// lone short text is one small product per layer, which one core would compute while the other
/// idles: its products are split over the cores by output columns (see [`Embedder::embed`]).
///
/// [`Embedder::embed`]: crate::Embedder::embed
#[derive(Debug)]
enum Dense {
    Float(PackedWeights),
    Integer(QuantizedWeights),
}

impl Dense {
    fn new(weight: &Tensor, path: ComputePath, arch: pulp::Arch) -> candle_core::Result<Self> {
        let (outputs, inputs) = weight.dims2()?;
        let values = weight.flatten_all()?.to_vec1::<f32>()?;
        Ok(match path {
            ComputePath::Int16Vnni => {
                Dense::Integer(QuantizedWeights::new(arch, &values, outputs, inputs))
            }
            _ => Dense::Float(PackedWeights::new(arch, &values, outputs, inputs)),
        })
    }

    fn inputs(&self) -> usize {
        match self {
            Dense::Float(weights) => weights.inputs(),
            Dense::Integer(weights) => weights.inputs(),
        }
    }

    /// `x`, `[rows, inputs]`, to `out`, `[rows, outputs]`, the product computed in `parts`
    /// column blocks at once; `interleaved` or `quantised` holds the rearranged inputs.
    fn product_into(
        &self,
        x: &[f32],
        rows: usize,
        parts: usize,
        interleaved: &mut Vec<f32>,
        quantised: &mut QuantizedRows,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        if x.len() != rows * self.inputs() {
            candle_core::bail!(
                "dense product: {} values for {rows} rows of {} inputs",
                x.len(),
                self.inputs()
            );
        }
        match self {
            Dense::Float(weights) => weights.product_into(x, rows, parts, interleaved, out),
            Dense::Integer(weights) => weights.product_into(x, rows, parts, quantised, out),
        }
        Ok(())
    }
}

/// A dense layer followed by a residual layer norm (`{prefix}.dense`, `{prefix}.LayerNorm`),
/// loaded as the layer without its bias and `[3, out]` holding the bias, gamma and beta for
/// [`bias_residual_norm_in_place`].
fn unbiased_with_norm(
    inputs: usize,
    outputs: usize,
    vb: VarBuilder<'_>,
    dense_of: impl Fn(&Tensor) -> candle_core::Result<Dense>,
) -> candle_core::Result<(Dense, Vec<f32>)> {
    let dense = linear(inputs, outputs, vb.pp("dense"))?;
    let norm = vb.pp("LayerNorm");
    let gamma = norm.get(outputs, "weight")?;
    let beta = norm.get(outputs, "bias")?;
    let bias = dense
        .bias()
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg("a dense layer has no bias".into()))?;
    Ok((
        dense_of(dense.weight())?,
        Tensor::stack(&[&bias, &gamma, &beta], 0)?
            .flatten_all()?
            .to_vec1::<f32>()?,
    ))
}

/// Each text's mean of its real tokens' hidden states, L2-normalised: `hidden` is `[texts ·
/// tokens, width]`, `mask` `[texts · tokens]` (1 for real tokens).
fn mean_pool_normalised(hidden: &[f32], mask: &[u32], tokens: usize) -> Vec<Vec<f32>> {
    let width = hidden.len() / mask.len().max(1);
    let text_values = (tokens * width).max(1);
    hidden
        .chunks_exact(text_values)
        .zip(mask.chunks_exact(tokens.max(1)))
        .map(|(text, mask)| {
            let mut mean = vec![0f32; width];
            let mut count = 0usize;
            for (row, _) in text
                .chunks_exact(width)
                .zip(mask)
                .filter(|(_, real)| **real != 0)
            {
                count += 1;
                for (sum, value) in mean.iter_mut().zip(row) {
                    *sum += value;
                }
            }
            let count = count.max(1) as f32;
            let norm = mean
                .iter()
                .map(|sum| (sum / count).powi(2))
                .sum::<f32>()
                .sqrt();
            let scale = 1.0 / (count * norm.max(1e-12));
            for value in &mut mean {
                *value *= scale;
            }
            mean
        })
        .collect()
}
