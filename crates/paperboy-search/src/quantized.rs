//! Dense-layer products in integers, on AVX-512 VNNI.
//!
//! `vpdpwssd` multiplies 32 pairs of 16-bit integers and adds each two products into one of 16
//! 32-bit integers: twice the products of an AVX-512 float FMA, and on the Xeons these machines
//! get it issues as often. The weights are quantised once, at load, per output (`w ≈ q ·
//! scale_out`, `q` in ±1023); the inputs per row when the product runs (`x ≈ p · scale_row`,
//! `p` in ±5,000 or so: as many steps as keep the widest possible sum of the layer within an
//! `i32`). Sums are exact integers, so the only error is the rounding, and the kernel's result
//! equals a plain integer loop's exactly (tested).
//!
//! Why not bytes (`vpdpbusd`, twice the products again): measured on the reference texts, 8-bit
//! weights alone (one scale per output) take the embeddings to cosine 0.9965 of the float
//! model's, and 8-bit inputs (one scale per row) each layer's products to 0.998–0.999 even with
//! SmoothQuant's smoothing; the guard is 0.999 on every row. 10-bit weights with 12-to-13-bit
//! inputs keep every reference row above 0.9999.
//!
//! The weights are packed in panels of [`PANEL`] outputs, two inputs at a time, so that one
//! pair of inputs of a panel is two vectors; six rows share each load.

use std::ops::Range;

use crate::kernels::vectorized;
use crate::packed::{ROWS, TILE_BLOCKS, side_by_side};

/// Outputs per panel: two vectors of 16 sums.
const PANEL: usize = 32;
/// Inputs a sum takes at once.
const GROUP: usize = 2;
/// The largest weight code.
const WEIGHT_STEPS: f32 = 1023.0;
/// The largest input code a 16-bit integer holds.
const INPUT_STEPS: f32 = 32767.0;

/// Whether this CPU runs the integer kernel.
pub(crate) fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix `[outputs, inputs]` quantised per output and packed in panels.
#[derive(Debug)]
pub(crate) struct QuantizedWeights {
    /// Panel `p`, group `g`: the codes of outputs `p · PANEL ..` for inputs `g · 2 .. g · 2 + 2`,
    /// output after output (zeros past the last output and the last input).
    panels: Vec<i16>,
    /// Per output: the scale of its codes.
    scales: Vec<f32>,
    /// The largest input code: as fine as the sums allow without overflow.
    input_steps: f32,
    /// The instruction set the inputs are quantised with.
    arch: pulp::Arch,
    inputs: usize,
    outputs: usize,
}

/// Rows of inputs as 16-bit codes, two to an `i32`, in blocks of [`ROWS`] rows (the last one
/// padded with zeros), each block input-major (`[group][ROWS]`), so that the kernel reads the
/// six values it multiplies by one pair of weight vectors from one place; and each row's scale.
#[derive(Debug, Default)]
pub(crate) struct QuantizedRows {
    codes: Vec<i32>,
    scales: Vec<f32>,
    groups: usize,
}

impl QuantizedWeights {
    /// Quantises and packs `weight`, `[outputs, inputs]` in row-major order. Callers check
    /// [`vnni_available`] before asking for products.
    pub(crate) fn new(arch: pulp::Arch, weight: &[f32], outputs: usize, inputs: usize) -> Self {
        debug_assert_eq!(weight.len(), outputs * inputs);
        let groups = inputs.div_ceil(GROUP);
        let panel_count = outputs.div_ceil(PANEL);
        let mut panels = vec![0i16; panel_count * groups * PANEL * GROUP];
        let mut scales = vec![0f32; outputs];
        for (output, row) in weight.chunks_exact(inputs.max(1)).enumerate() {
            let (scale, inverse) = scale_of(row, WEIGHT_STEPS);
            scales[output] = scale;
            let (panel, lane) = (output / PANEL, output % PANEL);
            for (input, value) in row.iter().enumerate() {
                let (group, within) = (input / GROUP, input % GROUP);
                panels[((panel * groups + group) * PANEL + lane) * GROUP + within] =
                    quantise(*value, inverse, WEIGHT_STEPS);
            }
        }
        // |Σ p · q| ≤ inputs · input_steps · weight_steps must stay an i32 (5,466 steps for 384
        // inputs, 1,366 for 1,536).
        let widest = i32::MAX as f32 / (WEIGHT_STEPS * (groups.max(1) * GROUP) as f32);
        QuantizedWeights {
            panels,
            scales,
            input_steps: INPUT_STEPS.min(widest.floor()),
            arch,
            inputs,
            outputs,
        }
    }

    #[cfg(test)]
    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }

    pub(crate) fn inputs(&self) -> usize {
        self.inputs
    }

    /// `x · weightᵀ` for `x` `[rows, inputs]` into `out`, `[rows, outputs]`, in `parts`
    /// blocks of panels at once (1: on the calling thread). `quantised` holds the inputs' codes;
    /// both buffers keep their memory for the next product.
    pub(crate) fn product_into(
        &self,
        x: &[f32],
        rows: usize,
        parts: usize,
        quantised: &mut QuantizedRows,
        out: &mut Vec<f32>,
    ) {
        debug_assert_eq!(x.len(), rows * self.inputs);
        if self.inputs == 0 || rows == 0 {
            out.clear();
            out.resize(rows * self.outputs, 0.0);
            return;
        }
        quantise_rows(self.arch, x, rows, self.inputs, self.input_steps, quantised);
        let panel_count = self.outputs.div_ceil(PANEL);
        side_by_side(
            panel_count,
            PANEL,
            self.outputs,
            rows,
            parts,
            out,
            |panels, block| self.panel_products(quantised, rows, panels, block),
        );
    }

    /// The columns of a range of panels for every row, into `out`, `[rows, panels · PANEL]`
    /// (columns past the last output are left as they are).
    fn panel_products(
        &self,
        quantised: &QuantizedRows,
        rows: usize,
        panels: Range<usize>,
        out: &mut [f32],
    ) {
        // Under the instruction set, so that the scaling of the sums vectorises for it.
        vectorized(
            self.arch,
            #[inline(always)]
            || {
                let groups = quantised.groups;
                let block_width = panels.len() * PANEL;
                let mut sums = [[0i32; PANEL]; ROWS];
                let tile_rows = TILE_BLOCKS * ROWS;
                // A tile of rows meets every panel before the next tile: the tile's codes stay
                // in cache.
                for tile_start in (0..rows).step_by(tile_rows) {
                    for (slot, panel) in panels.clone().enumerate() {
                        let weights = &self.panels[panel * groups * PANEL * GROUP..]
                            [..groups * PANEL * GROUP];
                        for block_start in
                            (tile_start..(tile_start + tile_rows).min(rows)).step_by(ROWS)
                        {
                            let codes = &quantised.codes[block_start * groups..][..ROWS * groups];
                            block_sums(weights, codes, groups, &mut sums);
                            let first_output = panel * PANEL;
                            let used = PANEL.min(self.outputs - first_output);
                            for (offset, row_sums) in sums.iter().enumerate() {
                                let row = block_start + offset;
                                if row >= rows {
                                    break;
                                }
                                let row_scale = quantised.scales[row];
                                let target = &mut out[row * block_width + slot * PANEL..][..used];
                                let scales = &self.scales[first_output..][..used];
                                for ((value, sum), scale) in
                                    target.iter_mut().zip(row_sums).zip(scales)
                                {
                                    *value = *sum as f32 * (row_scale * scale);
                                }
                            }
                        }
                    }
                }
            },
        )
    }
}

/// A row's scale (largest magnitude ↦ `steps`) and its inverse; zeros for a row of zeros.
#[inline(always)]
fn scale_of(values: &[f32], steps: f32) -> (f32, f32) {
    // In 16 lanes, so that it vectorises (a float `max` does not reassociate).
    let mut lanes = [0f32; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            // Not `f32::max`, whose care for NaN costs a compare and two blends a vector.
            let magnitude = value.abs();
            if magnitude > *lane {
                *lane = magnitude;
            }
        }
    }
    let largest = rest
        .iter()
        .chain(&lanes)
        .fold(0f32, |max, value| max.max(value.abs()));
    if largest > 0.0 && largest.is_finite() {
        (largest / steps, steps / largest)
    } else {
        (0.0, 0.0)
    }
}

/// To the nearest code (halves to even) by adding 1.5 · 2²³, after which the float's low
/// mantissa bits are the rounded integer. Written so that the loop vectorises: with `clamp`
/// (which checks its bounds for every value) and a saturating `as`, quantising the inputs ran
/// one value at a time and took 18% of the encoder's time (now 5%); `round` would be a call
/// into the C library for each value.
#[inline(always)]
fn quantise(value: f32, inverse: f32, steps: f32) -> i16 {
    const ROUND: f32 = 12_582_912.0;
    // |scaled| ≤ steps < 2²², where the sum's exponent is fixed and its unit is 1.
    let scaled = (value * inverse).max(-steps).min(steps);
    ((scaled + ROUND).to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32) as i16
}

/// `x`, `[rows, inputs]`, quantised row by row to at most `steps`.
fn quantise_rows(
    arch: pulp::Arch,
    x: &[f32],
    rows: usize,
    inputs: usize,
    steps: f32,
    into: &mut QuantizedRows,
) {
    let groups = inputs.div_ceil(GROUP);
    let padded_rows = rows.div_ceil(ROWS) * ROWS;
    into.groups = groups;
    let (codes, scales) = (&mut into.codes, &mut into.scales);
    // Every block is written whole below: no need to clear what the last product left.
    codes.resize(padded_rows * groups, 0);
    scales.clear();
    scales.resize(padded_rows, 0.0);
    let row_len = groups * GROUP;
    let mut block_codes = vec![0i16; ROWS * row_len];
    for (block, (x, codes)) in x[..rows * inputs]
        .chunks(ROWS * inputs)
        .zip(codes.chunks_exact_mut(ROWS * groups))
        .enumerate()
    {
        let present = x.len() / inputs;
        for (row, values) in x.chunks_exact(inputs).enumerate() {
            scales[block * ROWS + row] = quantise_row(
                arch,
                values,
                steps,
                &mut block_codes[row * row_len..][..row_len],
            );
        }
        // The rows past the last are zero.
        block_codes[present * row_len..].fill(0);
        // Rearranged input-major in one sequential pass, outside the instruction set's
        // function on purpose: compiled for AVX-512, writing each row's codes at a stride of
        // six became `vpscatterdd`, microcoded and slow (two fifths of quantising's time in
        // `perf annotate`), and even as plain stores, a stride over a buffer larger than the
        // cache stalled on each line.
        for (group, codes) in codes.chunks_exact_mut(ROWS).enumerate() {
            for (row, code) in codes.iter_mut().enumerate() {
                let pair = &block_codes[row * row_len + group * GROUP..][..GROUP];
                *code = i32::from(pair[0] as u16) | (i32::from(pair[1] as u16) << 16);
            }
        }
    }
}

/// One row's codes (at most `steps`) into `codes`, under `arch`, so that the loops vectorise
/// for it; returns the row's scale.
fn quantise_row(arch: pulp::Arch, values: &[f32], steps: f32, codes: &mut [i16]) -> f32 {
    vectorized(
        arch,
        #[inline(always)]
        || {
            let (scale, inverse) = scale_of(values, steps);
            for (code, value) in codes.iter_mut().zip(values) {
                *code = quantise(*value, inverse, steps);
            }
            scale
        },
    )
}

/// The integer sums of one panel with a block of [`ROWS`] rows: `weights` is the panel (`groups
/// · PANEL · GROUP` codes), `codes` the block (`groups · ROWS`, input-major).
fn block_sums(weights: &[i16], codes: &[i32], groups: usize, sums: &mut [[i32; PANEL]; ROWS]) {
    assert!(weights.len() >= groups * PANEL * GROUP && codes.len() >= ROWS * groups);
    #[cfg(target_arch = "x86_64")]
    if vnni_available() {
        vnni::block_sums(weights, codes, groups, sums);
        return;
    }
    plain_block_sums(weights, codes, groups, sums);
}

/// [`block_sums`] in plain integer code: what the kernel must equal, and what runs if a
/// caller ever asks for products on a CPU without VNNI.
fn plain_block_sums(
    weights: &[i16],
    codes: &[i32],
    groups: usize,
    sums: &mut [[i32; PANEL]; ROWS],
) {
    for (row, row_sums) in sums.iter_mut().enumerate() {
        for (lane, sum) in row_sums.iter_mut().enumerate() {
            *sum = codes[row..]
                .iter()
                .step_by(ROWS)
                .take(groups)
                .enumerate()
                .map(|(group, pair)| {
                    let weights = &weights[(group * PANEL + lane) * GROUP..][..GROUP];
                    let (low, high) = (*pair as i16, (*pair >> 16) as i16);
                    i32::from(low) * i32::from(weights[0]) + i32::from(high) * i32::from(weights[1])
                })
                .fold(0i32, i32::wrapping_add);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod vnni {
    use std::arch::x86_64::{
        __m512i, _mm512_dpwssd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };

    use super::{GROUP, PANEL, ROWS};

    /// See [`super::block_sums`].
    pub(super) fn block_sums(
        weights: &[i16],
        codes: &[i32],
        groups: usize,
        sums: &mut [[i32; PANEL]; ROWS],
    ) {
        assert!(super::vnni_available());
        // SAFETY: the CPU has AVX-512F and VNNI (checked above).
        unsafe { kernel(weights, codes, groups, sums) }
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    fn kernel(weights: &[i16], codes: &[i32], groups: usize, sums: &mut [[i32; PANEL]; ROWS]) {
        let mut accumulators = [[_mm512_setzero_si512(); 2]; ROWS];
        for (panel_row, block_codes) in weights
            .chunks_exact(PANEL * GROUP)
            .zip(codes.chunks_exact(ROWS))
            .take(groups)
        {
            // SAFETY: a panel row is 64 `i16`s, two vectors; unaligned loads.
            let (low, high) = unsafe {
                let start = panel_row.as_ptr().cast::<__m512i>();
                (_mm512_loadu_si512(start), _mm512_loadu_si512(start.add(1)))
            };
            for (accumulator, pair) in accumulators.iter_mut().zip(block_codes) {
                let pair = _mm512_set1_epi32(*pair);
                accumulator[0] = _mm512_dpwssd_epi32(accumulator[0], pair, low);
                accumulator[1] = _mm512_dpwssd_epi32(accumulator[1], pair, high);
            }
        }
        for (row_sums, accumulator) in sums.iter_mut().zip(&accumulators) {
            // SAFETY: a row of sums is 32 `i32`s, two vectors; unaligned stores.
            unsafe {
                let target = row_sums.as_mut_ptr().cast::<__m512i>();
                _mm512_storeu_si512(target, accumulator[0]);
                _mm512_storeu_si512(target.add(1), accumulator[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(count: usize, seed: u32) -> Vec<f32> {
        (0..count as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// The product into buffers as a thread leaves them: holding other values (NaN and stray
    /// codes here, which no value left unwritten would hide).
    fn product(weights: &QuantizedWeights, x: &[f32], rows: usize, parts: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; 3 + rows * weights.outputs()];
        let mut quantised = QuantizedRows {
            codes: vec![7; 11],
            scales: vec![f32::NAN; 3],
            groups: 99,
        };
        weights.product_into(x, rows, parts, &mut quantised, &mut out);
        out
    }

    #[test]
    fn the_kernel_sums_exactly_what_plain_integer_code_sums() {
        if !vnni_available() {
            eprintln!("no AVX-512 VNNI here: only the plain sums run");
            return;
        }
        for groups in [1, 7, 96, 384] {
            let weights: Vec<i16> = (0..groups * PANEL * GROUP)
                .map(|i| (((i * 37) % 2047) as i32 - 1023) as i16)
                .collect();
            // Any pairs of codes: the sums wrap alike.
            let codes: Vec<i32> = (0..ROWS * groups)
                .map(|i| (i as i32).wrapping_mul(1_103_515_245))
                .collect();
            let (mut fast, mut plain) = ([[0; PANEL]; ROWS], [[0; PANEL]; ROWS]);
            #[cfg(target_arch = "x86_64")]
            vnni::block_sums(&weights, &codes, groups, &mut fast);
            plain_block_sums(&weights, &codes, groups, &mut plain);
            assert_eq!(fast, plain, "{groups} groups");
        }
    }

    #[test]
    fn products_are_within_the_rounding_of_the_float_product() {
        for (rows, inputs, outputs) in [
            (1, 8, 16),
            (5, 37, 21),
            (20, 384, 384),
            (9, 1536, 384),
            (101, 40, 33),
        ] {
            let x = values(rows * inputs, 7);
            let weight = values(outputs * inputs, 11);
            let quantised = QuantizedWeights::new(pulp::Arch::new(), &weight, outputs, inputs);
            for parts in [1, 2, 3] {
                let product = product(&quantised, &x, rows, parts);
                assert_eq!(product.len(), rows * outputs);
                for row in 0..rows {
                    for output in 0..outputs {
                        let exact: f32 = (0..inputs)
                            .map(|input| x[row * inputs + input] * weight[output * inputs + input])
                            .sum();
                        let got = product[row * outputs + output];
                        // Each weight is off by at most half a step of its scale (1/2046 here),
                        // each input by less; the errors are independent, so the sum's is about
                        // √inputs of them.
                        let tolerance = 4.0 * (inputs as f32).sqrt() / 2046.0;
                        assert!(
                            (got - exact).abs() <= tolerance,
                            "{rows}×{inputs}→{outputs} in {parts} parts: {got} against {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rows_of_zeros_and_no_inputs_give_zeros() {
        let quantised = QuantizedWeights::new(pulp::Arch::new(), &values(32, 1), 4, 8);
        assert_eq!(product(&quantised, &[0.0; 16], 2, 1), vec![0.0; 8]);
        assert!(product(&quantised, &[], 0, 2).is_empty());
        let empty = QuantizedWeights::new(pulp::Arch::new(), &[], 5, 0);
        assert_eq!(product(&empty, &[], 3, 2), vec![0.0; 15]);
    }
}
