//! Author names as sources write them: one comma-separated string (arXiv metadata dumps),
//! "Keyname, Forenames" (OAI-PMH `oai_dc`), or key name and forenames apart (OAI-PMH `arXiv`).

/// Splits "A. Author, B. Author and C. Author" into names. Commas inside parentheses
/// (affiliations) do not split; a leading "and" or LaTeX `\and` is dropped.
pub(crate) fn split_author_list(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for ch in text.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | ';' | '\n' if depth == 0 => {
                push_names(&mut names, &current);
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    push_names(&mut names, &current);
    names
}

/// Pushes the names in one comma-separated part, which may still hold "X and Y".
fn push_names(names: &mut Vec<String>, part: &str) {
    for name in part.split(" and ") {
        let mut name = name.trim();
        for prefix in ["\\and ", "and "] {
            name = name.strip_prefix(prefix).unwrap_or(name).trim();
        }
        if !name.is_empty() && name != "\\and" && name != "and" {
            names.push(name.to_owned());
        }
    }
}

/// "Morvant, Emilie" → "Emilie Morvant"; a name without a comma is kept as it is.
pub(crate) fn from_inverted(name: &str) -> String {
    match name.split_once(',') {
        Some((key, fore)) if !fore.trim().is_empty() => {
            format!("{} {}", fore.trim(), key.trim())
        }
        _ => name.trim().to_owned(),
    }
}

/// Joins the name parts of an OAI-PMH `arXiv` author: "Forenames Keyname Suffix".
pub(crate) fn from_parts(keyname: &str, forenames: &str, suffix: &str) -> String {
    [forenames, keyname, suffix]
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_comma_and_and_separated_lists() {
        assert_eq!(
            split_author_list("Ruihao Zhu, Dongxin Liu, Fan Wu, and Guihai Chen"),
            ["Ruihao Zhu", "Dongxin Liu", "Fan Wu", "Guihai Chen"]
        );
        assert_eq!(
            split_author_list("Louis-Charles Caron, \\and Michiel D'Haene, \\and Jean Rouat"),
            ["Louis-Charles Caron", "Michiel D'Haene", "Jean Rouat"]
        );
        assert_eq!(
            split_author_list("A. Smith and B. Jones"),
            ["A. Smith", "B. Jones"]
        );
        assert_eq!(
            split_author_list("A. Smith (MIT, Cambridge), B. Jones"),
            ["A. Smith (MIT, Cambridge)", "B. Jones"]
        );
        assert_eq!(split_author_list(" , "), Vec::<String>::new());
    }

    #[test]
    fn reorders_inverted_names_and_joins_parts() {
        assert_eq!(from_inverted("Ayache, Stéphane"), "Stéphane Ayache");
        assert_eq!(
            from_inverted("The ATLAS Collaboration"),
            "The ATLAS Collaboration"
        );
        assert_eq!(
            from_parts("de Naray", "Rachel Kuzio", ""),
            "Rachel Kuzio de Naray"
        );
        assert_eq!(
            from_parts("King", "Martin Luther", "Jr"),
            "Martin Luther King Jr"
        );
    }
}
