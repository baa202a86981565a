//! The JSON API under `/api`. `GET /api/daily_papers` answers in the shape of the Hugging Face
//! daily-papers API, so a client of that API can point here. Errors are always
//! `{"code": "...", "message": "..."}` with a 4xx or 5xx status.

use axum::Json;
use axum::extract::{Path, State};
use chrono::NaiveDate;
use paperboy_core::Paper;
use paperboy_core::trending::{Decay, Window};
use paperboy_search::{Mode, Query, paper_text};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::lists::{listed_between, papers_of, run_search, visible_paper};
use crate::params::{Params, mode_param};
use crate::period::Period;
use crate::state::AppState;

/// Results per request when none is asked for, and the most that may be.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// The most papers of one period the daily API reads.
const MAX_PERIOD_PAPERS: u32 = 10_000;

/// A paper as the API returns it.
#[derive(Debug, Serialize)]
pub(crate) struct PaperJson {
    /// The key of its page and API routes: the arXiv id, else the store's number.
    id: String,
    arxiv_id: Option<String>,
    title: String,
    summary: String,
    authors: Vec<String>,
    categories: Vec<String>,
    published: Option<NaiveDate>,
    listing_dates: Vec<NaiveDate>,
    /// `external_upvotes + local_upvotes`.
    upvotes: u32,
    external_upvotes: u32,
    local_upvotes: u32,
    code_url: Option<String>,
    github_stars: Option<u32>,
    project_url: Option<String>,
    abstract_url: Option<String>,
    pdf_url: Option<String>,
}

impl PaperJson {
    fn new(paper: &Paper) -> Self {
        let record = &paper.record;
        PaperJson {
            id: paper.key(),
            arxiv_id: record.arxiv_id.as_ref().map(ToString::to_string),
            title: record.title.clone(),
            summary: record.abstract_text.clone(),
            authors: record.authors.clone(),
            categories: record.categories.clone(),
            published: record.published,
            listing_dates: record.listing_dates.iter().copied().collect(),
            upvotes: paper.upvotes(),
            external_upvotes: record.external_upvotes,
            local_upvotes: paper.local_upvotes,
            code_url: record.code_url.clone(),
            github_stars: record.github_stars,
            project_url: record.project_url.clone(),
            abstract_url: paper.record.abstract_url(),
            pdf_url: paper.record.pdf_url(),
        }
    }
}

/// A search result: the paper and how it scored.
#[derive(Debug, Serialize)]
pub(crate) struct HitJson {
    #[serde(flatten)]
    paper: PaperJson,
    score: f32,
    keyword_score: Option<f32>,
    semantic_score: Option<f32>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    limit: Option<usize>,
    mode: Option<String>,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    Params(params): Params<SearchParams>,
) -> Result<Json<Vec<HitJson>>, ApiError> {
    let text = params.q.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("give the search words as q"));
    }
    let query = Query::new(&text)
        .mode(mode_param(params.mode.as_deref()).map_err(ApiError::bad_request)?)
        .limit(limit(params.limit)?);
    Ok(Json(hits_json(&state, query).await?))
}

pub(crate) async fn paper(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<PaperJson>, ApiError> {
    Ok(Json(PaperJson::new(&find(&state, &key).await?)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SimilarParams {
    limit: Option<usize>,
}

pub(crate) async fn similar(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Params(params): Params<SimilarParams>,
) -> Result<Json<Vec<HitJson>>, ApiError> {
    let paper = find(&state, &key).await?;
    let query = Query::like_paper(
        paper.id,
        &paper_text(&paper.record.title, &paper.record.abstract_text),
    )
    .mode(Mode::Semantic)
    .limit(limit(params.limit)?);
    Ok(Json(hits_json(&state, query).await?))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DailyParams {
    date: Option<String>,
    week: Option<String>,
    month: Option<String>,
    limit: Option<usize>,
    /// The page, from 0.
    p: Option<usize>,
    /// `publishedAt` (newest listing first, most upvoted first within a day) or `trending`.
    sort: Option<String>,
}

/// One entry of the daily list, shaped like the Hugging Face API's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DailyEntry {
    paper: DailyPaper,
    published_at: Option<String>,
    title: String,
    summary: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DailyPaper {
    id: String,
    title: String,
    summary: String,
    authors: Vec<DailyAuthor>,
    published_at: Option<String>,
    upvotes: u32,
    github_repo: Option<String>,
    github_stars: Option<u32>,
    project_page: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DailyAuthor {
    name: String,
}

pub(crate) async fn daily_papers(
    State(state): State<AppState>,
    Params(params): Params<DailyParams>,
) -> Result<Json<Vec<DailyEntry>>, ApiError> {
    let by_trend = match params.sort.as_deref() {
        None | Some("" | "publishedAt") => false,
        Some("trending") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort must be publishedAt or trending, got {other:?}"
            )));
        }
    };
    let limit = limit(params.limit)?;
    // A period lists at most MAX_PERIOD_PAPERS: a page past them could never hold any.
    let skip = params.p.unwrap_or(0).saturating_mul(limit);
    if skip >= MAX_PERIOD_PAPERS as usize {
        return Err(ApiError::bad_request(format!(
            "p must be below {} with limit {limit}: a period lists at most {MAX_PERIOD_PAPERS} papers",
            (MAX_PERIOD_PAPERS as usize).div_ceil(limit)
        )));
    }
    let asked = Period::from_params(
        params.date.as_deref(),
        params.week.as_deref(),
        params.month.as_deref(),
    )
    .map_err(ApiError::bad_request)?;
    let period = match asked {
        Some(period) => period,
        None => match state.store.listing_dates().await?.last() {
            Some(day) => Period::Day(*day),
            None => return Ok(Json(Vec::new())),
        },
    };
    let (from, until) = period.range();
    let mut papers = listed_between(&*state.store, from, until, MAX_PERIOD_PAPERS, 0).await?;
    if by_trend {
        // Within the period: every upvote (imported or cast here) counted as of the paper's
        // listing day, decaying as in the month's trending window, seen from the period's end.
        let end = until.and_time(chrono::NaiveTime::MIN).and_utc();
        let trend = |paper: &Paper| {
            Decay::of(Window::Month).listing_score(
                paper.upvotes(),
                paper.record.sort_date().unwrap_or(until),
                until,
                end,
            )
        };
        papers.sort_by(|a, b| trend(b).total_cmp(&trend(a)).then(a.id.cmp(&b.id)));
    }
    Ok(Json(
        papers
            .iter()
            .skip(skip)
            .take(limit)
            .map(daily_entry)
            .collect(),
    ))
}

fn daily_entry(paper: &Paper) -> DailyEntry {
    let record = &paper.record;
    let published_at = record.published.map(|day| format!("{day}T00:00:00.000Z"));
    DailyEntry {
        paper: DailyPaper {
            id: paper.key(),
            title: record.title.clone(),
            summary: record.abstract_text.clone(),
            authors: record
                .authors
                .iter()
                .map(|name| DailyAuthor { name: name.clone() })
                .collect(),
            published_at: published_at.clone(),
            upvotes: paper.upvotes(),
            github_repo: record.code_url.clone(),
            github_stars: record.github_stars,
            project_page: record.project_url.clone(),
        },
        published_at,
        title: record.title.clone(),
        summary: record.abstract_text.clone(),
    }
}

/// Runs a query off the async threads and loads its papers.
async fn hits_json(state: &AppState, query: Query) -> Result<Vec<HitJson>, ApiError> {
    let hits = run_search(state, query).await?;
    let found = papers_of(&*state.store, hits).await?;
    Ok(found
        .into_iter()
        .map(|(hit, paper)| HitJson {
            paper: PaperJson::new(&paper),
            score: hit.score,
            keyword_score: hit.keyword,
            semantic_score: hit.semantic,
        })
        .collect())
}

/// The paper `key` names, unless an admin hid it.
async fn find(state: &AppState, key: &str) -> Result<Paper, ApiError> {
    let not_found = || ApiError::not_found(format!("no paper with id {key:?}"));
    visible_paper(&*state.store, key, false)
        .await?
        .ok_or_else(not_found)
}

fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_LIMIT}, got {limit}"
        ))),
    }
}
