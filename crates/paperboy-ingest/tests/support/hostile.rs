//! The one runner of every hostile-input property test (issue 18): the import parsers, the
//! harvest response parsers and the search query path. Other crates' tests include this file
//! with `#[path = "../../paperboy-ingest/tests/support/hostile.rs"]`.
//!
//! How much runs is set from outside, the same way for every test:
//!
//! - by default each test runs its own bounded number of cases, sized to stay under ~20 s in a
//!   debug build (CI);
//! - `PROPTEST_CASES=N` runs N cases per test instead;
//! - `PAPERBOY_HOSTILE_SECONDS=S` keeps generating fresh cases (new seeds, batch after batch)
//!   until S seconds have passed, for long runs (`scripts/hostile MINUTES`).
//!
//! Each test ends by writing `hostile: <name>: <cases> cases in <seconds> s` to stderr, past the
//! test harness's capture, so that the figures can be reported. A failing case is shrunk by
//! proptest and reported with its input; nothing is persisted to files (a failure worth keeping
//! becomes an ordinary unit test).

#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::{Just, any, prop_oneof};
use proptest::sample::Index;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// Cases per batch in a timed run: small enough to stop close to the deadline.
const TIMED_BATCH: u32 = 32;

/// How long a run goes: a number of cases, or a time.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Cases(u32),
    Seconds(Duration),
}

/// The budget the environment asks for, `default_cases` when it asks for nothing.
pub fn budget(default_cases: u32) -> Budget {
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|value| value.is_finite() && *value > 0.0)
    };
    if let Some(seconds) = number("PAPERBOY_HOSTILE_SECONDS") {
        return Budget::Seconds(Duration::from_secs_f64(seconds));
    }
    match number("PROPTEST_CASES") {
        Some(cases) => Budget::Cases(cases.min(f64::from(u32::MAX)) as u32),
        None => Budget::Cases(default_cases),
    }
}

/// Runs `test` on values of `strategy` for the budget the environment asks for (see the module
/// documentation), panicking with proptest's shrunk counterexample on the first failure.
/// Returns the number of cases that ran.
pub fn run<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u64
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let started = Instant::now();
    let budget = budget(default_cases);
    let cases = AtomicU64::new(0);
    let counted = |value: S::Value| {
        cases.fetch_add(1, Ordering::Relaxed);
        test(value)
    };
    let base = Config::default();
    let mut batch = 0u64;
    loop {
        let batch_cases = match budget {
            Budget::Cases(cases) => cases,
            Budget::Seconds(_) => TIMED_BATCH,
        };
        // A fixed seed (PROPTEST_RNG_SEED) gives every batch of a timed run its own seed.
        let rng_seed = match base.rng_seed {
            RngSeed::Fixed(seed) => RngSeed::Fixed(seed.wrapping_add(batch)),
            RngSeed::Random => RngSeed::Random,
        };
        let config = Config {
            cases: batch_cases,
            failure_persistence: None,
            rng_seed,
            // Generated inputs are rejected only by explicit filters, which are rare.
            max_global_rejects: 100_000,
            ..base.clone()
        };
        let mut runner = TestRunner::new(config);
        match runner.run(&strategy, counted) {
            Ok(()) => {}
            Err(TestError::Fail(reason, value)) => {
                report(name, cases.load(Ordering::Relaxed), started, "FAILED");
                panic!("{name}: {reason}\nminimal failing input: {value:#?}");
            }
            Err(TestError::Abort(reason)) => {
                report(name, cases.load(Ordering::Relaxed), started, "ABORTED");
                panic!("{name}: aborted: {reason}");
            }
        }
        batch += 1;
        match budget {
            Budget::Cases(_) => break,
            Budget::Seconds(limit) if started.elapsed() >= limit => break,
            Budget::Seconds(_) => {}
        }
    }
    let total = cases.load(Ordering::Relaxed);
    report(name, total, started, "ok");
    total
}

fn report(name: &str, cases: u64, started: Instant, outcome: &str) {
    // Straight to the process's stderr: the test harness captures only the print macros.
    let _ = writeln!(
        std::io::stderr(),
        "hostile: {name}: {cases} cases in {:.1} s ({outcome})",
        started.elapsed().as_secs_f64()
    );
}

/// Fails the case unless `condition` holds, with a message (for use in `run`'s closures).
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(proptest::test_runner::TestCaseError::fail(format!($($message)+)));
        }
    };
}

/// Tokens that break parsers: huge and odd numbers, escapes, control characters, markup,
/// byte-order marks, NULs, invalid UTF-8, half a multi-byte character.
pub const HOSTILE_TOKENS: &[&[u8]] = &[
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xfe\xff",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\r",
    b"\r\n",
    b"\n\n\n",
    b"\t\x0b\x0c",
    b"\x1b[2J",
    b"\x7f",
    b"\xc2\x85",
    b"\xe2\x80\xa8",
    b"\xe2\x80\xae",
    b"\xef\xbf\xbf",
    b"\xf0\x9f\x92\xa9",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"9223372036854775807",
    b"1e999999",
    b"-0",
    b"1.7976931348623157e309",
    b"0x7fffffff",
    b"NaN",
    b"Infinity",
    b"99999999999999999999999999999999999999999999999999999999999",
    b"\\u0000",
    b"\\ud800",
    b"\\udfff\\ud800",
    b"\\uffff",
    b"\\",
    b"\"",
    b"'",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
    b"<",
    b">",
    b"</",
    b"/>",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    b"<!DOCTYPE x [<!ENTITY a \"&a;&a;&a;&a;\">]>",
    b"<!ENTITY lol \"lol\">",
    b"&lol;",
    b"&amp;",
    b"&#0;",
    b"&#x0;",
    b"&#xFFFFFFFFFFFF;",
    b"&#99999999999999999999;",
    b"&#55296;",
    b"&#xD800;",
    b"&",
    b"&;",
    b"&#;",
    b"<entry>",
    b"</entry>",
    b"<record>",
    b"</record>",
    b"<metadata>",
    b"<arXiv>",
    b"</arXiv>",
    b"<oai_dc:dc>",
    b"<author><keyname>",
    b"<title>",
    b"</title>",
    b"<summary>",
    b"<category term=\"",
    b"<resumptionToken cursor=\"18446744073709551615\" completeListSize=\"18446744073709551615\">",
    b"<resumptionToken cursor=\"-1\" completeListSize=\"1e9\"/>",
    b"<error code=\"badArgument\">",
    b"<header status=\"deleted\">",
    b"<datestamp>9999-99-99</datestamp>",
    b" a=\"1\" a=\"2\" ",
    b"xmlns:a=\"\" xmlns:a=\"x\"",
    b"<a:b:c>",
    b"0000-00-00",
    b"2024-02-30",
    b"-262144-01-01",
    b"+275760-09-13",
    b"9999-12-31T23:59:60Z",
    b"1970-01-01T00:00:00+99:99",
    b"Mon, 31 Feb 2007 25:61:61 GMT",
    b"v18446744073709551616",
    b"v0",
    b"hep-th/9901001",
    b"2501.99999v99999999999",
    b"cs.",
    b".cs",
    b"a.b.c.d",
    b"\xcc\x81\xcc\x81\xcc\x81\xcc\x81",
    b"Subscribe",
    b"Get trending papers in your email inbox",
    b"cat:",
    b"title:(",
    b"\"unbalanced",
    b"AND OR NOT",
    b"+-~^*?",
    b"\\and",
    b" and ",
    b"((((((((((((",
];

/// Bytes that print as a byte string in a failure report.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes: b\"{}\"", self.0.len(), self.0.escape_ascii())
    }
}

/// One change to a valid sample.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Sets a byte.
    Set(Index, u8),
    /// Flips one bit of a byte.
    FlipBit(Index, u8),
    /// Inserts random bytes.
    Insert(Index, Vec<u8>),
    /// Inserts one of [`HOSTILE_TOKENS`].
    Token(Index, Index),
    /// Replaces a run of bytes with one of [`HOSTILE_TOKENS`].
    ReplaceWithToken(Index, usize, Index),
    /// Deletes a run of bytes.
    Delete(Index, usize),
    /// Cuts the sample short (a truncated download).
    Truncate(Index),
    /// Repeats a run of bytes in place, to deepen nesting or lengthen a field.
    Repeat(Index, usize, usize),
    /// Copies a run of bytes elsewhere (a field or tag where it does not belong).
    Copy(Index, usize, Index),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        2 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        2 => (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        5 => (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Mutation::Token(at, token)),
        3 => (any::<Index>(), 0usize..24, any::<Index>())
            .prop_map(|(at, len, token)| Mutation::ReplaceWithToken(at, len, token)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1usize..24, 2usize..600)
            .prop_map(|(at, len, times)| Mutation::Repeat(at, len, times)),
        1 => (any::<Index>(), 1usize..200, any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Copy(from, len, to)),
    ]
}

/// Applies mutations in order; positions are taken relative to the bytes as they are then.
pub fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    // An index into 0..=len (an insertion point).
    let point = |at: &Index, len: usize| at.index(len + 1);
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Set(at, byte) if len > 0 => bytes[at.index(len)] = *byte,
            Mutation::FlipBit(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << bit,
            Mutation::Set(..) | Mutation::FlipBit(..) => {}
            Mutation::Insert(at, new) => {
                let at = point(at, len);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Token(at, token) => {
                let at = point(at, len);
                let token = HOSTILE_TOKENS[token.index(HOSTILE_TOKENS.len())];
                bytes.splice(at..at, token.iter().copied());
            }
            Mutation::ReplaceWithToken(at, run, token) => {
                let at = point(at, len);
                let end = (at + run).min(len);
                let token = HOSTILE_TOKENS[token.index(HOSTILE_TOKENS.len())];
                bytes.splice(at..end, token.iter().copied());
            }
            Mutation::Delete(at, run) => {
                let at = point(at, len);
                let end = (at + run).min(len);
                bytes.drain(at..end);
            }
            Mutation::Truncate(at) => bytes.truncate(point(at, len)),
            Mutation::Repeat(at, run, times) => {
                let at = point(at, len);
                let end = (at + run).min(len);
                let piece = bytes[at..end].to_vec();
                let repeated = piece.repeat(*times);
                bytes.splice(end..end, repeated);
            }
            Mutation::Copy(from, run, to) => {
                let from = point(from, len);
                let end = (from + run).min(len);
                let piece = bytes[from..end].to_vec();
                let to = point(to, len);
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

/// A sample from `seeds`, changed by up to `max_mutations` mutations: inputs that are valid
/// almost everywhere, so that parsing reaches deep into the format before meeting the damage.
/// The value is the seed's index and the bytes.
pub fn mutated(seeds: Vec<Vec<u8>>, max_mutations: usize) -> impl Strategy<Value = (usize, Bytes)> {
    assert!(!seeds.is_empty());
    let count = seeds.len();
    (0..count, vec(mutation(), 0..=max_mutations))
        .prop_map(move |(seed, mutations)| (seed, Bytes(apply(seeds[seed].clone(), &mutations))))
}

/// Arbitrary bytes, leaning to the bytes that matter to text formats.
pub fn raw_bytes(max_len: usize) -> impl Strategy<Value = Bytes> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        4 => proptest::sample::select(b"<>/=\"'&;#![]{}:,.-\\ \n\r\tabcdefxyz0123456789".to_vec()),
        1 => Just(0u8),
        1 => 0x80u8..=0xff,
    ];
    vec(byte, 0..max_len).prop_map(Bytes)
}
