//! The query path on hostile query text (issue 18): what a reader types (or a URL carries) goes
//! through `Query::new` (cut to a length), the keyword parser (tantivy's, leniently, after
//! operators are taken out), filters, highlighting and snippets. Whatever the text, a search
//! returns hits or a reported error (no panic), pages hold what they say, highlight spans lie
//! on character boundaries inside the text, and memory does not follow the query's length.
//!
//! How many cases run is set by `PROPTEST_CASES` or `PAPERBOY_HOSTILE_SECONDS` (see the shared
//! runner, `paperboy-ingest/tests/support/hostile.rs`).

#![allow(clippy::unwrap_used)]

#[macro_use]
#[path = "../../paperboy-ingest/tests/support/hostile.rs"]
mod hostile;

#[path = "../../paperboy-ingest/tests/support/alloc_meter.rs"]
mod alloc_meter;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use alloc_meter::{MIB, peak_heap};
use chrono::NaiveDate;
use paperboy_core::PaperId;
use paperboy_core::day::parse_day;
use paperboy_search::bm25::{Bm25Index, Document};
use paperboy_search::highlight::{Highlighter, mark};
use paperboy_search::searcher::MAX_QUERY_BYTES;
use paperboy_search::sentences::{SentenceIndex, split_sentences};
use paperboy_search::{
    FacetTable, Mode, PaperFacets, Query, SearchError, SearchIndex, Searcher, VectorIndex,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use hostile::HOSTILE_TOKENS;

const PAPERS: &[(&str, &str, &str)] = &[
    (
        "MINE: Mutual Information Neural Estimation",
        "We argue that the estimation of mutual information between high dimensional continuous random variables can be achieved by gradient descent over neural networks.",
        "cs.LG",
    ),
    (
        "A Tutorial on Bayesian Optimization",
        "Bayesian optimization is an approach to optimizing objective functions that take a long time to evaluate.",
        "stat.ML",
    ),
    (
        "Attention Is All You Need",
        "The dominant sequence transduction models are based on complex recurrent or convolutional neural networks.",
        "cs.CL",
    ),
    (
        "Ünïcödé: ﬁnding Straße in 東京",
        "Text with ligatures ﬁ, combining marks e\u{301}, right-to-left \u{202e}txet and emoji \u{1f4a9} must highlight on boundaries.",
        "cs.IR",
    ),
    (
        "cat:cs.IR title:(x) AND \"quoted\"",
        "A title that looks like query syntax: +must -not field:value [a TO b] ~2 ^3 * ?.",
        "cs.IR",
    ),
    (
        "New integrable (3+1)-dimensional systems",
        "We introduce a novel systematic construction for integrable dispersionless systems using nonisospectral Lax pairs.",
        "hep-th",
    ),
];

fn searcher() -> Searcher {
    let authors = vec![
        "Mohamed Ishmael Belghazi".to_owned(),
        "Ädä Lövelace".to_owned(),
    ];
    let keyword = Bm25Index::build(
        None,
        PAPERS
            .iter()
            .enumerate()
            .map(|(at, (title, abstract_text, _))| Document {
                id: PaperId(at as i64 + 1),
                title,
                abstract_text,
                authors: &authors,
            }),
    )
    .unwrap();
    let day = |text: &str| parse_day(text).unwrap();
    let facets: FacetTable = PAPERS
        .iter()
        .enumerate()
        .map(|(at, (_, _, category))| {
            (
                PaperId(at as i64 + 1),
                PaperFacets {
                    dates: vec![day("2019-01-01"), day(&format!("2024-0{}-15", at % 9 + 1))],
                    categories: vec![(*category).to_owned()],
                },
            )
        })
        .collect();
    let index = SearchIndex {
        keyword: Arc::new(keyword),
        vectors: VectorIndex::with_capacity(0),
        sentences: SentenceIndex::new(),
        facets: Arc::new(facets),
    };
    Searcher::new(Arc::new(index), None)
}

/// Query text as it reaches the searcher: any text, text decoded from bytes (as a URL's
/// percent-escapes may give), a soup of query syntax and hostile tokens, or very long text.
fn query_text() -> impl Strategy<Value = String> {
    let syntax = select(vec![
        "cat:cs.IR",
        "cat:",
        "title:(",
        "abstract:x",
        "authors:\"",
        "\"",
        "\"mutual information\"",
        "AND",
        "OR",
        "NOT",
        "&&",
        "||",
        "-",
        "+",
        "!",
        "*",
        "?",
        "~",
        "~2",
        "^3",
        "^-1",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "[a TO b]",
        "{* TO *}",
        ":",
        "\\",
        "/",
        "/regex/",
        "in:",
        "IN [",
        "id:1",
        "from:2024-01-01",
        "until:9999-99-99",
        "date:>2020",
        "mutual",
        "information",
        "neural",
        "optimization",
        "Straße",
        "東京",
        "ﬁnding",
        "e\u{301}",
        "\u{202e}",
        "\u{1f4a9}",
        "\u{0}",
        "\u{7}",
        "\u{feff}",
        "\u{fffd}",
        "\t",
        "\n",
        "\r\n",
        " ",
        "  ",
    ]);
    prop_oneof![
        3 => "\\PC{0,60}",
        2 => any::<String>(),
        2 => vec(any::<u8>(), 0..80).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        4 => vec(prop_oneof![
            3 => syntax.prop_map(str::to_owned),
            1 => select(HOSTILE_TOKENS.to_vec()).prop_map(|token| String::from_utf8_lossy(token).into_owned()),
            1 => "[a-z]{1,12}",
        ], 0..24).prop_map(|parts| parts.join(" ")),
        1 => (1usize..30_000, select(vec!["a", "é", "東", "\u{1f4a9}", "word ", "\"", "(", "x:"]))
            .prop_map(|(n, unit)| unit.repeat(n)),
        1 => (0usize..2_000).prop_map(|n| format!("{}x{}", "(".repeat(n), ")".repeat(n))),
    ]
}

/// Category filters as a form or URL may give them.
fn categories() -> impl Strategy<Value = Vec<String>> {
    vec(
        prop_oneof![
            select(vec![
                "cs",
                "cs.IR",
                "cs.",
                ".IR",
                "",
                " ",
                "CS.ir",
                "hep-th",
                "a.b.c",
                "*",
                "cs.IR,cs.LG"
            ])
            .prop_map(str::to_owned),
            "\\PC{0,12}",
        ],
        0..3,
    )
}

fn date() -> impl Strategy<Value = Option<NaiveDate>> {
    prop_oneof![
        Just(None),
        Just(Some(NaiveDate::MIN)),
        Just(Some(NaiveDate::MAX)),
        (1900i32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d)),
    ]
}

#[test]
fn hostile_query_text_never_breaks_a_search() {
    let searcher = searcher();
    let strategy = (
        query_text(),
        prop_oneof![
            Just("keyword".to_owned()),
            Just("hybrid".to_owned()),
            "\\PC{0,10}"
        ],
        categories(),
        date(),
        date(),
        0usize..60,
        0usize..60,
    );
    hostile::run(
        "search: hostile queries",
        1500,
        strategy,
        |(text, mode, categories, from, until, limit, offset)| {
            let length = text.len();
            let (result, peak) = peak_heap(|| {
                let mode = Mode::from_str(&mode).unwrap_or(Mode::Keyword);
                let mut query = Query::new(&text).mode(mode).limit(limit).offset(offset);
                if let Some(from) = from {
                    query = query.from(from);
                }
                if let Some(until) = until {
                    query = query.until(until);
                }
                for category in &categories {
                    query = query.category(category);
                }
                let cut = query.text().to_owned();
                (mode, cut, searcher.search(&query))
            });
            let (mode, cut, result) = result;
            ensure!(
                cut.len() <= MAX_QUERY_BYTES,
                "the query was not cut: {} bytes",
                cut.len()
            );
            ensure!(text.starts_with(&cut), "the cut query is not a prefix");
            match result {
                Ok(page) => {
                    ensure!(
                        page.hits.len() <= limit,
                        "{} hits for a limit of {limit}",
                        page.hits.len()
                    );
                    let ids: HashSet<PaperId> = page.hits.iter().map(|hit| hit.id).collect();
                    ensure!(ids.len() == page.hits.len(), "a paper twice on a page");
                    ensure!(
                        page.hits.iter().all(|hit| hit.score.is_finite()),
                        "a score that is not a number: {page:?}"
                    );
                }
                Err(SearchError::EmptyQuery) => {
                    ensure!(!cut.chars().any(char::is_alphanumeric), "{cut:?} has words");
                }
                Err(SearchError::NoModel) => {
                    ensure!(mode != Mode::Keyword, "keyword mode needs no model")
                }
                Err(other) => ensure!(false, "the search failed: {other}"),
            }
            let allowed = 16 * MIB + 64 * length;
            ensure!(
                peak <= allowed,
                "{peak} bytes of heap for a {length}-byte query"
            );
            Ok(())
        },
    );
}

#[test]
fn highlighting_and_snippets_of_hostile_text() {
    let text = prop_oneof![
        Just(PAPERS[3].1.to_owned()),
        Just(PAPERS[0].1.to_owned()),
        "\\PC{0,300}",
        any::<String>(),
        (0usize..5_000).prop_map(|n| "mutual information. ".repeat(n)),
    ];
    hostile::run(
        "search: highlighting",
        800,
        (
            query_text(),
            text,
            prop_oneof![0usize..400, Just(usize::MAX), Just(1usize)],
        ),
        |(query, text, max_chars)| {
            let highlighter = Highlighter::new(&query);
            let spans = highlighter.spans(&text);
            let mut previous_end = 0;
            for span in &spans {
                ensure!(
                    span.start <= span.end && span.end <= text.len(),
                    "{span:?} outside the text"
                );
                ensure!(
                    text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                    "{span:?} cuts a character"
                );
                ensure!(span.start >= previous_end, "spans out of order: {spans:?}");
                previous_end = span.end;
            }
            let marked = mark(&text, &spans, "<mark>", "</mark>");
            ensure!(
                marked.len() == text.len() + spans.len() * 13,
                "marking lost text"
            );
            let snippet = highlighter.snippet(&text, max_chars);
            ensure!(
                text.contains(&snippet.text),
                "the snippet is not from the text"
            );
            for span in &snippet.spans {
                ensure!(
                    span.end <= snippet.text.len()
                        && snippet.text.is_char_boundary(span.start)
                        && snippet.text.is_char_boundary(span.end),
                    "{span:?} outside the snippet"
                );
            }
            for sentence in split_sentences(&text) {
                ensure!(text.contains(sentence), "a sentence not from the text");
            }
            Ok(())
        },
    );
}
