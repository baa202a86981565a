//! What pages show of a paper, prepared for the templates: its address, highlighted pieces of
//! text (the templates escape every piece; a match is a flag, never markup) and its BibTeX.

use std::ops::Range;

use paperboy_core::account::FolderId;
use paperboy_core::text::author_line;
use paperboy_core::{Paper, PaperId};
use paperboy_search::highlight::Highlighter;

/// Characters of abstract shown in a search result.
const SNIPPET_CHARS: usize = 280;
/// Authors named on a card before "et al.".
const CARD_AUTHORS: usize = 6;

/// A stretch of text, matched by the query or not.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub(crate) text: String,
    pub(crate) matched: bool,
}

/// Splits `text` into pieces at the match `spans`.
pub(crate) fn pieces(text: &str, spans: &[Range<usize>]) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(spans.len() * 2 + 1);
    let mut at = 0;
    for span in spans {
        if span.start < at || span.end > text.len() {
            continue;
        }
        if span.start > at {
            pieces.push(Piece {
                text: text[at..span.start].to_owned(),
                matched: false,
            });
        }
        pieces.push(Piece {
            text: text[span.clone()].to_owned(),
            matched: true,
        });
        at = span.end;
    }
    if at < text.len() {
        pieces.push(Piece {
            text: text[at..].to_owned(),
            matched: false,
        });
    }
    pieces
}

/// A paper in a list.
#[derive(Debug, Clone)]
pub(crate) struct Card {
    pub(crate) id: PaperId,
    /// The paper's key in addresses (`/papers/KEY`).
    pub(crate) key: String,
    pub(crate) href: String,
    pub(crate) title: Vec<Piece>,
    pub(crate) authors: String,
    pub(crate) date: String,
    pub(crate) categories: Vec<String>,
    pub(crate) upvotes: u32,
    /// The abstract's best window for a search, else its start.
    pub(crate) summary: Vec<Piece>,
    pub(crate) code_url: Option<String>,
    /// Whether the reader upvoted or saved it (see [`crate::accounts::mark_cards`]).
    pub(crate) upvoted: bool,
    pub(crate) saved: bool,
    /// On a folder's page: the buttons that rate the paper in it.
    pub(crate) rating: Option<CardRating>,
}

/// A card's rating in one folder: which folder, and how the paper is rated in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CardRating {
    pub(crate) folder: FolderId,
    pub(crate) relevant: Option<bool>,
}

impl CardRating {
    pub(crate) fn is_relevant(&self) -> bool {
        self.relevant == Some(true)
    }

    pub(crate) fn is_not_relevant(&self) -> bool {
        self.relevant == Some(false)
    }

    /// What each button sends: pressing a rating the paper has takes it back.
    pub(crate) fn relevant_value(&self) -> &'static str {
        if self.is_relevant() {
            "none"
        } else {
            "relevant"
        }
    }

    pub(crate) fn not_relevant_value(&self) -> &'static str {
        if self.is_not_relevant() {
            "none"
        } else {
            "not-relevant"
        }
    }
}

impl Card {
    pub(crate) fn new(paper: &Paper, highlighter: Option<&Highlighter>) -> Self {
        let record = &paper.record;
        let (title, summary) = match highlighter {
            Some(highlighter) => {
                let snippet = highlighter.snippet(&record.abstract_text, SNIPPET_CHARS);
                let mut summary = pieces(&snippet.text, &snippet.spans);
                if snippet.cut_before {
                    summary.insert(0, plain("…"));
                }
                if snippet.cut_after {
                    summary.push(plain("…"));
                }
                (
                    pieces(&record.title, &highlighter.spans(&record.title)),
                    summary,
                )
            }
            None => (
                vec![plain(&record.title)],
                vec![plain(&paperboy_core::text::shorten(
                    &record.abstract_text,
                    SNIPPET_CHARS,
                ))],
            ),
        };
        Card {
            id: paper.id,
            key: paper.url_key(),
            href: paper_href(paper),
            title,
            authors: author_line(&record.authors, CARD_AUTHORS),
            date: paper
                .record
                .sort_date()
                .map(|day| day.to_string())
                .unwrap_or_default(),
            categories: record.categories.clone(),
            upvotes: paper.upvotes(),
            summary,
            code_url: web_link(record.code_url.as_deref()),
            upvoted: false,
            saved: false,
            rating: None,
        }
    }
}

fn plain(text: &str) -> Piece {
    Piece {
        text: text.to_owned(),
        matched: false,
    }
}

/// A link only if it is an http(s) address: imported data could hold `javascript:` URLs.
pub(crate) fn web_link(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let scheme = url.split_once("://")?.0.to_ascii_lowercase();
    (scheme == "https" || scheme == "http").then(|| url.to_owned())
}

pub(crate) fn paper_href(paper: &Paper) -> String {
    format!("/papers/{}", paper.url_key())
}

/// A BibTeX entry: `@misc` with the arXiv fields when the paper has an arXiv id.
pub(crate) fn bibtex(paper: &Paper) -> String {
    let record = &paper.record;
    let year = paper
        .record
        .published
        .or(paper.record.sort_date())
        .map(|day| day.format("%Y").to_string());
    let first_author_surname = record
        .authors
        .first()
        .and_then(|name| name.split_whitespace().last())
        .unwrap_or("anonymous");
    let first_title_word = record
        .title
        .split(|c: char| !c.is_alphanumeric())
        .find(|word| word.chars().count() > 3)
        .unwrap_or("paper");
    let citation_key: String = format!(
        "{first_author_surname}{}{first_title_word}",
        year.as_deref().unwrap_or("")
    )
    .chars()
    .filter(char::is_ascii_alphanumeric)
    .collect::<String>()
    .to_lowercase();
    let mut fields = vec![
        ("title", format!("{{{}}}", bibtex_escape(&record.title))),
        (
            "author",
            format!("{{{}}}", bibtex_escape(&record.authors.join(" and "))),
        ),
    ];
    if let Some(year) = year {
        fields.push(("year", format!("{{{year}}}")));
    }
    if let Some(arxiv_id) = &record.arxiv_id {
        fields.push(("eprint", format!("{{{arxiv_id}}}")));
        fields.push(("archivePrefix", "{arXiv}".to_owned()));
        if let Some(category) = paper.record.primary_category() {
            fields.push(("primaryClass", format!("{{{}}}", bibtex_escape(category))));
        }
        fields.push(("url", format!("{{https://arxiv.org/abs/{arxiv_id}}}")));
    }
    if let Some(doi) = &record.doi {
        fields.push(("doi", format!("{{{}}}", bibtex_escape(doi))));
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("  {name} = {value}"))
        .collect();
    format!("@misc{{{citation_key},\n{}\n}}", body.join(",\n"))
}

/// Keeps braces balanced and escapes what BibTeX treats specially.
fn bibtex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '{' | '}' | '\\' => {}
            '&' | '%' | '#' | '_' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_matches_and_keep_all_text() {
        let text = "Mutual information <b>estimation</b>";
        let spans = vec![0..6, 22..32];
        let pieces = pieces(text, &spans);
        let joined: String = pieces.iter().map(|piece| piece.text.as_str()).collect();
        assert_eq!(joined, text);
        assert!(pieces[0].matched && pieces[0].text == "Mutual");
        assert!(!pieces[1].matched);
        assert!(pieces[2].matched && pieces[2].text == "estimation");
        // Overlapping or out-of-range spans are skipped, not a panic.
        assert_eq!(super::pieces("abc", &[0..2, 1..3, 2..9]).len(), 2);
    }

    #[test]
    fn author_lines_shorten_long_lists() {
        let authors: Vec<String> = (1..=8).map(|n| format!("A{n}")).collect();
        assert_eq!(author_line(&authors[..2], 6), "A1, A2");
        assert_eq!(
            author_line(&authors, 6),
            "A1, A2, A3, A4, A5, A6 et al. (2 more)"
        );
    }

    #[test]
    fn only_web_addresses_become_links() {
        assert_eq!(
            web_link(Some(" https://github.com/x/y ")).as_deref(),
            Some("https://github.com/x/y")
        );
        assert!(web_link(Some("HTTP://example.org")).is_some());
        for hostile in [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,x",
            "//evil.example",
            "",
        ] {
            assert_eq!(web_link(Some(hostile)), None, "{hostile}");
        }
        assert_eq!(web_link(None), None);
    }

    #[test]
    fn bibtex_escapes_and_balances_braces() {
        assert_eq!(bibtex_escape("A & B {x} 50% \\o"), "A \\& B x 50\\% o");
    }
}
