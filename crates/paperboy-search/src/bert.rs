//! A BERT encoder (as in all-MiniLM-L6-v2) on candle: embeddings, self-attention layers, and
//! nothing else. Written out here rather than taken from candle-transformers, whose hundreds of
//! models would dominate the build for the one we run.

use candle_core::{CpuStorage, CustomOp1, D, DType, Layout, Module, Shape, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

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
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    head_size: usize,
}

impl Bert {
    pub(crate) fn load(vb: VarBuilder<'_>, config: &BertConfig) -> candle_core::Result<Self> {
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
            .map(|index| Layer::load(vb.pp(format!("encoder.layer.{index}")), config))
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
    /// 0 for padding). Returns the last hidden states, `[batch, tokens, hidden]`.
    pub(crate) fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (_, tokens) = ids.dims2()?;
        let positions = Tensor::arange(0u32, tokens as u32, ids.device())?;
        let hidden = self
            .word_embeddings
            .forward(ids)?
            .broadcast_add(&self.position_embeddings.forward(&positions)?)?
            .broadcast_add(&self.token_type_zero)?;
        let mut hidden = self.embeddings_norm.forward(&hidden)?;
        // Padding gets a large negative bias before the softmax: [batch, 1, 1, tokens].
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e4)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &bias)?;
        }
        Ok(hidden)
    }
}

impl Layer {
    fn load(vb: VarBuilder<'_>, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let attention = vb.pp("attention");
        Ok(Layer {
            query: linear(hidden, hidden, attention.pp("self.query"))?,
            key: linear(hidden, hidden, attention.pp("self.key"))?,
            value: linear(hidden, hidden, attention.pp("self.value"))?,
            attention_output: linear(hidden, hidden, attention.pp("output.dense"))?,
            attention_norm: layer_norm(hidden, eps, attention.pp("output.LayerNorm"))?,
            intermediate: linear(
                hidden,
                config.intermediate_size,
                vb.pp("intermediate.dense"),
            )?,
            output: linear(config.intermediate_size, hidden, vb.pp("output.dense"))?,
            output_norm: layer_norm(hidden, eps, vb.pp("output.LayerNorm"))?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    fn split_heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, tokens, _) = x.dims3()?;
        x.reshape((batch, tokens, self.heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn forward(&self, hidden: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, tokens, width) = hidden.dims3()?;
        let query = self.split_heads(&self.query.forward(hidden)?)?;
        let key = self.split_heads(&self.key.forward(hidden)?)?;
        let value = self.split_heads(&self.value.forward(hidden)?)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let scores = (query.matmul(&key.t()?)? * scale)?.broadcast_add(bias)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = weights
            .matmul(&value)?
            .transpose(1, 2)?
            .reshape((batch, tokens, width))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_output.forward(&context)? + hidden)?)?;
        let inner = self
            .intermediate
            .forward(&attended)?
            .apply_op1_no_bwd(&Gelu)?;
        self.output_norm
            .forward(&(self.output.forward(&inner)? + attended)?)
    }
}

/// BERT's exact (erf) GELU, on every core. candle's own `gelu_erf` calls libm's `erf` for one
/// element after another on one thread, which took a tenth of the embedding time; this erf is
/// a polynomial (Abramowitz and Stegun 7.1.28: absolute error below 3e-7 in exact arithmetic,
/// 2e-6 in f32) that the compiler vectorises.
struct Gelu;

/// Elements below which splitting across threads does not pay.
const GELU_CHUNK: usize = 1 << 14;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("gelu expects f32 values");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("gelu expects a contiguous tensor");
        };
        let input = &data[start..end];
        let mut output = vec![0f32; input.len()];
        let threads = candle_core::utils::get_num_threads().max(1);
        let chunk = input.len().div_ceil(threads).max(GELU_CHUNK);
        std::thread::scope(|scope| {
            for (from, to) in input.chunks(chunk).zip(output.chunks_mut(chunk)) {
                scope.spawn(move || {
                    for (x, y) in from.iter().zip(to) {
                        *y = gelu(*x);
                    }
                });
            }
        });
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

fn erf(x: f32) -> f32 {
    const A: [f32; 6] = [
        0.070_523_08,
        0.042_282_01,
        0.009_270_527,
        0.000_152_014_3,
        0.000_276_567_2,
        0.000_043_063_8,
    ];
    let z = x.abs();
    let polynomial =
        1.0 + z * (A[0] + z * (A[1] + z * (A[2] + z * (A[3] + z * (A[4] + z * A[5])))));
    let p2 = polynomial * polynomial;
    let p4 = p2 * p2;
    let p8 = p4 * p4;
    let magnitude = 1.0 - 1.0 / (p8 * p8);
    magnitude.copysign(x)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polynomial_erf_is_within_2e_6_of_the_exact_one() {
        let mut worst = 0f64;
        for step in -6000..=6000 {
            let x = step as f32 / 1000.0;
            let exact = libm_erf(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - exact).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
        assert_eq!(erf(100.0), 1.0);
        assert_eq!(erf(-100.0), -1.0);
        assert!(erf(f32::NAN).is_nan());
    }

    /// erf by its Taylor series (|x| < 3) or asymptotic continued fraction, in f64.
    fn libm_erf(x: f64) -> f64 {
        let z = x.abs();
        let value = if z < 3.0 {
            let mut sum = 0.0;
            let mut term = z;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -z * z / n;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc via a continued fraction, accurate for large z.
            let mut fraction = 0.0;
            for k in (1..60).rev() {
                fraction = f64::from(k) / 2.0 / (z + fraction);
            }
            1.0 - (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + fraction)
        };
        value.copysign(x)
    }
}
