//! How many multiply-adds a second one core's dot-product instructions reach, each with twelve
//! independent accumulators (so that throughput, not latency, bounds them): the measurement
//! behind the encoder's choice of compute paths (crates/paperboy-search/src/compute.rs).
//!
//!     rustc -O --edition 2024 scripts/peak-products.rs -o /tmp/peak-products && /tmp/peak-products
//!
//! Needs an x86-64 CPU; the lines for instructions the CPU lacks are skipped.

use std::arch::x86_64::*;
use std::hint::black_box;
use std::time::Instant;

const STEPS: usize = 100_000_000 / 12;

macro_rules! peak {
    ($name:literal, $features:literal, $products:expr, $zero:expr, $a:expr, $b:expr, $step:expr) => {{
        #[target_feature(enable = $features)]
        fn run() -> f64 {
            let mut accumulators = [$zero; 12];
            let (a, b) = (black_box($a), black_box($b));
            let started = Instant::now();
            for _ in 0..black_box(STEPS) {
                for accumulator in accumulators.iter_mut() {
                    *accumulator = $step(*accumulator, a, b);
                }
            }
            black_box(accumulators);
            (STEPS * 12 * $products) as f64 / started.elapsed().as_secs_f64() / 1e9
        }
        let supported = $features
            .split(',')
            .all(|feature| match feature {
                "avx2" => is_x86_feature_detected!("avx2"),
                "fma" => is_x86_feature_detected!("fma"),
                "avx512f" => is_x86_feature_detected!("avx512f"),
                "avx512bf16" => is_x86_feature_detected!("avx512bf16"),
                "avx512vnni" => is_x86_feature_detected!("avx512vnni"),
                _ => false,
            });
        if supported {
            // SAFETY: the CPU has the features (checked above).
            println!("{:<34} {:>6.1} G multiply-adds/s", $name, unsafe { run() });
        } else {
            println!("{:<34} (not on this CPU)", $name);
        }
    }};
}

fn main() {
    peak!("f32 FMA, AVX2 (8 a vector)", "avx2,fma", 8, _mm256_setzero_ps(), _mm256_set1_ps(1e-9), _mm256_set1_ps(1.0),
        |acc, a, b| _mm256_fmadd_ps(a, b, acc));
    peak!("f32 FMA, AVX-512 (16)", "avx512f", 16, _mm512_setzero_ps(), _mm512_set1_ps(1e-9), _mm512_set1_ps(1.0),
        |acc, a, b| _mm512_fmadd_ps(a, b, acc));
    peak!("bf16 vdpbf16ps, AVX-512 BF16 (32)", "avx512f,avx512bf16", 32, _mm512_setzero_ps(),
        _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-9), _mm512_set1_ps(1e-9)),
        _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0), _mm512_set1_ps(1.0)),
        |acc, a, b| _mm512_dpbf16_ps(acc, a, b));
    peak!("i16 vpdpwssd, AVX-512 VNNI (32)", "avx512f,avx512vnni", 32, _mm512_setzero_si512(), _mm512_set1_epi32(1), _mm512_set1_epi32(1),
        |acc, a, b| _mm512_dpwssd_epi32(acc, a, b));
    peak!("u8·i8 vpdpbusd, AVX-512 VNNI (64)", "avx512f,avx512vnni", 64, _mm512_setzero_si512(), _mm512_set1_epi32(1), _mm512_set1_epi32(1),
        |acc, a, b| _mm512_dpbusd_epi32(acc, a, b));
}
