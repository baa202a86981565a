//! Atom 1.0 feeds (RFC 4287): the latest day's papers, the week's trending papers, any
//! search, and a reader's folder's recommendations (private: the reader's session or access
//! token), for feed readers. Links are absolute, built on the configured public URL.

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use paperboy_core::Paper;
use paperboy_core::account::FolderId;
use paperboy_core::text::urlencode;
use paperboy_core::trending::{Voters, Window};
use paperboy_search::{Query, SearchError};
use paperboy_store::StoreError;
use serde::Deserialize;

use crate::for_you::in_folder;
use crate::lists::{listed_between, papers_of, run_search, trending};
use crate::params::voters_param;
use crate::reader::Reader;
use crate::state::AppState;
use crate::view::paper_href;

/// Entries per feed.
const ENTRIES: usize = 30;

/// Why a feed could not be made, answered in plain text: what feed readers show.
#[derive(Debug)]
pub(crate) enum FeedError {
    BadRequest(&'static str),
    /// A private feed asked for without the reader's credentials.
    Unauthorized,
    /// No such feed for this reader.
    NotFound,
    /// The server failed; already logged.
    Internal,
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        match self {
            FeedError::BadRequest(message) => (StatusCode::BAD_REQUEST, message).into_response(),
            FeedError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "this feed is private: add ?token= and an access token made on /me\n",
            )
                .into_response(),
            FeedError::NotFound => (StatusCode::NOT_FOUND, "no such feed\n").into_response(),
            FeedError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "the feed failed\n").into_response()
            }
        }
    }
}

impl From<StoreError> for FeedError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "a feed failed");
        FeedError::Internal
    }
}

impl From<SearchError> for FeedError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::EmptyQuery => FeedError::BadRequest("the search has no words\n"),
            error => {
                tracing::error!(%error, "a feed failed");
                FeedError::Internal
            }
        }
    }
}

pub(crate) async fn daily(State(state): State<AppState>) -> Result<Response, FeedError> {
    let papers = match state.store.listing_dates().await?.last().copied() {
        Some(day) => listed_between(&*state.store, day, day, ENTRIES as u32, 0).await?,
        None => Vec::new(),
    };
    Ok(atom(
        &state,
        "Daily papers",
        "/feeds/daily.atom",
        "/",
        &papers,
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TrendingParams {
    votes: Option<String>,
}

/// `/feeds/trending.atom`: this week's trending papers, by everyone's upvotes or
/// (`?votes=here`) this site's readers' only.
pub(crate) async fn trending_feed(
    State(state): State<AppState>,
    params: Result<QueryParams<TrendingParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, FeedError> {
    let votes = params.ok().and_then(|QueryParams(params)| params.votes);
    let voters = voters_param(votes.as_deref()).map_err(|_| {
        FeedError::BadRequest(
            "votes is all or here
",
        )
    })?;
    let papers: Vec<Paper> = trending(&*state.store, Window::Week, voters)
        .await?
        .into_iter()
        .take(ENTRIES)
        .map(|(paper, _)| paper)
        .collect();
    let (title, query) = match voters {
        Voters::Everyone => ("Trending papers this week", ""),
        Voters::Here => ("Trending with this site's readers this week", "?votes=here"),
    };
    Ok(atom(
        &state,
        title,
        &format!("/feeds/trending.atom{query}"),
        &format!("/trending{query}"),
        &papers,
    ))
}

/// `/feeds/folders/{id}.atom`: what one of the reader's folders recommends, for the reader
/// only (another reader's folder is answered as missing).
pub(crate) async fn folder_feed(
    State(state): State<AppState>,
    reader: Reader,
    Path(file): Path<String>,
) -> Result<Response, FeedError> {
    let Some(signed_in) = &reader.signed_in else {
        return Err(FeedError::Unauthorized);
    };
    let id = file
        .strip_suffix(".atom")
        .and_then(|id| id.parse().ok())
        .map(FolderId)
        .ok_or(FeedError::NotFound)?;
    let folder = state
        .store
        .folder(signed_in.user.id, id)
        .await?
        .ok_or(FeedError::NotFound)?;
    let ratings = state.store.ratings(folder.id).await?;
    let papers = in_folder(&state, &ratings).await?;
    Ok(atom(
        &state,
        &format!("\u{201c}{}\u{201d}, recommended", folder.name),
        &format!("/feeds/folders/{}.atom", folder.id),
        &format!("/folders/{}", folder.id),
        &papers,
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    params: Result<QueryParams<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, FeedError> {
    let q = params
        .ok()
        .and_then(|QueryParams(params)| params.q)
        .unwrap_or_default();
    if q.trim().is_empty() {
        return Err(FeedError::BadRequest("give the search words as q\n"));
    }
    let hits = run_search(&state, Query::new(&q).limit(ENTRIES)).await?;
    let papers: Vec<Paper> = papers_of(&*state.store, hits)
        .await?
        .into_iter()
        .map(|(_, paper)| paper)
        .collect();
    let encoded = urlencode(&q);
    Ok(atom(
        &state,
        &format!("Papers for \u{201c}{q}\u{201d}"),
        &format!("/feeds/search.atom?q={encoded}"),
        &format!("/search?q={encoded}"),
        &papers,
    ))
}

/// Renders a feed; `self_path` and `page_path` are this feed's and its page's paths.
fn atom(
    state: &AppState,
    title: &str,
    self_path: &str,
    page_path: &str,
    papers: &[Paper],
) -> Response {
    let base = state.public_url.trim_end_matches('/');
    let updated = papers
        .iter()
        .filter_map(|paper| paper.record.sort_date())
        .max()
        .map_or_else(
            || Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            timestamp,
        );
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    push_element(&mut xml, "  ", "title", &format!("Paperboy: {title}"));
    push_element(&mut xml, "  ", "id", &format!("{base}{self_path}"));
    push_element(&mut xml, "  ", "updated", &updated);
    xml.push_str(&format!(
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        escape(&format!("{base}{self_path}"))
    ));
    xml.push_str(&format!(
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        escape(&format!("{base}{page_path}"))
    ));
    xml.push_str("  <author><name>Paperboy</name></author>\n");
    push_element(&mut xml, "  ", "generator", "Paperboy");
    for paper in papers {
        let record = &paper.record;
        let url = format!("{base}{}", paper_href(paper));
        let day = record
            .sort_date()
            .map_or_else(|| updated.clone(), timestamp);
        xml.push_str("  <entry>\n");
        push_element(&mut xml, "    ", "title", &record.title);
        push_element(&mut xml, "    ", "id", &url);
        xml.push_str(&format!(
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            escape(&url)
        ));
        push_element(&mut xml, "    ", "updated", &day);
        if let Some(published) = record.published {
            push_element(&mut xml, "    ", "published", &timestamp(published));
        }
        for author in record.authors.iter().take(20) {
            xml.push_str(&format!(
                "    <author><name>{}</name></author>\n",
                escape(author)
            ));
        }
        for category in &record.categories {
            xml.push_str(&format!("    <category term=\"{}\"/>\n", escape(category)));
        }
        xml.push_str("    <summary type=\"text\">");
        xml.push_str(&escape(&record.abstract_text));
        xml.push_str("</summary>\n  </entry>\n");
    }
    xml.push_str("</feed>\n");
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=600"),
        ],
        xml,
    )
        .into_response()
}

fn timestamp(day: NaiveDate) -> String {
    format!("{day}T00:00:00Z")
}

fn push_element(xml: &mut String, indent: &str, name: &str, text: &str) {
    xml.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape(text)));
}

/// XML text and attribute escaping; characters XML 1.0 forbids are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(
            escape("a<b>&\"c' \u{1}\u{fffe}\td"),
            "a&lt;b&gt;&amp;&quot;c&apos; \td"
        );
    }
}
