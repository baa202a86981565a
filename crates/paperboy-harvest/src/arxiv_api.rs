//! The arXiv API (`/api/query`, Atom) for single papers and small queries: adding a paper by
//! its id, refreshing one, or a search. Requests go through a [`Fetcher`] with arXiv's pace
//! (one every three seconds); results are read by the Atom importer.

use paperboy_core::ArxivId;

use crate::page::{Papers, read_papers};
use crate::{Fetcher, HarvestError};

/// The arXiv API endpoint.
pub const ARXIV_API_URL: &str = "https://export.arxiv.org/api/query";

/// The most results asked for in one request (arXiv's limit is 2,000 a call; small queries
/// are what this client is for).
pub const MAX_RESULTS: usize = 100;

/// The papers with these ids (the latest version of each), at most [`MAX_RESULTS`] a request.
pub async fn by_ids(
    fetcher: &Fetcher,
    base_url: &str,
    ids: &[ArxivId],
) -> Result<Papers, HarvestError> {
    let mut found = Papers::default();
    for chunk in ids.chunks(MAX_RESULTS) {
        let list: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        let list = list.join(",");
        let max = chunk.len().to_string();
        let page = fetch(
            fetcher,
            base_url,
            &[("id_list", &list), ("max_results", &max)],
            "arXiv API id_list",
        )
        .await?;
        found.records.extend(page.records);
        found.rejected.extend(page.rejected);
    }
    Ok(found)
}

/// The first `max` papers (at most [`MAX_RESULTS`]) matching an arXiv `search_query`
/// (`cat:cs.IR AND ti:retrieval`), newest submissions first.
pub async fn search(
    fetcher: &Fetcher,
    base_url: &str,
    query: &str,
    max: usize,
) -> Result<Papers, HarvestError> {
    let max = max.clamp(1, MAX_RESULTS).to_string();
    fetch(
        fetcher,
        base_url,
        &[
            ("search_query", query),
            ("max_results", &max),
            ("sortBy", "submittedDate"),
            ("sortOrder", "descending"),
        ],
        "arXiv API search",
    )
    .await
}

async fn fetch(
    fetcher: &Fetcher,
    base_url: &str,
    query: &[(&str, &str)],
    name: &str,
) -> Result<Papers, HarvestError> {
    let body = fetcher.get(base_url, query).await?;
    read_papers(name, body)
        .await
        .map_err(|message| HarvestError::Malformed {
            source_name: name.to_owned(),
            page: 1,
            message,
        })
}
