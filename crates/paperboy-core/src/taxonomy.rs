//! The arXiv category taxonomy: which strings are category codes, what they are called, and how
//! the human-readable subjects of OAI-PMH `oai_dc` records map back to codes.

/// Whether `code` has the shape of an arXiv category code: an archive (`cs`, `hep-th`,
/// `q-bio`) optionally followed by a dot and a subject class (`cs.LG`, `physics.soc-ph`,
/// `math.GT`). Unknown but well-formed codes are accepted: arXiv adds categories over time.
pub fn is_well_formed_code(code: &str) -> bool {
    let (archive, class) = match code.split_once('.') {
        Some((archive, class)) => (archive, Some(class)),
        None => (code, None),
    };
    let archive_ok = !archive.is_empty()
        && archive
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()));
    let class_ok = class.is_none_or(|class| {
        !class.is_empty()
            && class.len() <= 20
            && class
                .split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphabetic()))
    });
    archive_ok && class_ok && code.len() <= 30
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_well_formed_codes() {
        for code in [
            "cs.LG",
            "hep-th",
            "physics.soc-ph",
            "q-bio.PE",
            "adap-org",
            "math.GT",
            "stat.ML",
        ] {
            assert!(is_well_formed_code(code), "{code}");
        }
        for code in [
            "", "cs.", ".LG", "CS.LG", "cs LG", "cs.L1", "cs..LG", "hep-", "<b>",
        ] {
            assert!(!is_well_formed_code(code), "{code}");
        }
    }
}
