//! Text clean-up shared by every importer.
//!
//! Sources wrap titles and abstracts at 80 columns, indent continuation lines and sometimes
//! carry stray control characters. Paperboy stores one canonical form: runs of whitespace become
//! one space, control characters are dropped, everything else (LaTeX, Unicode) is kept as
//! written.

/// Collapses whitespace runs (including hard line wraps) to single spaces, trims the ends and
/// drops control characters.
pub fn normalize_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut rest = text;
    // Copy runs of ordinary ASCII in one go; look closer only at whitespace, controls and
    // non-ASCII characters.
    while !rest.is_empty() {
        let plain = rest
            .bytes()
            .position(|b| !(0x21..0x7f).contains(&b))
            .unwrap_or(rest.len());
        if plain > 0 {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push_str(&rest[..plain]);
            rest = &rest[plain..];
            continue;
        }
        let mut chars = rest.chars();
        let Some(ch) = chars.next() else { break };
        if ch.is_whitespace() {
            pending_space = !out.is_empty();
        } else if !ch.is_control() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(ch);
        }
        rest = chars.as_str();
    }
    out
}

/// The first `shown` authors, then "et al." with the count of the rest.
pub fn author_line(authors: &[String], shown: usize) -> String {
    if authors.len() <= shown {
        return authors.join(", ");
    }
    format!(
        "{} et al. ({} more)",
        authors[..shown].join(", "),
        authors.len() - shown
    )
}

/// Cuts `text` to at most `max` characters, marking a cut with "…": for quoting input in
/// messages.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max).chain(['…']).collect()
    }
}

/// The key under which papers without an arXiv id are de-duplicated: lower-cased words of
/// letters and digits, separated by single spaces. "Attention Is All You Need!" and
/// "attention is all  you need" share a key.
pub fn title_key(title: &str) -> String {
    let mut key = String::with_capacity(title.len());
    let mut pending_space = false;
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            if pending_space {
                key.push(' ');
                pending_space = false;
            }
            key.push(ch.to_ascii_lowercase());
        } else if ch.is_alphanumeric() {
            if pending_space {
                key.push(' ');
                pending_space = false;
            }
            key.extend(ch.to_lowercase());
        } else {
            pending_space = !key.is_empty();
        }
    }
    key
}

/// Percent-encodes a URL query value.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            urlencode("mutual info & <x>"),
            "mutual%20info%20%26%20%3Cx%3E"
        );
        assert_eq!(
            urlencode("/papers/2601.00001?x=é"),
            "%2Fpapers%2F2601.00001%3Fx%3D%C3%A9"
        );
    }

    #[test]
    fn joins_hard_wrapped_lines() {
        assert_eq!(
            normalize_whitespace(
                "  Inelastic effects in molecular transport junctions: The probe technique\n  at high bias\n"
            ),
            "Inelastic effects in molecular transport junctions: The probe technique at high bias"
        );
    }

    #[test]
    fn keeps_latex_and_unicode_and_drops_control_characters() {
        assert_eq!(
            normalize_whitespace(
                "Landauer-B\\\"uttiker $I$-$V$\u{0}  Stéphane \u{1F600}\t{\\em x}"
            ),
            "Landauer-B\\\"uttiker $I$-$V$ Stéphane \u{1F600} {\\em x}"
        );
    }

    #[test]
    fn keeps_non_ascii_whitespace_rules() {
        assert_eq!(
            normalize_whitespace("a\u{a0}\u{a0}b\u{2028}c\u{85}d\u{200b}e"),
            "a b c d\u{200b}e"
        );
        assert_eq!(normalize_whitespace("\u{0}\u{7f}x\u{9f}"), "x");
        assert_eq!(normalize_whitespace(""), "");
    }

    #[test]
    fn title_keys_ignore_case_punctuation_and_spacing() {
        assert_eq!(
            title_key("Attention Is All You Need!"),
            "attention is all you need"
        );
        assert_eq!(
            title_key("  attention is\nall  you need"),
            "attention is all you need"
        );
        assert_eq!(
            title_key("MINE: Mutual Information"),
            "mine mutual information"
        );
        assert_eq!(title_key("Über-Modelle"), "über modelle");
        assert_eq!(title_key("!!!"), "");
    }
}
