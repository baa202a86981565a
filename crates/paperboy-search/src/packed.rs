//! Dense-layer products with the weights packed once, at load.
//!
//! A general matrix library (gemm, under candle's `matmul`) rearranges both operands into its
//! own layout on every call. For the encoder's shapes — a few dozen to a few thousand token rows
//! against a fixed weight matrix — rearranging the weights each time is waste: here they are
//! laid out once in panels of two SIMD vectors of outputs, so that the inner loop reads one panel
//! row per input and multiplies it into six token rows at once. The loop is written once over
//! [`pulp::Simd`] and compiled for AVX-512, for AVX2 + FMA and for plain scalar code; the
//! compute path (`compute.rs`) says which one runs. The integer version is `quantized.rs`.

use std::ops::Range;

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Token rows multiplied per pass over a panel.
pub(crate) const ROWS: usize = 6;
/// Blocks of [`ROWS`] rows that meet every panel before the next rows do: 8 · 6 rows of 384
/// inputs are 72 KiB.
pub(crate) const TILE_BLOCKS: usize = 8;

/// A weight matrix `[outputs, inputs]`, packed in panels of `width` outputs: panel `p` holds,
/// input after input, the weights of outputs `p · width .. (p + 1) · width` (zeros past the
/// last output).
#[derive(Debug)]
pub(crate) struct PackedWeights {
    panels: Vec<f32>,
    inputs: usize,
    outputs: usize,
    width: usize,
    /// The instruction set the panels were laid out for; products run with the same one.
    arch: pulp::Arch,
}

/// The number of floats in two SIMD vectors of an instruction set (16 with AVX2): the width of a
/// panel here, and of the key and value blocks in `attention.rs`.
pub(crate) struct PairWidth;

impl WithSimd for PairWidth {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> usize {
        2 * S::F32_LANES
    }
}

impl PackedWeights {
    /// Packs `weight`, `[outputs, inputs]` in row-major order, for products on `arch`.
    pub(crate) fn new(arch: pulp::Arch, weight: &[f32], outputs: usize, inputs: usize) -> Self {
        debug_assert_eq!(weight.len(), outputs * inputs);
        let width = arch.dispatch(PairWidth);
        let panel_count = outputs.div_ceil(width);
        let mut panels = vec![0f32; panel_count * inputs * width];
        for (output, row) in weight.chunks_exact(inputs.max(1)).enumerate() {
            let (panel, lane) = (output / width, output % width);
            for (input, value) in row.iter().enumerate() {
                panels[(panel * inputs + input) * width + lane] = *value;
            }
        }
        PackedWeights {
            panels,
            inputs,
            outputs,
            width,
            arch,
        }
    }

    #[cfg(test)]
    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }

    pub(crate) fn inputs(&self) -> usize {
        self.inputs
    }

    /// `x · weightᵀ` for `x` `[rows, inputs]` (row-major) into `out`, `[rows, outputs]`,
    /// computed in `parts` blocks of panels at once (1: on the calling thread). `interleaved`
    /// holds the rearranged inputs; both buffers keep their memory for the next product.
    pub(crate) fn product_into(
        &self,
        x: &[f32],
        rows: usize,
        parts: usize,
        interleaved: &mut Vec<f32>,
        out: &mut Vec<f32>,
    ) {
        debug_assert_eq!(x.len(), rows * self.inputs);
        if self.inputs == 0 {
            out.clear();
            out.resize(rows * self.outputs, 0.0);
            return;
        }
        interleave_rows(x, rows, self.inputs, interleaved);
        let panel_count = self.outputs.div_ceil(self.width);
        side_by_side(
            panel_count,
            self.width,
            self.outputs,
            rows,
            parts,
            out,
            |panels, block| {
                self.arch.dispatch(PanelProduct {
                    weights: self,
                    interleaved,
                    rows,
                    panels,
                    out: block,
                })
            },
        );
    }
}

/// A product computed in `parts` blocks of panels at once (1: on the calling thread), into
/// `out`, `[rows, outputs]`: `block` writes every column of a range of panels for every row,
/// `[rows, panels · width]`, into the slice it is given. One block of every column, without
/// padding, is written into `out` directly; otherwise the blocks are put side by side without
/// the last panel's padding.
pub(crate) fn side_by_side(
    panel_count: usize,
    width: usize,
    outputs: usize,
    rows: usize,
    parts: usize,
    out: &mut Vec<f32>,
    block: impl Fn(Range<usize>, &mut [f32]) + Sync,
) {
    // Every value is written below: resizing only grows the buffer a thread reuses.
    out.resize(rows * outputs, 0.0);
    let per_part = panel_count.div_ceil(parts.max(1)).max(1);
    if per_part >= panel_count && panel_count * width == outputs {
        block(0..panel_count, out);
        return;
    }
    let ranges: Vec<Range<usize>> = (0..panel_count)
        .step_by(per_part)
        .map(|start| start..(start + per_part).min(panel_count))
        .collect();
    let compute = |range: &Range<usize>| {
        let mut values = vec![0f32; rows * range.len() * width];
        block(range.clone(), &mut values);
        values
    };
    let blocks: Vec<Vec<f32>> = if ranges.len() > 1 {
        ranges.par_iter().map(compute).collect()
    } else {
        ranges.iter().map(compute).collect()
    };
    // Here `outputs` is not 0: no panels go the direct way.
    for (row, target) in out.chunks_exact_mut(outputs).enumerate() {
        let mut start = 0;
        for (range, block) in ranges.iter().zip(&blocks) {
            let block_width = range.len() * width;
            let used = block_width.min(outputs - start);
            target[start..][..used].copy_from_slice(&block[row * block_width..][..used]);
            start += used;
        }
    }
}

/// `x` regrouped in blocks of [`ROWS`] rows, each block input-major (`[input][ROWS]`), the last
/// block padded with zero rows: the kernel then reads the six values it multiplies by one panel
/// row from one place.
fn interleave_rows(x: &[f32], rows: usize, inputs: usize, interleaved: &mut Vec<f32>) {
    interleaved.clear();
    interleaved.reserve(rows.div_ceil(ROWS) * ROWS * inputs);
    // Block by block, so that the zeros written first are still in cache when overwritten.
    for block in x.chunks(ROWS * inputs) {
        let start = interleaved.len();
        interleaved.resize(start + ROWS * inputs, 0.0);
        let target = &mut interleaved[start..];
        for (offset, row) in block.chunks_exact(inputs).enumerate() {
            for (slot, value) in target[offset..].iter_mut().step_by(ROWS).zip(row) {
                *slot = *value;
            }
        }
    }
}

/// The product's columns of a range of panels, for every row, into `out`, `[rows, panels ·
/// width]`.
struct PanelProduct<'a> {
    weights: &'a PackedWeights,
    interleaved: &'a [f32],
    rows: usize,
    panels: Range<usize>,
    out: &'a mut [f32],
}

impl WithSimd for PanelProduct<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let PanelProduct {
            weights,
            interleaved,
            rows,
            panels,
            out,
        } = self;
        let (inputs, width) = (weights.inputs, weights.width);
        debug_assert_eq!(
            width,
            2 * S::F32_LANES,
            "packed for another instruction set"
        );
        let block_width = panels.len() * width;
        let tile_rows = TILE_BLOCKS * ROWS;
        // Each tile's product is written into one buffer that stays in cache, then copied out
        // (a short text's whole product fits in fewer rows than a tile).
        let buffer_rows = tile_rows.min(rows.div_ceil(ROWS) * ROWS);
        let mut tile_out = vec![0f32; buffer_rows * block_width];
        let zero = simd.splat_f32s(0.0);
        // Rows a tile at a time, so that a tile of the input stays in cache while every panel
        // passes over it (and each panel while it meets the tile's rows).
        for (tile, tile_input) in interleaved.chunks(tile_rows * inputs).enumerate() {
            for (slot, panel) in panels.clone().enumerate() {
                let panel = &weights.panels[panel * inputs * width..][..inputs * width];
                for (block, rows_in) in tile_input.chunks_exact(ROWS * inputs).enumerate() {
                    let mut sums = [[zero; 2]; ROWS];
                    for (panel_row, values) in
                        panel.chunks_exact(width).zip(rows_in.chunks_exact(ROWS))
                    {
                        let (vectors, _) = S::as_simd_f32s(panel_row);
                        let (low, high) = (vectors[0], vectors[1]);
                        for (sum, value) in sums.iter_mut().zip(values) {
                            let value = simd.splat_f32s(*value);
                            sum[0] = simd.mul_add_e_f32s(value, low, sum[0]);
                            sum[1] = simd.mul_add_e_f32s(value, high, sum[1]);
                        }
                    }
                    for (offset, sum) in sums.iter().enumerate() {
                        let row = block * ROWS + offset;
                        let target = &mut tile_out[row * block_width + slot * width..][..width];
                        let (target, _) = S::as_mut_simd_f32s(target);
                        target[0] = sum[0];
                        target[1] = sum[1];
                    }
                }
            }
            let rows_here = (rows - tile * tile_rows).min(tile_rows);
            out[tile * tile_rows * block_width..][..rows_here * block_width]
                .copy_from_slice(&tile_out[..rows_here * block_width]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product into buffers as a thread leaves them: holding other values (NaN here,
    /// which no value left unwritten would hide).
    fn product(packed: &PackedWeights, x: &[f32], rows: usize, parts: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; 3 + rows * packed.outputs()];
        packed.product_into(x, rows, parts, &mut vec![f32::NAN; 5], &mut out);
        out
    }

    fn naive(x: &[f32], weight: &[f32], outputs: usize, inputs: usize) -> Vec<f32> {
        let rows = x.len() / inputs;
        let mut out = vec![0f32; rows * outputs];
        for row in 0..rows {
            for output in 0..outputs {
                out[row * outputs + output] = (0..inputs)
                    .map(|input| x[row * inputs + input] * weight[output * inputs + input])
                    .sum();
            }
        }
        out
    }

    fn values(count: usize, seed: u32) -> Vec<f32> {
        (0..count as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn matches_the_naive_product_for_any_shape_and_split() {
        // Rows not a multiple of the block, outputs not a multiple of the panel width, and more
        // rows than one tile.
        for (rows, inputs, outputs) in [
            (1, 8, 16),
            (5, 37, 21),
            (20, 384, 384),
            (9, 64, 1536),
            (101, 40, 33),
        ] {
            let x = values(rows * inputs, 7);
            let weight = values(outputs * inputs, 11);
            let expected = naive(&x, &weight, outputs, inputs);
            // Every instruction set this CPU has.
            let paths = crate::compute::ComputePath::available();
            for arch in paths.iter().filter_map(|path| path.arch()) {
                let packed = PackedWeights::new(arch, &weight, outputs, inputs);
                for parts in [1, 2, 3] {
                    let product = product(&packed, &x, rows, parts);
                    assert_eq!(product.len(), expected.len());
                    for (got, want) in product.iter().zip(&expected) {
                        assert!(
                            (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{arch:?} {rows}×{inputs}→{outputs} in {parts} parts: {got} against {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_rows_or_no_inputs_never_fail() {
        let arch = pulp::Arch::new();
        let packed = PackedWeights::new(arch, &values(32, 1), 4, 8);
        assert!(product(&packed, &[], 0, 2).is_empty());
        let empty = PackedWeights::new(arch, &[], 5, 0);
        assert_eq!(product(&empty, &[], 3, 2), vec![0.0; 15]);
    }
}
