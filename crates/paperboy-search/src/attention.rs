//! Self-attention computed one text and one head at a time, in cache.
//!
//! Written with candle's operations, attention is a chain of whole-batch tensors: the query, key
//! and value projections each copied into heads, a `[batch, heads, tokens, tokens]` tensor of
//! scores (25 MB for 8 texts of 256 tokens), its softmax (another), the product with the values
//! and a transpose back. Each is a fresh allocation and a pass over memory. Here the three
//! projections come as one `[tokens, 3 · hidden]` product; for each text, one pass over its rows
//! gathers every head's queries, keys (transposed) and values into head-major buffers (under
//! 400 KB at 256 tokens), then each head takes a few query rows at a time through scores, softmax
//! and weighted sum of values, written straight into the head's columns of the output. The loops
//! are written once over [`pulp::Simd`], like the packed products.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::kernels::exp_shifted_in_place;
use crate::packed::PairWidth;

/// Query rows computed together: each key and value vector loaded is used this many times.
const ROWS: usize = 6;

/// Multi-head self-attention over a fused projection.
///
/// Inputs: `qkv`, `[batch, tokens, 3 · hidden]` (queries already scaled by 1/√head_size, then
/// keys, then values, all without bias); `mask`, `[batch, tokens]` (0 for real tokens, a large
/// negative number for padding); `bias`, `[2, hidden]` (the query bias, scaled as the queries,
/// and the value bias). The key bias is left out: it adds `q · b_k` to every score of a query
/// row alike, which the softmax cancels. The value bias is added after the weighted sum, which
/// is the same because a row's weights sum to 1. Output: `[batch, tokens, hidden]`.
pub(crate) struct Attention {
    pub(crate) heads: usize,
    /// More than 1: texts are attended to in parallel on rayon's threads.
    pub(crate) parts: usize,
    /// The instruction set the loops run on.
    pub(crate) arch: pulp::Arch,
}

impl Attention {
    /// Attends `texts` texts of `tokens` tokens: `qkv` `[texts · tokens, 3 · hidden]`, `mask`
    /// `[texts · tokens]`, `bias` `[2 · hidden]` as above; the output, `[texts · tokens,
    /// hidden]`, replaces what `out` held.
    pub(crate) fn apply(
        &self,
        qkv: &[f32],
        mask: &[f32],
        bias: &[f32],
        tokens: usize,
        out: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        let texts = mask.len() / tokens.max(1);
        let three_hidden = qkv.len() / (texts * tokens).max(1);
        let hidden = three_hidden / 3;
        if self.heads == 0 || !three_hidden.is_multiple_of(3) || !hidden.is_multiple_of(self.heads)
        {
            candle_core::bail!("attention: {three_hidden} columns for {} heads", self.heads);
        }
        if mask.len() != texts * tokens || qkv.len() != texts * tokens * three_hidden {
            candle_core::bail!("attention: the mask does not match the tokens");
        }
        if bias.len() != 2 * hidden {
            candle_core::bail!("attention: the bias does not match the hidden size");
        }
        let head_size = hidden / self.heads;
        // The loops take two SIMD vectors of head dimensions at a time; a head size that does
        // not divide into them runs the plain version (pairs of single values).
        let mut arch = self.arch;
        if !head_size.is_multiple_of(arch.dispatch(PairWidth)) {
            arch = pulp::Arch::Scalar;
        }
        if !head_size.is_multiple_of(arch.dispatch(PairWidth)) {
            candle_core::bail!("attention: odd head size {head_size}");
        }
        let (query_bias, value_bias) = bias.split_at(hidden);
        // Every value is written below: resizing only grows the buffer a thread reuses.
        out.resize(texts * tokens * hidden, 0.0);
        let attend = |(item, out): (usize, &mut [f32])| {
            arch.dispatch(TextAttention {
                qkv: &qkv[item * tokens * three_hidden..][..tokens * three_hidden],
                mask: &mask[item * tokens..][..tokens],
                query_bias,
                value_bias,
                heads: self.heads,
                head_size,
                out,
            });
        };
        let text_len = (tokens * hidden).max(1);
        let out = &mut out[..texts * tokens * hidden];
        if self.parts > 1 {
            out.par_chunks_mut(text_len).enumerate().for_each(attend);
        } else {
            out.chunks_mut(text_len).enumerate().for_each(attend);
        }
        Ok(())
    }
}

/// Every head of one text: `qkv` `[tokens, 3 · hidden]` into `out` `[tokens, hidden]`.
struct TextAttention<'a> {
    qkv: &'a [f32],
    mask: &'a [f32],
    query_bias: &'a [f32],
    value_bias: &'a [f32],
    heads: usize,
    head_size: usize,
    out: &'a mut [f32],
}

impl WithSimd for TextAttention<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let TextAttention {
            qkv,
            mask,
            query_bias,
            value_bias,
            heads,
            head_size,
            out,
        } = self;
        let tokens = mask.len();
        let hidden = heads * head_size;
        let stride = 3 * hidden;
        let lanes = S::F32_LANES;
        let width = 2 * lanes;
        // Keys are taken `width` at a time; the padding keys are zero, masked below and never
        // read back.
        let padded = tokens.div_ceil(width) * width;
        // Every head's queries (with their bias, `[heads][query rows][head size]`, padded with
        // zero rows to whole blocks), keys (transposed, `[hidden][padded]`) and values
        // (`[heads][tokens][head size]`), gathered in one pass over the rows. A text's
        // projections are larger than a core's L2 cache: read head by head, each row would be
        // fetched again for every head.
        //
        // Each head's block, and each row of transposed keys, starts one vector past a multiple
        // of the natural size. At 256 tokens a row of keys is 1 KB and a head's values 32 KB:
        // at those strides the gather's writes for one token all fall into the same few sets of
        // the L1 cache and evict one another (the key transpose alone was a fifth of attention's
        // time in `perf annotate`).
        let query_rows = tokens.div_ceil(ROWS) * ROWS;
        let query_block = query_rows * head_size + lanes;
        let key_row = padded + lanes;
        let value_block = tokens * head_size + lanes;
        let mut queries_by_head = vec![0f32; heads * query_block];
        let mut keys_by_dim = vec![0f32; hidden * key_row];
        let mut values_by_head = vec![0f32; heads * value_block];
        for (token, row) in qkv.chunks_exact(stride).enumerate() {
            let (queries, rest) = row.split_at(hidden);
            let values = &rest[hidden..];
            for (head, (queries, bias)) in queries
                .chunks_exact(head_size)
                .zip(query_bias.chunks_exact(head_size))
                .enumerate()
            {
                let target = &mut queries_by_head[head * query_block + token * head_size..];
                for ((target, query), bias) in target.iter_mut().zip(queries).zip(bias) {
                    *target = query + bias;
                }
            }
            for (head, values) in values.chunks_exact(head_size).enumerate() {
                values_by_head[head * value_block + token * head_size..][..head_size]
                    .copy_from_slice(values);
            }
        }
        // The keys are transposed a tile of tokens at a time, so that each write is a run of
        // consecutive floats: written one float per row of keys, the writes for a token missed
        // the L1 cache (a fifth of attention's time in `perf annotate`).
        for (tile, rows) in qkv.chunks(lanes * stride).enumerate() {
            let first = tile * lanes;
            for (dim, keys) in keys_by_dim.chunks_exact_mut(key_row).enumerate() {
                for (key, row) in keys[first..].iter_mut().zip(rows.chunks_exact(stride)) {
                    *key = row[hidden + dim];
                }
            }
        }
        // The mask over whole blocks of keys: the padding keys past the last token are masked
        // too, so that they are left out of each row's maximum.
        let mut padded_mask = vec![-1e4f32; padded];
        padded_mask[..tokens].copy_from_slice(mask);
        let mut weights = vec![0f32; ROWS * padded];
        let zero = simd.splat_f32s(0.0);
        for head in 0..heads {
            let query_start = head * head_size;
            let queries = &queries_by_head[head * query_block..][..query_rows * head_size];
            let keys = &keys_by_dim[query_start * key_row..][..head_size * key_row];
            let values = &values_by_head[head * value_block..][..tokens * head_size];
            for (block, queries) in queries.chunks_exact(ROWS * head_size).enumerate() {
                let first = block * ROWS;
                let rows = ROWS.min(tokens - first);
                // Scores: each query row against `width` keys at a time, masked, with each
                // row's maximum kept as it goes.
                let mut maxima = [simd.splat_f32s(f32::NEG_INFINITY); ROWS];
                for key in (0..padded).step_by(width) {
                    let mut sums = [[zero; 2]; ROWS];
                    for (dim, keys) in keys.chunks_exact(key_row).enumerate() {
                        let (keys, _) = S::as_simd_f32s(&keys[key..][..width]);
                        for (row, sum) in sums.iter_mut().enumerate() {
                            let query = simd.splat_f32s(queries[row * head_size + dim]);
                            sum[0] = simd.mul_add_e_f32s(query, keys[0], sum[0]);
                            sum[1] = simd.mul_add_e_f32s(query, keys[1], sum[1]);
                        }
                    }
                    let (mask, _) = S::as_simd_f32s(&padded_mask[key..][..width]);
                    for ((row, sum), maximum) in sums.iter().enumerate().zip(&mut maxima) {
                        let target = &mut weights[row * padded + key..][..width];
                        let (target, _) = S::as_mut_simd_f32s(target);
                        target[0] = simd.add_f32s(sum[0], mask[0]);
                        target[1] = simd.add_f32s(sum[1], mask[1]);
                        *maximum = simd.max_f32s(*maximum, simd.max_f32s(target[0], target[1]));
                    }
                }
                // The softmax's numerators; each row's sum divides its weighted sum below.
                let mut inverse_sums = [zero; ROWS];
                for ((row, maximum), inverse) in weights
                    .chunks_exact_mut(padded)
                    .zip(maxima)
                    .zip(&mut inverse_sums)
                    .take(rows)
                {
                    let sum =
                        exp_shifted_in_place(&mut row[..tokens], simd.reduce_max_f32s(maximum));
                    *inverse = simd.splat_f32s(1.0 / sum);
                }
                // The weighted sum of values, `width` head dimensions at a time.
                for dim in (0..head_size).step_by(width) {
                    let mut sums = [[zero; 2]; ROWS];
                    for (token, row) in values.chunks_exact(head_size).enumerate() {
                        let (values, _) = S::as_simd_f32s(&row[dim..][..width]);
                        for (weight_row, sum) in sums.iter_mut().enumerate() {
                            let weight = simd.splat_f32s(weights[weight_row * padded + token]);
                            sum[0] = simd.mul_add_e_f32s(weight, values[0], sum[0]);
                            sum[1] = simd.mul_add_e_f32s(weight, values[1], sum[1]);
                        }
                    }
                    let (bias, _) = S::as_simd_f32s(&value_bias[query_start + dim..][..width]);
                    for ((row, sum), inverse) in
                        sums.iter().enumerate().zip(inverse_sums).take(rows)
                    {
                        let target =
                            &mut out[(first + row) * hidden + query_start + dim..][..width];
                        let (target, _) = S::as_mut_simd_f32s(target);
                        target[0] = simd.mul_add_e_f32s(sum[0], inverse, bias[0]);
                        target[1] = simd.mul_add_e_f32s(sum[1], inverse, bias[1]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Tensor};

    /// Attention as candle's operations compute it, with the key bias included: the fused
    /// version must agree although it leaves that bias out.
    fn unfused(
        qkv: &Tensor,
        mask: &Tensor,
        biases: [&Tensor; 3],
        heads: usize,
    ) -> candle_core::Result<Tensor> {
        let (batch, tokens, three_hidden) = qkv.dims3()?;
        let hidden = three_hidden / 3;
        let split = |index: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(2, index * hidden, hidden)?
                .broadcast_add(biases[index])?
                .reshape((batch, tokens, heads, hidden / heads))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (query, key, value) = (split(0)?, split(1)?, split(2)?);
        let scores = query
            .matmul(&key.t()?.contiguous()?)?
            .broadcast_add(&mask.unsqueeze(1)?.unsqueeze(1)?)?;
        candle_nn::ops::softmax(&scores, D::Minus1)?
            .matmul(&value)?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))
    }

    /// [`Attention::apply`] on tensors: `qkv` `[batch, tokens, 3 · hidden]`, `mask`
    /// `[batch, tokens]`.
    fn attend(
        attention: &Attention,
        qkv: &Tensor,
        mask: &Tensor,
        bias: &Tensor,
    ) -> candle_core::Result<Vec<f32>> {
        let values = |tensor: &Tensor| tensor.flatten_all()?.to_vec1::<f32>();
        let tokens = mask.dims2()?.1;
        let mut out = Vec::new();
        attention.apply(
            &values(qkv)?,
            &values(mask)?,
            &values(bias)?,
            tokens,
            &mut out,
        )?;
        Ok(out)
    }

    #[test]
    fn matches_candles_unfused_attention() -> candle_core::Result<()> {
        let device = Device::Cpu;
        // Token counts below, at and above multiples of the query rows (6) and of the key
        // width (16 with AVX2); head sizes the SIMD loops take (32) and ones only the plain
        // version takes (6).
        for (batch, tokens, heads, head_size) in [
            (1, 1, 2, 32),
            (2, 5, 3, 32),
            (1, 12, 2, 32),
            (3, 17, 12, 32),
            (2, 48, 2, 32),
            (2, 40, 4, 6),
        ] {
            let hidden = heads * head_size;
            let qkv = Tensor::randn(0f32, 1.0, (batch, tokens, 3 * hidden), &device)?;
            let biases = [
                Tensor::randn(0f32, 0.5, hidden, &device)?,
                Tensor::randn(0f32, 0.5, hidden, &device)?,
                Tensor::randn(0f32, 0.5, hidden, &device)?,
            ];
            let mut mask = vec![0f32; batch * tokens];
            if tokens > 2 {
                // The last text's final two tokens are padding.
                mask[batch * tokens - 2..].fill(-1e4);
            }
            let mask = Tensor::from_vec(mask, (batch, tokens), &device)?;
            let expected = unfused(&qkv, &mask, [&biases[0], &biases[1], &biases[2]], heads)?;
            let bias = Tensor::stack(&[&biases[0], &biases[2]], 0)?;
            let archs = crate::compute::ComputePath::available()
                .into_iter()
                .filter_map(|path| path.arch());
            for (parts, arch) in [1, 2]
                .into_iter()
                .flat_map(|parts| archs.clone().map(move |arch| (parts, arch)))
            {
                let attention = Attention { heads, parts, arch };
                let fused = attend(&attention, &qkv, &mask, &bias)?;
                let expected = expected.flatten_all()?.to_vec1::<f32>()?;
                assert_eq!(fused.len(), expected.len());
                for (got, want) in fused.iter().zip(&expected) {
                    assert!(
                        (got - want).abs() <= 1e-5 + 1e-4 * want.abs(),
                        "{arch:?} {batch}×{tokens}, {heads} heads of {head_size}: {got} against {want}"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn mismatched_shapes_are_errors() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let qkv = Tensor::zeros((1, 4, 3 * 64), candle_core::DType::F32, &device)?;
        let mask = Tensor::zeros((1, 4), candle_core::DType::F32, &device)?;
        let bias = Tensor::zeros((2, 64), candle_core::DType::F32, &device)?;
        let wrong_heads = Attention {
            heads: 3,
            parts: 1,
            arch: pulp::Arch::new(),
        };
        assert!(attend(&wrong_heads, &qkv, &mask, &bias).is_err());
        let short_mask = Tensor::zeros((1, 3), candle_core::DType::F32, &device)?;
        let attention = Attention {
            heads: 2,
            parts: 1,
            arch: pulp::Arch::new(),
        };
        assert!(attend(&attention, &qkv, &short_mask, &bias).is_err());
        assert!(attend(&attention, &qkv, &mask, &bias).is_ok());
        let odd_heads = Tensor::zeros((1, 4, 3 * 9), candle_core::DType::F32, &device)?;
        let odd_bias = Tensor::zeros((2, 9), candle_core::DType::F32, &device)?;
        let three_heads = Attention {
            heads: 3,
            parts: 1,
            arch: pulp::Arch::new(),
        };
        let error = attend(&three_heads, &odd_heads, &mask, &odd_bias).unwrap_err();
        assert!(error.to_string().contains("odd head size 3"), "{error}");
        Ok(())
    }
}
