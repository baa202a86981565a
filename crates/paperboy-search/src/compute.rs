//! Which instructions the encoder runs on, chosen at run time from what the CPU offers.
//!
//! The dense products are nine tenths of the encoder's work. Each path below computes them
//! differently; the best one the CPU has is the default, and every one it has can be chosen
//! (`paperboy bench embed` runs them side by side, the tests check each against the others).
//!
//! - `f32-scalar`: plain code, for any CPU; the reference the others are tested against.
//! - `f32-avx2`: AVX2 + FMA, 8 floats a vector: the path every x86-64 CPU of the last decade has.
//! - `f32-avx512`: AVX-512, 16 floats a vector: twice the products per instruction.
//! - `int16-vnni`: the products in 16-bit integers with AVX-512 VNNI (`vpdpwssd`: 32 products
//!   a vector, summed in pairs into 16 integers), the weights quantised per output to ±1023 and
//!   the inputs per row to as many steps as keep each sum in an `i32`; the rest of the encoder
//!   on AVX-512 floats. Why not bytes, and what it costs in precision: `quantized.rs`.
//!
//! AVX-512 BF16 (`vdpbf16ps`) is left out: on the Xeons these machines get it does 32 products
//! an instruction at half an instruction a cycle, half the rate of AVX-512's f32 FMA (measured
//! in docs/benchmarks.md), so it would lose both speed and precision. AMX is left out because
//! Linux hands its tile registers only to a process that asks (`arch_prctl`), and none of the
//! machines we have seen expose it to guests.

use std::fmt;

/// How the encoder computes its products; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputePath {
    F32Scalar,
    F32Avx2,
    F32Avx512,
    Int16Vnni,
}

impl ComputePath {
    /// Every path, slowest first.
    pub const ALL: [ComputePath; 4] = [
        ComputePath::F32Scalar,
        ComputePath::F32Avx2,
        ComputePath::F32Avx512,
        ComputePath::Int16Vnni,
    ];

    /// The paths this CPU can run, slowest first.
    pub fn available() -> Vec<ComputePath> {
        Self::ALL
            .into_iter()
            .filter(|path| path.is_available())
            .collect()
    }

    /// The fastest path this CPU can run.
    pub fn best() -> ComputePath {
        Self::available().pop().unwrap_or(ComputePath::F32Scalar)
    }

    pub fn is_available(self) -> bool {
        self.arch().is_some()
            && (self != ComputePath::Int16Vnni || crate::quantized::vnni_available())
    }

    pub fn name(self) -> &'static str {
        match self {
            ComputePath::F32Scalar => "f32-scalar",
            ComputePath::F32Avx2 => "f32-avx2",
            ComputePath::F32Avx512 => "f32-avx512",
            ComputePath::Int16Vnni => "int16-vnni",
        }
    }

    /// The instruction set of the floating-point work (all of it, or all but the dense
    /// products), or `None` when the CPU lacks it.
    pub(crate) fn arch(self) -> Option<pulp::Arch> {
        #[cfg(target_arch = "x86_64")]
        {
            use pulp::x86::{V3, V4};
            match self {
                ComputePath::F32Scalar => Some(pulp::Arch::Scalar),
                ComputePath::F32Avx2 => V3::try_new().map(pulp::Arch::V3),
                ComputePath::F32Avx512 | ComputePath::Int16Vnni => {
                    V4::try_new().map(pulp::Arch::V4)
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            (self == ComputePath::F32Scalar).then_some(pulp::Arch::Scalar)
        }
    }
}

impl fmt::Display for ComputePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`ComputePath::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown compute path {0:?} (expected f32-scalar, f32-avx2, f32-avx512 or int16-vnni)")]
pub struct UnknownComputePath(String);

impl std::str::FromStr for ComputePath {
    type Err = UnknownComputePath;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|path| path.name() == name)
            .ok_or_else(|| UnknownComputePath(name.to_owned()))
    }
}
