//! A BERT encoder (as in all-MiniLM-L6-v2) on candle: embeddings, self-attention layers, and
//! nothing else. Written out here rather than taken from candle-transformers, whose hundreds of
//! models would dominate the build for the one we run.

use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use crate::attention::Attention;
use crate::compute::ComputePath;
use crate::kernels::{BiasGelu, BiasResidualNorm};
use crate::packed::PackedWeights;
use crate::quantized::QuantizedWeights;

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
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    /// The token-type embedding of type 0: single sentences only use that one.
    token_type_zero: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
}

#[derive(Debug)]
struct Layer {
    /// The query, key and value projections as one, `[3 · hidden, hidden]`, without bias; the
    /// query weights are pre-scaled by 1/√head_size so scores need no scaling.
    query_key_value: Dense,
    /// The query bias (scaled as its weights) and the value bias, `[2, hidden]`, for
    /// [`Attention`], which also explains why the key bias is not needed.
    query_value_bias: Tensor,
    /// Without bias: the bias is added by [`BiasResidualNorm`] with `attention_norm`.
    attention_output: Dense,
    /// Bias of `attention_output`, then the norm's gamma and beta: `[3, hidden]`.
    attention_norm: Tensor,
    /// Without bias: the bias is added by [`BiasGelu`].
    intermediate: Dense,
    intermediate_bias: Tensor,
    /// Without bias, as `attention_output`.
    output: Dense,
    output_norm: Tensor,
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
        let eps = config.layer_norm_eps;
        let embeddings = vb.pp("embeddings");
        let token_types = embedding(
            config.type_vocab_size,
            hidden,
            embeddings.pp("token_type_embeddings"),
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config, path, arch))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Bert {
            word_embeddings: embedding(
                config.vocab_size,
                hidden,
                embeddings.pp("word_embeddings"),
            )?,
            position_embeddings: embedding(
                config.max_position_embeddings,
                hidden,
                embeddings.pp("position_embeddings"),
            )?,
            token_type_zero: token_types.embeddings().get(0)?,
            embeddings_norm: layer_norm(hidden, eps, embeddings.pp("LayerNorm"))?,
            layers,
        })
    }

    /// Encodes a padded batch: `ids` and `mask` are `[batch, tokens]` (`mask` 1 for real tokens,
    /// 0 for padding). Returns the last hidden states, `[batch, tokens, hidden]`. The dense
    /// layers' products are computed in `parts` blocks at once (1: on the calling thread).
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        parts: usize,
    ) -> candle_core::Result<Tensor> {
        let (_, tokens) = ids.dims2()?;
        let positions = Tensor::arange(0u32, tokens as u32, ids.device())?;
        let hidden = self
            .word_embeddings
            .forward(ids)?
            .broadcast_add(&self.position_embeddings.forward(&positions)?)?
            .broadcast_add(&self.token_type_zero)?;
        let mut hidden = self.embeddings_norm.forward(&hidden)?;
        // Padding gets a large negative bias before the softmax: [batch, tokens].
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e4)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &bias, parts)?;
        }
        Ok(hidden)
    }
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
        let query_value_bias = Tensor::stack(&[(bias_of(&query)? * scale)?, bias_of(&value)?], 0)?;
        let (attention_output, attention_norm) =
            unbiased_with_norm(hidden, hidden, attention.pp("output"), dense)?;
        let intermediate = linear(
            hidden,
            config.intermediate_size,
            vb.pp("intermediate.dense"),
        )?;
        let intermediate_bias = intermediate
            .bias()
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg("intermediate.dense has no bias".into()))?;
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

    fn forward(&self, hidden: &Tensor, bias: &Tensor, parts: usize) -> candle_core::Result<Tensor> {
        let context = self
            .query_key_value
            .forward(hidden, parts)?
            .apply_op3_no_bwd(
                bias,
                &self.query_value_bias,
                &Attention {
                    heads: self.heads,
                    parts,
                    arch: self.arch,
                },
            )?;
        let norm = BiasResidualNorm {
            eps: self.norm_eps,
            arch: self.arch,
        };
        let attended = self
            .attention_output
            .forward(&context, parts)?
            .apply_op3_no_bwd(hidden, &self.attention_norm, &norm)?;
        let inner = self
            .intermediate
            .forward(&attended, parts)?
            .apply_op2_no_bwd(&self.intermediate_bias, &BiasGelu { arch: self.arch })?;
        self.output
            .forward(&inner, parts)?
            .apply_op3_no_bwd(&attended, &self.output_norm, &norm)
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

    fn outputs(&self) -> usize {
        match self {
            Dense::Float(weights) => weights.outputs(),
            Dense::Integer(weights) => weights.outputs(),
        }
    }

    /// `[batch, tokens, inputs]` to `[batch, tokens, outputs]`, the product computed in `parts`
    /// column blocks at once.
    fn forward(&self, x: &Tensor, parts: usize) -> candle_core::Result<Tensor> {
        let (batch, tokens, inputs) = x.dims3()?;
        let product = x
            .reshape((batch * tokens, inputs))?
            .contiguous()?
            .apply_op1_no_bwd(&DenseProduct { dense: self, parts })?;
        product.reshape((batch, tokens, self.outputs()))
    }
}

/// A [`Dense`] product as a candle operation on `[rows, inputs]`.
struct DenseProduct<'a> {
    dense: &'a Dense,
    parts: usize,
}

impl CustomOp1 for DenseProduct<'_> {
    fn name(&self) -> &'static str {
        "dense-product"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("dense products expect f32 values");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("dense products expect a contiguous input");
        };
        let (rows, inputs) = layout.shape().dims2()?;
        if inputs != self.dense.inputs() {
            candle_core::bail!(
                "dense product: {inputs} inputs for weights of {}",
                self.dense.inputs()
            );
        }
        let x = &data[start..end];
        let product = match self.dense {
            Dense::Float(weights) => weights.product(x, rows, self.parts),
            Dense::Integer(weights) => weights.product(x, rows, self.parts),
        };
        Ok((
            CpuStorage::F32(product),
            Shape::from((rows, self.dense.outputs())),
        ))
    }
}

/// A dense layer followed by a residual layer norm (`{prefix}.dense`, `{prefix}.LayerNorm`),
/// loaded as the layer without its bias and `[3, out]` holding the bias, gamma and beta for
/// [`BiasResidualNorm`].
fn unbiased_with_norm(
    inputs: usize,
    outputs: usize,
    vb: VarBuilder<'_>,
    dense_of: impl Fn(&Tensor) -> candle_core::Result<Dense>,
) -> candle_core::Result<(Dense, Tensor)> {
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
        Tensor::stack(&[&bias, &gamma, &beta], 0)?,
    ))
}

/// Mean of the hidden states over real tokens, L2-normalised: `[batch, hidden]`.
pub(crate) fn mean_pool_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    mean.broadcast_div(&norms)
}
