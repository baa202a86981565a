//! The HTML pages. Handlers gather what a page shows into a template struct; askama escapes
//! every value, so paper text can never become markup.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use paperboy_core::Paper;
use paperboy_core::day::parse_day;
use paperboy_core::text::author_line;
use paperboy_core::trending::Window;
use paperboy_search::highlight::Highlighter;
use paperboy_search::{Mode, Query, SearchError, paper_text};
use paperboy_store::account::Marks;
use paperboy_store::folder::Folder;
use serde::Deserialize;

use paperboy_core::text::urlencode;

use crate::error::{PageError, PageResult};
use crate::lists::{self, listed_between, papers_of, run_search, visible_paper};
use crate::params::{mode_param, voters_param};
use crate::period::Period;
use crate::reader::{Reader, ReaderView};
use crate::respond::render;
use crate::state::AppState;
use crate::view::{Card, Piece, bibtex, pieces, web_link};

/// Papers on one page of the daily list or of search results.
const PAGE_SIZE: usize = 25;
/// The last page of search results: the searcher reads no deeper than
/// [`paperboy_search::MAX_DEPTH`].
const LAST_SEARCH_PAGE: usize = paperboy_search::MAX_DEPTH / PAGE_SIZE;
/// Similar papers shown on a paper's page.
const SIMILAR: usize = 8;

const STYLESHEET: &str = include_str!("../static/style.css");
const SCRIPT: &str = include_str!("../static/app.js");
const OPENAPI: &str = include_str!("../static/openapi.json");

#[derive(Template)]
#[template(path = "daily.html")]
struct DailyPage {
    /// What is shown; `None` when the store has no listed papers.
    period: Option<Period>,
    previous: Option<Period>,
    next: Option<Period>,
    cards: Vec<Card>,
    reader: ReaderView,
}

impl DailyPage {
    /// The day, week and month views around what is shown, as (label, query, current).
    fn views(&self) -> Vec<(&'static str, String, bool)> {
        let Some(period) = self.period else {
            return Vec::new();
        };
        let day = period.anchor();
        [
            ("Day", Period::Day(day)),
            ("Week", Period::week_of(day)),
            ("Month", Period::month_of(day)),
        ]
        .into_iter()
        .map(|(label, view)| (label, view.query(), view.kind() == period.kind()))
        .collect()
    }
}

#[derive(Template)]
#[template(path = "trending.html")]
struct TrendingPage {
    window: &'static str,
    windows: Vec<&'static str>,
    /// `all` or `here` (see [`Voters`]).
    votes: &'static str,
    cards: Vec<Card>,
    reader: ReaderView,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    q: String,
    mode: &'static str,
    from: String,
    until: String,
    category: String,
    cards: Vec<Card>,
    page: usize,
    more: bool,
    error: Option<String>,
    reader: ReaderView,
}

impl SearchPage {
    /// The query string of another page of the same search.
    fn page_query(&self, page: usize) -> String {
        let mut query = format!("q={}&mode={}", urlencode(&self.q), self.mode);
        for (name, value) in [
            ("from", &self.from),
            ("until", &self.until),
            ("category", &self.category),
        ] {
            if !value.is_empty() {
                query.push_str(&format!("&{name}={}", urlencode(value)));
            }
        }
        query.push_str(&format!("&page={page}"));
        query
    }

    /// The query string of this search's Atom feed.
    fn feed_query(&self) -> String {
        format!("q={}", urlencode(&self.q))
    }
}

#[derive(Template)]
#[template(path = "paper.html")]
struct PaperPage {
    key: String,
    hidden: bool,
    upvoted: bool,
    saved: bool,
    external_upvotes: u32,
    local_upvotes: u32,
    reader: ReaderView,
    title: String,
    authors: String,
    abstract_pieces: Vec<Piece>,
    published: Option<NaiveDate>,
    listing_dates: Vec<NaiveDate>,
    categories: Vec<String>,
    upvotes: u32,
    abstract_url: Option<String>,
    pdf_url: Option<String>,
    code_url: Option<String>,
    github_stars: Option<u32>,
    project_url: Option<String>,
    bibtex: String,
    similar: Vec<Card>,
    /// The reader's folders, to rate the paper in.
    folders: Vec<Folder>,
}

#[derive(Template)]
#[template(path = "similar.html")]
struct SimilarPage {
    text: String,
    cards: Vec<Card>,
    error: Option<String>,
    reader: ReaderView,
}

#[derive(Template)]
#[template(path = "about.html")]
struct AboutPage {
    papers: u64,
}

fn bad_request(message: impl Into<String>) -> PageError {
    PageError::BadRequest(message.into())
}

#[derive(Debug, Deserialize)]
pub(crate) struct DailyParams {
    date: Option<String>,
    week: Option<String>,
    month: Option<String>,
}

/// `/`: the papers listed on a day (the latest by default), a week or a month, with links to
/// the periods before and after.
pub(crate) async fn daily(
    State(state): State<AppState>,
    reader: Reader,
    params: Result<QueryParams<DailyParams>, QueryRejection>,
) -> PageResult {
    let Ok(QueryParams(params)) = params else {
        return Err(bad_request("The address's parameters could not be read."));
    };
    let dates = state.store.listing_dates().await?;
    let asked = Period::from_params(
        params.date.as_deref(),
        params.week.as_deref(),
        params.month.as_deref(),
    );
    let period = match asked {
        Ok(Some(period)) => Some(period),
        Ok(None) => dates.last().copied().map(Period::Day),
        Err(message) => return Err(bad_request(format!("{message}."))),
    };
    let mut cards = match period {
        Some(period) => {
            let (from, until) = period.range();
            let papers = listed_between(&*state.store, from, until, 500, 0).await?;
            papers.iter().map(|paper| Card::new(paper, None)).collect()
        }
        None => Vec::new(),
    };
    reader.mark(&state, &mut cards).await?;
    let (previous, next) = period.map_or((None, None), |period| period.neighbours(&dates));
    Ok(render(
        StatusCode::OK,
        &DailyPage {
            period,
            previous,
            next,
            cards,
            reader: reader.view(),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TrendingParams {
    window: Option<String>,
    votes: Option<String>,
}

/// `/trending`: the papers gathering upvotes, over a day, a week (default) or a month, by
/// everyone's upvotes (default) or this site's readers' only (`votes=here`).
pub(crate) async fn trending(
    State(state): State<AppState>,
    reader: Reader,
    params: Result<QueryParams<TrendingParams>, QueryRejection>,
) -> PageResult {
    let (asked, votes) = params
        .ok()
        .map(|QueryParams(params)| (params.window, params.votes))
        .unwrap_or_default();
    let voters = voters_param(votes.as_deref()).map_err(bad_request)?;
    let window = match asked.as_deref() {
        None | Some("") => Window::default(),
        Some(text) => match Window::parse(text) {
            Some(window) => window,
            None => {
                return Err(bad_request(format!(
                    "{text:?} is not a trending window (day, week or month)."
                )));
            }
        },
    };
    let scored = lists::trending(&*state.store, window, voters).await?;
    let mut cards: Vec<Card> = scored
        .iter()
        .take(PAGE_SIZE * 2)
        .map(|(paper, _)| Card::new(paper, None))
        .collect();
    reader.mark(&state, &mut cards).await?;
    Ok(render(
        StatusCode::OK,
        &TrendingPage {
            window: window.name(),
            windows: Window::ALL.iter().map(|window| window.name()).collect(),
            votes: voters.name(),
            cards,
            reader: reader.view(),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchParams {
    q: Option<String>,
    mode: Option<String>,
    from: Option<String>,
    until: Option<String>,
    category: Option<String>,
    page: Option<usize>,
}

/// `/search?q=`: results with the matched words marked, a page at a time.
pub(crate) async fn search(
    State(state): State<AppState>,
    reader: Reader,
    params: Result<QueryParams<SearchParams>, QueryRejection>,
) -> PageResult {
    let Ok(QueryParams(params)) = params else {
        return Err(bad_request("The search form's values could not be read."));
    };
    let q = params.q.unwrap_or_default();
    let mode = mode_param(params.mode.as_deref()).map_err(bad_request)?;
    let page = params.page.unwrap_or(1).max(1);
    if page > LAST_SEARCH_PAGE {
        return Err(bad_request(format!(
            "Search results end at page {LAST_SEARCH_PAGE}; narrow the search with more words, \
             dates or a category to see more."
        )));
    }
    let text_of = |value: Option<String>| value.unwrap_or_default().trim().to_owned();
    let mut view = SearchPage {
        q: q.clone(),
        mode: mode.name(),
        from: text_of(params.from),
        until: text_of(params.until),
        category: text_of(params.category),
        cards: Vec::new(),
        page,
        more: false,
        error: None,
        reader: reader.view(),
    };
    if q.trim().is_empty() {
        return Ok(render(StatusCode::OK, &view));
    }
    let mut query = Query::new(&q)
        .mode(mode)
        .limit(PAGE_SIZE + 1)
        .offset((page - 1).saturating_mul(PAGE_SIZE));
    for (name, text) in [("from", &view.from), ("until", &view.until)] {
        if text.is_empty() {
            continue;
        }
        let Some(day) = parse_day(text) else {
            return Err(bad_request(format!(
                "The {name} date {text:?} is not a date (YYYY-MM-DD)."
            )));
        };
        query = if name == "from" {
            query.from(day)
        } else {
            query.until(day)
        };
    }
    if !view.category.is_empty() {
        query = query.category(&view.category);
    }
    match run_search(&state, query).await {
        Ok(mut hits) => {
            view.more = hits.len() > PAGE_SIZE;
            hits.truncate(PAGE_SIZE);
            let highlighter = Highlighter::new(&q);
            let found = papers_of(&*state.store, hits).await?;
            view.cards = found
                .iter()
                .map(|(_, paper)| Card::new(paper, Some(&highlighter)))
                .collect();
            reader.mark(&state, &mut view.cards).await?;
        }
        Err(SearchError::EmptyQuery) => {
            view.error = Some("The search has no words to look for.".to_owned());
        }
        Err(error) => return Err(error.into()),
    }
    Ok(render(StatusCode::OK, &view))
}

/// `/papers/hep-th/9901001`: an old-style arXiv id typed or pasted as arXiv writes it goes to
/// the paper's address, where its slash is escaped (see [`paperboy_core::Paper::url_key`]).
pub(crate) async fn old_style_paper(Path((archive, number)): Path<(String, String)>) -> PageResult {
    let key = format!("{archive}/{number}");
    let id = paperboy_core::ArxivId::parse(&key).map_err(|_| PageError::no_paper(&key))?;
    Ok(Redirect::permanent(&format!(
        "/papers/{}",
        paperboy_core::key_segment(&id.to_string())
    ))
    .into_response())
}

/// `/papers/{key}`: one paper, its links, BibTeX and the papers most like it.
pub(crate) async fn paper(
    State(state): State<AppState>,
    reader: Reader,
    Path(key): Path<String>,
) -> PageResult {
    let paper = visible_paper(&*state.store, &key, reader.is_admin())
        .await?
        .ok_or_else(|| PageError::no_paper(&key))?;
    let mut similar = similar_cards(&state, &paper).await?;
    let marks = match &reader.signed_in {
        Some(signed_in) => state
            .store
            .marks(signed_in.user.id, &[paper.id])
            .await?
            .get(&paper.id)
            .copied()
            .unwrap_or_default(),
        None => Marks::default(),
    };
    reader.mark(&state, &mut similar).await?;
    let folders = match &reader.signed_in {
        Some(signed_in) => state.store.folders(signed_in.user.id).await?,
        None => Vec::new(),
    };
    let record = &paper.record;
    Ok(render(
        StatusCode::OK,
        &PaperPage {
            key: paper.url_key(),
            hidden: paper.hidden,
            upvoted: marks.upvoted,
            saved: marks.saved,
            external_upvotes: record.external_upvotes,
            local_upvotes: paper.local_upvotes,
            reader: reader.view(),
            title: record.title.clone(),
            authors: author_line(&record.authors, usize::MAX),
            abstract_pieces: pieces(&record.abstract_text, &[]),
            published: record.published,
            listing_dates: record.listing_dates.iter().copied().collect(),
            categories: record.categories.clone(),
            upvotes: paper.upvotes(),
            abstract_url: paper.record.abstract_url(),
            pdf_url: paper.record.pdf_url(),
            code_url: web_link(record.code_url.as_deref()),
            github_stars: record.github_stars,
            project_url: web_link(record.project_url.as_deref()),
            bibtex: bibtex(&paper),
            similar,
            folders,
        },
    ))
}

async fn similar_cards(state: &AppState, paper: &Paper) -> Result<Vec<Card>, PageError> {
    if !state.searcher.current().index().vectors.contains(paper.id) {
        return Ok(Vec::new()); // added since the last indexing
    }
    let query = Query::like_paper(
        paper.id,
        &paper_text(&paper.record.title, &paper.record.abstract_text),
    )
    .mode(Mode::Semantic)
    .limit(SIMILAR);
    let hits = run_search(state, query).await?;
    let found = papers_of(&*state.store, hits).await?;
    Ok(found
        .iter()
        .map(|(_, other)| Card::new(other, None))
        .collect())
}

#[derive(Debug, Deserialize)]
pub(crate) struct SimilarParams {
    text: Option<String>,
}

/// `/similar?text=`: paste an abstract, find the papers most like it.
pub(crate) async fn similar_to_text(
    State(state): State<AppState>,
    reader: Reader,
    params: Result<QueryParams<SimilarParams>, QueryRejection>,
) -> PageResult {
    let text = params
        .ok()
        .and_then(|QueryParams(params)| params.text)
        .unwrap_or_default();
    let mut view = SimilarPage {
        text: text.clone(),
        cards: Vec::new(),
        error: None,
        reader: reader.view(),
    };
    if text.trim().is_empty() {
        return Ok(render(StatusCode::OK, &view));
    }
    match run_search(
        &state,
        Query::new(&text).mode(Mode::Semantic).limit(PAGE_SIZE),
    )
    .await
    {
        Ok(hits) => {
            let found = papers_of(&*state.store, hits).await?;
            view.cards = found
                .iter()
                .map(|(_, paper)| Card::new(paper, None))
                .collect();
            reader.mark(&state, &mut view.cards).await?;
        }
        Err(SearchError::EmptyQuery) => {
            view.error = Some("The text has no words to compare.".to_owned());
        }
        Err(error) => return Err(error.into()),
    }
    Ok(render(StatusCode::OK, &view))
}

pub(crate) async fn about(State(state): State<AppState>) -> PageResult {
    let papers = state.store.count_papers().await?;
    Ok(render(StatusCode::OK, &AboutPage { papers }))
}

pub(crate) async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", STYLESHEET)
}

pub(crate) async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", SCRIPT)
}

pub(crate) async fn openapi() -> Response {
    static_file("application/json", OPENAPI)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
