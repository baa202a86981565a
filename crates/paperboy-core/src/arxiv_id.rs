//! arXiv identifiers, parsed once.
//!
//! arXiv has used two schemes: the old `archive[.SC]/YYMMNNN` (until March 2007, e.g.
//! `hep-th/9901001`, `math.GT/0309136`) and the new `YYMM.NNNN` (April 2007 to 2014) or
//! `YYMM.NNNNN` (from 2015). Sources write them with a version (`v2`), a prefix (`arXiv:`,
//! `oai:arXiv.org:`) or as a URL; [`ArxivId::parse_with_version`] accepts all of these and keeps
//! the bare id and the version apart, because Paperboy stores one row per paper and remembers
//! only its latest version.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::text::shorten;

/// A valid arXiv identifier without its version, in canonical form (`2101.00001`,
/// `hep-th/9901001`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArxivId(String);

/// Why a string is not an arXiv identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not an arXiv id: {reason}")]
pub struct ArxivIdError {
    input: String,
    reason: &'static str,
}

impl ArxivId {
    /// Parses an id with or without a version, prefix or URL, returning the bare id and the
    /// version if one was given.
    pub fn parse_with_version(input: &str) -> Result<(Self, Option<u32>), ArxivIdError> {
        let error = |reason| ArxivIdError {
            input: shorten(input, 60),
            reason,
        };
        let mut rest = input.trim();
        for prefix in [
            "https://arxiv.org/abs/",
            "http://arxiv.org/abs/",
            "https://arxiv.org/pdf/",
            "http://arxiv.org/pdf/",
            "https://export.arxiv.org/abs/",
            "http://export.arxiv.org/abs/",
            "oai:arXiv.org:",
            "arXiv:",
            "arxiv:",
        ] {
            if let Some(stripped) = rest.strip_prefix(prefix) {
                rest = stripped;
                break;
            }
        }
        let rest = rest.strip_suffix(".pdf").unwrap_or(rest);
        if rest.is_empty() {
            return Err(error("it is empty"));
        }
        let (bare, version) = split_version(rest).map_err(error)?;
        if let Some((archive, number)) = bare.split_once('/') {
            validate_old_style(archive, number).map_err(error)?;
        } else {
            validate_new_style(bare).map_err(error)?;
        }
        Ok((ArxivId(bare.to_owned()), version))
    }

    /// Parses an id, accepting and discarding a version.
    pub fn parse(input: &str) -> Result<Self, ArxivIdError> {
        Self::parse_with_version(input).map(|(id, _)| id)
    }

    /// The canonical text form, without a version.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this id uses the pre-2007 `archive/YYMMNNN` scheme.
    pub fn is_old_style(&self) -> bool {
        self.0.contains('/')
    }
}

/// Splits a trailing `vN` off an id.
fn split_version(id: &str) -> Result<(&str, Option<u32>), &'static str> {
    let Some(v_at) = id.rfind('v') else {
        return Ok((id, None));
    };
    let digits = &id[v_at + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok((id, None));
    }
    let version: u32 = digits.parse().map_err(|_| "the version is too large")?;
    if version == 0 {
        return Err("versions start at v1");
    }
    Ok((&id[..v_at], Some(version)))
}

fn validate_new_style(id: &str) -> Result<(), &'static str> {
    let (yymm, number) = id
        .split_once('.')
        .ok_or("expected YYMM.NNNNN or archive/YYMMNNN")?;
    if yymm.len() != 4 || !yymm.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected four digits (YYMM) before the dot");
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected only digits after the dot");
    }
    let year: u32 = yymm[..2].parse().map_err(|_| "bad year")?;
    let month: u32 = yymm[2..].parse().map_err(|_| "bad month")?;
    if !(1..=12).contains(&month) {
        return Err("the month (digits 3-4) must be 01-12");
    }
    if year < 7 || (year == 7 && month < 4) {
        return Err("new-style ids start in April 2007 (0704)");
    }
    let expected_digits = if year < 15 { 4 } else { 5 };
    if number.len() != expected_digits {
        return Err(if expected_digits == 4 {
            "ids before 2015 have four digits after the dot"
        } else {
            "ids from 2015 on have five digits after the dot"
        });
    }
    Ok(())
}

fn validate_old_style(archive: &str, number: &str) -> Result<(), &'static str> {
    let (name, subject_class) = match archive.split_once('.') {
        Some((name, class)) => (name, Some(class)),
        None => (archive, None),
    };
    let name_ok = !name.is_empty()
        && name
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()));
    if !name_ok {
        return Err("the archive name must be lowercase letters, e.g. hep-th");
    }
    if let Some(class) = subject_class
        && (class.len() != 2 || !class.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err("the subject class must be two capital letters, e.g. math.GT");
    }
    if number.len() != 7 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("old-style ids have seven digits (YYMMNNN) after the slash");
    }
    let month: u32 = number[2..4].parse().map_err(|_| "bad month")?;
    if !(1..=12).contains(&month) {
        return Err("the month (digits 3-4 after the slash) must be 01-12");
    }
    Ok(())
}

impl fmt::Display for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArxivId({})", self.0)
    }
}

impl FromStr for ArxivId {
    type Err = ArxivIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ArxivId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ArxivId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ArxivId::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> (String, Option<u32>) {
        let (id, version) = ArxivId::parse_with_version(input).expect(input);
        (id.to_string(), version)
    }

    #[test]
    fn parses_new_style_ids_with_and_without_versions() {
        assert_eq!(parsed("2101.00001"), ("2101.00001".into(), None));
        assert_eq!(parsed("2101.00001v3"), ("2101.00001".into(), Some(3)));
        assert_eq!(parsed("0704.0001"), ("0704.0001".into(), None));
        assert_eq!(parsed("1412.9999v12"), ("1412.9999".into(), Some(12)));
    }

    #[test]
    fn parses_old_style_ids() {
        assert_eq!(parsed("hep-th/9901001"), ("hep-th/9901001".into(), None));
        assert_eq!(
            parsed("hep-th/9901001v2"),
            ("hep-th/9901001".into(), Some(2))
        );
        assert_eq!(parsed("math.GT/0309136"), ("math.GT/0309136".into(), None));
        assert_eq!(parsed("cs/9905012v1"), ("cs/9905012".into(), Some(1)));
        assert!(ArxivId::parse("cs/9905012").unwrap().is_old_style());
    }

    #[test]
    fn strips_prefixes_and_urls() {
        assert_eq!(parsed("arXiv:1706.03762v7"), ("1706.03762".into(), Some(7)));
        assert_eq!(
            parsed("oai:arXiv.org:1207.1019"),
            ("1207.1019".into(), None)
        );
        assert_eq!(
            parsed("http://arxiv.org/abs/2201.00978v1"),
            ("2201.00978".into(), Some(1))
        );
        assert_eq!(
            parsed("https://arxiv.org/pdf/2201.00978v1.pdf"),
            ("2201.00978".into(), Some(1))
        );
        assert_eq!(parsed("  1601.00001 "), ("1601.00001".into(), None));
    }

    #[test]
    fn rejects_malformed_ids_with_a_reason() {
        for bad in [
            "",
            "2101",
            "2101.0001",
            "1401.00001",
            "2113.00001",
            "0612.0001",
            "21a1.00001",
            "2101.00001v0",
            "2101.00001v",
            "HEP-TH/9901001",
            "hep-th/990100",
            "hep-th/9913001",
            "math.gt/0309136",
            "/9901001",
            "<script>",
        ] {
            let error = ArxivId::parse(bad).expect_err(bad);
            assert!(error.to_string().contains("is not an arXiv id"), "{error}");
        }
    }

    #[test]
    fn long_input_is_truncated_in_the_error() {
        let error = ArxivId::parse(&"9".repeat(10_000)).unwrap_err();
        assert!(error.to_string().len() < 200);
    }

    #[test]
    fn serde_round_trips_the_canonical_form() {
        let id = ArxivId::parse("arXiv:2101.00001v2").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"2101.00001\"");
        let back: ArxivId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ArxivId>("\"nope\"").is_err());
    }
}
