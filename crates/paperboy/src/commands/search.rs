//! `paperboy search` and `paperboy similar`: the two ways to query the search index from the
//! command line, with the same result flags and the same printing.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use paperboy_core::text::shorten;
use paperboy_search::highlight::{Highlighter, mark};
use paperboy_search::{Query, Searcher, paper_text};
use paperboy_store::Store;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{ResultArgs, SearchArgs, SimilarArgs};
use crate::commands::papers::find;
use crate::context::Context;

/// One result as `--json` prints it.
#[derive(Serialize)]
struct Found {
    id: i64,
    arxiv_id: Option<String>,
    title: String,
    score: f32,
    /// BM25 score, when the paper was among the keyword matches.
    keyword_score: Option<f32>,
    /// Cosine similarity to the query, in semantic and hybrid modes.
    semantic_score: Option<f32>,
    published: Option<NaiveDate>,
    categories: Vec<String>,
    /// The words of the title and abstract that match the query, as written there.
    matched_words: Vec<String>,
    /// The part of the abstract with the most matches.
    snippet: String,
}

/// `paperboy search`.
pub(crate) async fn search(ctx: &Context, args: &SearchArgs) -> anyhow::Result<Outcome> {
    let query = args
        .results
        .apply(Query::new(&args.query).mode(args.mode.into()));
    let searcher = ctx.searcher(query.needs_embedding()).await?;
    let heading = format!("Papers for \"{}\":", shorten(&args.query, 80));
    run_query(
        ctx.store(),
        searcher,
        query,
        &args.query,
        &args.results,
        &heading,
    )
    .await
}

/// `paperboy similar`.
pub(crate) async fn similar(ctx: &Context, args: &SimilarArgs) -> anyhow::Result<Outcome> {
    let (query, heading) = match (&args.id, &args.text) {
        (Some(id), _) => {
            let paper = find(ctx.store(), id).await?;
            let record = &paper.record;
            let query =
                Query::like_paper(paper.id, &paper_text(&record.title, &record.abstract_text));
            (query, format!("Papers most like \"{}\":", record.title))
        }
        (None, Some(text)) => {
            let text = if text == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            } else {
                text.clone()
            };
            let heading = format!("Papers most like \"{}\":", shorten(&text, 80));
            (Query::new(&text), heading)
        }
        (None, None) => bail!("give a paper id or --text"),
    };
    let query = args.results.apply(query.mode(args.mode.into()));
    let searcher = ctx.searcher(query.needs_embedding()).await?;
    if let Some(like) = query.like()
        && !searcher.index().vectors.contains(like)
    {
        bail!(
            "{} was added after the last reindex: run `paperboy reindex` to include it",
            args.id.as_deref().unwrap_or_default()
        );
    }
    let highlight_text = query.text().to_owned();
    run_query(
        ctx.store(),
        searcher,
        query,
        &highlight_text,
        &args.results,
        &heading,
    )
    .await
}

async fn run_query(
    store: &dyn Store,
    searcher: Searcher,
    query: Query,
    highlight_text: &str,
    args: &ResultArgs,
    heading: &str,
) -> anyhow::Result<Outcome> {
    let page = Arc::new(searcher).search_off_thread(query).await?;
    let highlighter = Highlighter::new(highlight_text);
    let color = !args.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut results = Vec::with_capacity(page.hits.len());
    let mut lines = String::new();
    for (rank, hit) in page.hits.iter().enumerate() {
        let Some(paper) = store.paper(hit.id).await? else {
            continue; // indexed, then removed from the store: the next reindex drops it
        };
        let record = paper.record;
        let title_spans = highlighter.spans(&record.title);
        let snippet = highlighter.snippet(&record.abstract_text, SNIPPET_CHARS);
        let mut matched_words: Vec<String> = Vec::new();
        for (text, spans) in [
            (&record.title, &title_spans),
            (&snippet.text, &snippet.spans),
        ] {
            for span in spans {
                let word = text[span.clone()].to_lowercase();
                if !matched_words.contains(&word) {
                    matched_words.push(word);
                }
            }
        }
        let label = record
            .arxiv_id
            .as_ref()
            .map_or_else(|| format!("#{}", paper.id.0), ToString::to_string);
        let (open, close) = if color {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        };
        lines.push_str(&format!(
            "{:>3}. {:.3}  {label:<16}  {}\n",
            args.offset as usize + rank + 1,
            hit.score,
            mark(&record.title, &title_spans, open, close)
        ));
        if !snippet.spans.is_empty() {
            lines.push_str(&format!(
                "                             {}{}{}\n",
                if snippet.cut_before { "…" } else { "" },
                mark(&snippet.text, &snippet.spans, open, close),
                if snippet.cut_after { "…" } else { "" }
            ));
        }
        results.push(Found {
            id: paper.id.0,
            arxiv_id: record.arxiv_id.map(|arxiv_id| arxiv_id.to_string()),
            title: record.title,
            score: hit.score,
            keyword_score: hit.keyword,
            semantic_score: hit.semantic,
            published: record.published,
            categories: record.categories,
            matched_words,
            snippet: snippet.text,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{heading}");
        if results.is_empty() {
            println!("(nothing found)");
        }
        print!("{lines}");
        if page.more {
            println!(
                "(more: --offset {})",
                args.offset as usize + page.hits.len()
            );
        }
    }
    Ok(Outcome::Success)
}

/// Characters of abstract shown under each result.
const SNIPPET_CHARS: usize = 160;
