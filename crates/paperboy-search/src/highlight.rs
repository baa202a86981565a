//! Showing why a paper matched: the words of a title or abstract that match the query.
//!
//! Text is analysed exactly as the keyword index analyses it (lower-cased, stop words dropped,
//! stemmed), so "estimating" in a query marks "estimation" in an abstract, as BM25 matched it.
//! Spans are byte ranges into the text given; rendering them (bold on a terminal, `<mark>` in a
//! page) is the caller's business.

use std::collections::HashSet;
use std::ops::Range;

use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use crate::bm25::stemmed_analyzer;

/// Finds the words of texts that match a query.
#[derive(Clone)]
pub struct Highlighter {
    terms: HashSet<String>,
    analyzer: TextAnalyzer,
}

impl std::fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Highlighter")
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

/// A window of a longer text around its matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    /// The matches, as byte ranges into `text`.
    pub spans: Vec<Range<usize>>,
    /// Whether text was cut before and after the window.
    pub cut_before: bool,
    pub cut_after: bool,
}

impl Highlighter {
    pub fn new(query: &str) -> Self {
        let mut analyzer = stemmed_analyzer();
        let mut terms = HashSet::new();
        {
            let mut stream = analyzer.token_stream(query);
            while stream.advance() {
                terms.insert(stream.token().text.clone());
            }
        }
        Highlighter { terms, analyzer }
    }

    /// Whether the query has any word that can match.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The byte ranges of `text`'s words that match the query, in order.
    pub fn spans(&self, text: &str) -> Vec<Range<usize>> {
        if self.terms.is_empty() {
            return Vec::new();
        }
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut spans = Vec::new();
        while stream.advance() {
            let token = stream.token();
            if self.terms.contains(&token.text) {
                spans.push(token.offset_from..token.offset_to);
            }
        }
        spans
    }

    /// A window of at most about `max_chars` characters of `text` holding as many matches as
    /// possible, cut at word boundaries; the start of the text when nothing matches.
    pub fn snippet(&self, text: &str, max_chars: usize) -> Snippet {
        let spans = self.spans(text);
        if text.chars().count() <= max_chars {
            return Snippet {
                text: text.to_owned(),
                spans,
                cut_before: false,
                cut_after: false,
            };
        }
        // The window starts at the match from which the most matches fit.
        let char_at: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        let byte_limit = |from: usize| -> usize {
            let first_char = char_at.partition_point(|&at| at < from);
            char_at
                .get(first_char + max_chars)
                .copied()
                .unwrap_or(text.len())
        };
        let mut best_start = 0;
        let mut best_count = 0;
        for (index, span) in spans.iter().enumerate() {
            let end = byte_limit(span.start);
            let count = spans[index..]
                .iter()
                .take_while(|other| other.end <= end)
                .count();
            if count > best_count {
                best_count = count;
                best_start = span.start;
            }
        }
        // Begin at the start of the sentence, or a few words before the first match when the
        // sentence starts further back.
        let sentence_start = text[..best_start].rfind(". ").map_or(0, |at| at + 2);
        let first_char = char_at.partition_point(|&at| at < best_start);
        let lead_start = char_at[first_char.saturating_sub(max_chars / 4)];
        let start = if sentence_start >= lead_start {
            sentence_start
        } else {
            text[lead_start..best_start]
                .find(' ')
                .map_or(best_start, |at| lead_start + at + 1)
        };
        let mut end = byte_limit(start);
        if end < text.len() {
            end = text[start..end].rfind(' ').map_or(end, |at| start + at);
        }
        Snippet {
            text: text[start..end].to_owned(),
            spans: spans
                .into_iter()
                .filter(|span| span.start >= start && span.end <= end)
                .map(|span| span.start - start..span.end - start)
                .collect(),
            cut_before: start > 0,
            cut_after: end < text.len(),
        }
    }
}

/// Wraps each span of `text` in `open` and `close` (spans in order, not overlapping).
pub fn mark(text: &str, spans: &[Range<usize>], open: &str, close: &str) -> String {
    let mut marked = String::with_capacity(text.len() + spans.len() * (open.len() + close.len()));
    let mut at = 0;
    for span in spans {
        if span.start < at || span.end > text.len() {
            continue;
        }
        marked.push_str(&text[at..span.start]);
        marked.push_str(open);
        marked.push_str(&text[span.clone()]);
        marked.push_str(close);
        at = span.end;
    }
    marked.push_str(&text[at..]);
    marked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_stemmed_matches_but_not_stop_words() {
        let highlighter = Highlighter::new("Estimating the mutual information");
        let title = "MINE: Mutual Information Neural Estimation";
        assert_eq!(
            mark(title, &highlighter.spans(title), "[", "]"),
            "MINE: [Mutual] [Information] Neural [Estimation]"
        );
        assert!(highlighter.spans("the of and").is_empty());
        assert!(Highlighter::new("the of").is_empty());
        assert!(Highlighter::new("\"(:").spans(title).is_empty());
    }

    #[test]
    fn snippets_centre_on_the_matches_and_cut_at_words() {
        let filler = "Some words that say nothing at all here. ".repeat(10);
        let text =
            format!("{filler}We estimate mutual information with a neural network. {filler}");
        let snippet = Highlighter::new("mutual information").snippet(&text, 80);
        assert!(snippet.cut_before && snippet.cut_after);
        assert!(snippet.text.chars().count() <= 80);
        assert!(
            snippet.text.starts_with("We estimate"),
            "{:?}",
            snippet.text
        );
        assert_eq!(
            snippet
                .spans
                .iter()
                .map(|span| &snippet.text[span.clone()])
                .collect::<Vec<_>>(),
            ["mutual", "information"]
        );
        let short = Highlighter::new("nothing").snippet("short text", 80);
        assert_eq!(short.text, "short text");
        assert!(!short.cut_before && !short.cut_after);
        let unmatched = Highlighter::new("absent").snippet(&text, 80);
        assert!(!unmatched.cut_before && unmatched.cut_after);
        assert!(unmatched.spans.is_empty());
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let text = "Über die Schätzung ".repeat(20) + "mutual information";
        let snippet = Highlighter::new("mutual").snippet(&text, 30);
        assert!(snippet.text.contains("mutual"));
        // Every window of odd text is cut on boundaries, whatever the size.
        let odd = "日本語 mutual. ü. \u{0}x  mutual\t€€ information 🙂".repeat(7);
        let highlighter = Highlighter::new("mutual information");
        for max_chars in 0..odd.chars().count() + 2 {
            let snippet = highlighter.snippet(&odd, max_chars);
            for span in &snippet.spans {
                assert!(snippet.text.get(span.clone()).is_some());
            }
        }
        let spans = Highlighter::new("mutual").spans("ü mutual");
        assert_eq!(mark("ü mutual", &spans, "<", ">"), "ü <mutual>");
    }
}
