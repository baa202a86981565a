//! The encoder's element-wise work, fused and spread over the cores.
//!
//! candle runs each element-wise operation as its own pass over memory, with a fresh tensor for
//! each result: adding a bias, the residual, normalising, scaling the attention scores, masking
//! them, the softmax. Each kernel here does one layer step in one pass per row, in place in the
//! buffers a thread's batches reuse (`bert.rs`'s workspace), with reductions in eight lanes and
//! a polynomial `exp` and `erf`, so that the compiler vectorises all of it (and, inlined into
//! the SIMD loops of `attention.rs`, for the instruction set chosen there).
//! They run on the calling thread: the embedder gives each core whole batches.

use pulp::{Simd, WithSimd};

/// Runs `body` compiled for `arch`'s instructions, so that its loops vectorise for them.
///
/// Not `arch.dispatch(closure)`: pulp calls a closure through `FnOnce::call_once`, a shim the
/// compiler does not inline, so the closure's loops were compiled for plain x86-64 (SSE, four
/// floats a vector) — a fifth of the encoder's time on the int16 path, seen in `perf annotate`.
/// Called as `FnMut`, the closure's own body is inlined into pulp's function for the
/// instruction set.
#[inline(always)]
pub(crate) fn vectorized<R>(arch: pulp::Arch, body: impl FnMut() -> R) -> R {
    struct Body<F>(F);
    impl<R, F: FnMut() -> R> WithSimd for Body<F> {
        type Output = R;

        #[inline(always)]
        fn with_simd<S: Simd>(mut self, _: S) -> R {
            (self.0)()
        }
    }
    arch.dispatch(Body(body))
}

/// The softmax's numerators in place, `e^(score − max)`, for one row of attention scores
/// already masked, and their sum: the caller divides by it once per output instead of once per
/// weight.
#[inline(always)]
pub(crate) fn exp_shifted_in_place(scores: &mut [f32], max: f32) -> f32 {
    for score in scores.iter_mut() {
        *score = exp(*score - max);
    }
    lanes_sum(scores)
}

/// `gelu(x + bias)` in place for `x` `[rows, width]` and `bias` `[width]`, with BERT's exact
/// (erf) GELU, vectorised for `arch`.
pub(crate) fn bias_gelu_in_place(arch: pulp::Arch, x: &mut [f32], bias: &[f32]) {
    let width = bias.len().max(1);
    debug_assert!(x.len().is_multiple_of(width));
    vectorized(
        arch,
        #[inline(always)]
        || {
            for row in x.chunks_exact_mut(width) {
                for (value, bias) in row.iter_mut().zip(bias) {
                    *value = gelu(*value + bias);
                }
            }
        },
    );
}

/// `layer_norm(x + residual + bias) · gamma + beta` per row, in place in `x`, for `x` and
/// `residual` `[rows, width]` and `params` `[3, width]` holding bias, gamma and beta.
pub(crate) fn bias_residual_norm_in_place(
    arch: pulp::Arch,
    eps: f32,
    x: &mut [f32],
    residual: &[f32],
    params: &[f32],
) {
    let width = params.len() / 3;
    debug_assert!(width > 0 && params.len() == 3 * width);
    debug_assert!(x.len() == residual.len() && x.len().is_multiple_of(width));
    let (bias, rest) = params.split_at(width);
    let (gamma, beta) = rest.split_at(width);
    vectorized(
        arch,
        #[inline(always)]
        || {
            for (values, skip) in x.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
                for ((value, skip), bias) in values.iter_mut().zip(skip).zip(bias) {
                    *value += skip + bias;
                }
                let mean = lanes_sum(values) / width as f32;
                for value in values.iter_mut() {
                    *value -= mean;
                }
                let variance = lanes_sum_of_squares(values) / width as f32;
                let scale = 1.0 / (variance + eps).sqrt();
                for ((value, gamma), beta) in values.iter_mut().zip(gamma).zip(beta) {
                    *value = *value * scale * gamma + beta;
                }
            }
        },
    );
}

/// Reductions in eight independent lanes: a float sum or maximum in one chain cannot be
/// vectorised (its order is part of its result), eight chains can.
#[inline(always)]
fn lanes_sum(values: &[f32]) -> f32 {
    let add = |total: f32, value: f32| total + value;
    lanes(values, 0.0, add, add)
}

#[inline(always)]
fn lanes_sum_of_squares(values: &[f32]) -> f32 {
    let add_square = |total: f32, value: f32| total + value * value;
    lanes(values, 0.0, add_square, |total, lane| total + lane)
}

/// Folds `values` with `step` in eight lanes, then the lanes with `combine`.
#[inline(always)]
fn lanes(
    values: &[f32],
    start: f32,
    step: impl Fn(f32, f32) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut lanes = [start; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(start, |total, value| step(total, *value));
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane = step(*lane, *value);
        }
    }
    lanes.into_iter().fold(tail, combine)
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf by Abramowitz and Stegun 7.1.28: absolute error below 3e-7 in exact arithmetic, 2e-6
/// in f32.
#[inline(always)]
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

/// e^x for the softmax (x ≤ 0 there), as Cephes computes it: x = n·ln 2 + r with |r| ≤ ln2/2,
/// e^r by a degree-6 polynomial, 2^n put into the exponent bits. Relative error below 2e-7;
/// inputs below −80 give 0 (see [`UNDERFLOW`]).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    /// 1.5 · 2^23: adding it rounds to an integer, in vectorisable arithmetic.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let polynomial = 1.987_569_1e-4;
    let polynomial = polynomial * r + 1.398_199_9e-3;
    let polynomial = polynomial * r + 8.333_452e-3;
    let polynomial = polynomial * r + 4.166_579_6e-2;
    let polynomial = polynomial * r + 1.666_666_5e-1;
    let polynomial = polynomial * r + 0.5;
    let e_r = polynomial * r * r + r + 1.0;
    // `shifted`'s low mantissa bits hold n (two's complement, |n| < 2^22): 2^n is n + 127 in
    // the exponent field.
    let two_to_n = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127)
        << 23;
    let value = e_r * f32::from_bits(two_to_n);
    if x < UNDERFLOW { 0.0 } else { value }
}

/// Below this, [`exp`] gives 0. e^−80 divided by a softmax's sum over at most 256 tokens is
/// still a normal float; smaller values (a padding token's weight, e^−87 before) became
/// subnormal there, and each subnormal result costs the CPU a microcode assist.
const UNDERFLOW: f32 = -80.0;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn lane_reductions_match_plain_ones() {
        for length in [0, 1, 7, 8, 9, 100] {
            let values: Vec<f32> = (0..length).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            assert_eq!(lanes_sum(&values), values.iter().sum::<f32>());
            assert_eq!(
                lanes_sum_of_squares(&values),
                values.iter().map(|v| v * v).sum::<f32>()
            );
        }
    }

    #[test]
    fn the_polynomial_exp_is_within_3e_7_relative() {
        let mut worst = 0f64;
        for step in 0..=80_000 {
            let x = -(step as f32) / 1000.0;
            let exact = f64::from(x).exp();
            worst = worst.max(((f64::from(exp(x)) - exact) / exact).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1e4), 0.0);
        assert_eq!(exp(UNDERFLOW - 0.001), 0.0);
        assert!(exp(UNDERFLOW) > 0.0);
    }

    #[test]
    fn the_polynomial_erf_is_within_2e_6_of_the_exact_one() {
        let mut worst = 0f64;
        for step in -6000..=6000 {
            let x = step as f32 / 1000.0;
            let exact = exact_erf(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - exact).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
        assert_eq!(erf(100.0), 1.0);
        assert_eq!(erf(-100.0), -1.0);
        assert!(erf(f32::NAN).is_nan());
    }

    /// erf by its Taylor series (|x| < 3) or asymptotic continued fraction, in f64.
    fn exact_erf(x: f64) -> f64 {
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

    /// The kernels against the same steps written with candle's own operations (the softmax's
    /// numerators are tested as part of attention, in `attention.rs`).
    #[test]
    fn kernels_match_candles_unfused_operations() {
        let device = Device::Cpu;
        for rows in [10, 256] {
            let width = 48;
            let x = Tensor::randn(0f32, 2.0, (rows, width), &device).unwrap();
            let residual = Tensor::randn(0f32, 2.0, (rows, width), &device).unwrap();
            let bias = Tensor::randn(0f32, 1.0, width, &device).unwrap();
            let gamma = Tensor::randn(1f32, 0.1, width, &device).unwrap();
            let beta = Tensor::randn(0f32, 0.1, width, &device).unwrap();
            let values = |tensor: &Tensor| tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let (bias_values, residual_values) = (values(&bias), values(&residual));
            let mut gelu = values(&x);
            bias_gelu_in_place(pulp::Arch::new(), &mut gelu, &bias_values);
            assert_close(&gelu, &x.broadcast_add(&bias).unwrap().gelu_erf().unwrap());

            let params = values(&Tensor::stack(&[&bias, &gamma, &beta], 0).unwrap());
            let mut normed = values(&x);
            bias_residual_norm_in_place(
                pulp::Arch::new(),
                1e-12,
                &mut normed,
                &residual_values,
                &params,
            );
            let norm = candle_nn::LayerNorm::new(gamma.clone(), beta.clone(), 1e-12);
            let expected = candle_core::Module::forward(
                &norm,
                &(x.broadcast_add(&bias).unwrap() + &residual).unwrap(),
            )
            .unwrap();
            assert_close(&normed, &expected);
        }
    }

    fn assert_close(actual: &[f32], expected: &Tensor) {
        let expected = expected.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(&expected) {
            assert!((a - e).abs() <= 1e-5 + 1e-4 * e.abs(), "{a} vs {e}");
        }
    }
}
