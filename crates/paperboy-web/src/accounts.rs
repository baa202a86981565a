//! Readers' accounts: signing in by a link sent by mail, sessions, upvotes, the reading list
//! and `/me`.
//!
//! - **Sign-in links** work once, for 15 minutes. Like confirmation links they open a page
//!   with a button rather than signing in on `GET`, since mail scanners fetch links.
//! - **Sessions** are random tokens in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when the
//!   site is served over https), stored hashed. Every sign-in makes a new one and ends the
//!   session the browser had (no fixation).
//! - **Forms** of a signed-in reader carry a token derived from the session's
//!   ([`Token::derived`]): a page elsewhere cannot know it, so it cannot vote, save or sign out
//!   in the reader's name, whatever the browser sends. The same-origin check
//!   ([`crate::subscriptions::same_origin_writes`]) guards every write as well.
//! - **Votes and saves** are set, not toggled, by each request (`upvoted=true|false`): a
//!   replayed request changes nothing, and a user's vote is one row, so it counts once. The
//!   forms work without JavaScript; `app.js` sends them in the background and updates the
//!   button when it can.

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, FromRequestParts, Path, Query as QueryParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::{Token, same_secret};
use paperboy_core::{EmailAddress, Paper, PaperKey};
use paperboy_digest::sign_in::request_sign_in;
use paperboy_store::account::{NewSession, SignIn, User};
use paperboy_store::mail::{RequestOutcome, Subscriber, SubscriberState};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::api::ApiError;
use crate::pages::{failure_page, render};
use crate::subscriptions::{
    ClientAddress, NoticePage, PreferencesForm, capitalise, private, too_many,
};
use crate::view::{Card, bibtex};

/// The session cookie's name.
const SESSION_COOKIE: &str = "paperboy_session";
/// How long a session lasts.
const SESSION_DAYS: i64 = 30;
/// What a session's form token is derived for.
const FORM_PURPOSE: &str = "paperboy form token";

/// A signed-in reader: the user and the session's token (from the cookie).
#[derive(Debug)]
pub(crate) struct SignedIn {
    pub(crate) user: User,
    token: Token,
}

impl SignedIn {
    /// The token this session's forms carry.
    pub(crate) fn form_token(&self) -> String {
        self.token.derived(FORM_PURPOSE)
    }

    pub(crate) fn accepts(&self, form_token: &str) -> bool {
        same_secret(&self.form_token(), form_token)
    }
}

/// Who is asking (a signed-in reader or nobody in particular), and on which page.
#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) signed_in: Option<SignedIn>,
    /// The path and query asked for: where a form on the page comes back to.
    here: String,
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let here = return_address(&parts.uri);
        let Some(token) = session_token(&parts.headers) else {
            return Ok(Reader {
                signed_in: None,
                here,
            });
        };
        match state.store.session_user(token.hash(), Utc::now()).await {
            Ok(user) => Ok(Reader {
                signed_in: user.map(|user| SignedIn { user, token }),
                here,
            }),
            Err(error) => Err(failure_page(error)),
        }
    }
}

/// The longest address forms come back to: every card repeats it, so a page for a long URL
/// would otherwise grow with the URL times the cards.
const MAX_RETURN_ADDRESS: usize = 1024;

/// Where a page's forms come back to: the address asked for, or its path alone (the site's
/// own links are far shorter) or the front page when that is too long.
fn return_address(uri: &axum::http::Uri) -> String {
    [
        uri.path_and_query().map(|whole| whole.as_str()),
        Some(uri.path()),
    ]
    .into_iter()
    .flatten()
    .find(|address| address.len() <= MAX_RETURN_ADDRESS)
    .unwrap_or("/")
    .to_owned()
}

/// What pages show of the reader: forms need the session's token, and come back to the page.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReaderView {
    pub(crate) signed_in: bool,
    pub(crate) form_token: String,
    pub(crate) admin: bool,
    pub(crate) here: String,
    /// `here` as a query value (`/signin?next=…`).
    pub(crate) here_encoded: String,
}

impl Reader {
    pub(crate) fn view(&self) -> ReaderView {
        ReaderView {
            signed_in: self.signed_in.is_some(),
            form_token: self
                .signed_in
                .as_ref()
                .map(SignedIn::form_token)
                .unwrap_or_default(),
            admin: self.is_admin(),
            here: self.here.clone(),
            here_encoded: paperboy_core::text::urlencode(&self.here),
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.signed_in
            .as_ref()
            .is_some_and(|signed_in| signed_in.user.is_admin)
    }
}

/// Marks the cards the reader upvoted or saved.
pub(crate) async fn mark_cards(
    state: &AppState,
    reader: &Reader,
    cards: &mut [Card],
) -> Result<(), paperboy_store::StoreError> {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(());
    };
    let ids: Vec<_> = cards.iter().map(|card| card.id).collect();
    let marks = state.store.marks(signed_in.user.id, &ids).await?;
    for card in cards {
        if let Some(mark) = marks.get(&card.id) {
            card.upvoted = mark.upvoted;
            card.saved = mark.saved;
        }
    }
    Ok(())
}

/// The session token in the request's cookie, if it is well-formed.
fn session_token(headers: &HeaderMap) -> Option<Token> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// The `Set-Cookie` value that stores `token` (or, with `None`, removes the cookie).
fn session_cookie(state: &AppState, token: Option<&Token>) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(token) => format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            token.as_str(),
            SESSION_DAYS * 24 * 3600
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    // Tokens are URL-safe base64, so the value is always a valid header.
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

/// A path on this site to go to after signing in: only local paths, so a link cannot send
/// the reader elsewhere.
fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2_000;
    local.then(|| next.to_owned())
}

fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

fn sign_in_url(next: &str) -> String {
    format!("/signin?next={}", paperboy_core::text::urlencode(next))
}

fn refused(message: &str) -> Response {
    private(render(
        StatusCode::FORBIDDEN,
        &NoticePage {
            heading: "Not allowed",
            message: message.to_owned(),
            link: None,
        },
    ))
}

/// The answer to a form without the session's token: it came from elsewhere, or from a page
/// of an earlier session.
fn stale_form() -> Response {
    refused(
        "This form belongs to another session (or was sent from another site). Reload the page and try again.",
    )
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in_link.html")]
struct SignInLinkPage {
    action: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextParam {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    email: String,
    next: Option<String>,
}

/// The one answer to every accepted sign-in request.
const CHECK_INBOX: &str = "If the address can receive mail, a sign-in link is on its way to it. \
     It works once, for 15 minutes. No account yet? The link makes one.";

/// `GET /signin`: the form.
pub(crate) async fn sign_in_form(
    reader: Reader,
    params: Result<QueryParams<NextParam>, QueryRejection>,
) -> Response {
    let next = params
        .ok()
        .and_then(|QueryParams(params)| local_path(params.next.as_deref()));
    if reader.signed_in.is_some() {
        return see_other(next.as_deref().unwrap_or("/me"));
    }
    private(render(
        StatusCode::OK,
        &SignInPage {
            email: String::new(),
            next: next.unwrap_or_default(),
            error: None,
        },
    ))
}

/// `POST /signin`: sends a link.
pub(crate) async fn sign_in_submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let next = local_path(form.next.as_deref());
    let page = |error: String| SignInPage {
        email: form.email.clone(),
        next: next.clone().unwrap_or_default(),
        error: Some(error),
    };
    if let Err(seconds) = state.subscriptions.sign_in_clients.check(client) {
        return too_many(
            seconds,
            render(
                StatusCode::TOO_MANY_REQUESTS,
                &page(
                    "Too many sign-in requests from your network; please try again in an hour."
                        .into(),
                ),
            ),
        );
    }
    let email: EmailAddress = match form.email.parse() {
        Ok(email) => email,
        Err(error) => {
            let error: paperboy_core::EmailError = error;
            return render(
                StatusCode::BAD_REQUEST,
                &page(capitalise(&error.to_string())),
            );
        }
    };
    let subscriptions = &state.subscriptions;
    match request_sign_in(
        &*state.store,
        &subscriptions.mailer,
        email.clone(),
        next.as_deref(),
        Utc::now(),
    )
    .await
    {
        Ok(RequestOutcome::Queued) => {
            subscriptions.wake.notify_one();
            tracing::info!(to = %email.masked(), "sign-in link queued");
        }
        // Answered like any other request (see the subscription handlers).
        Ok(RequestOutcome::RateLimited) => {
            tracing::info!(to = %email.masked(), "sign-in link held back: too many lately");
        }
        Err(error) => return failure_page(error),
    }
    render(
        StatusCode::OK,
        &NoticePage {
            heading: "Check your inbox",
            message: CHECK_INBOX.to_owned(),
            link: Some(("/".to_owned(), "Back to the daily papers")),
        },
    )
}

fn dead_sign_in_link(status: StatusCode, message: &str) -> Response {
    private(render(
        status,
        &NoticePage {
            heading: "This sign-in link does not work",
            message: message.to_owned(),
            link: Some(("/signin".to_owned(), "Get a new link")),
        },
    ))
}

const INCOMPLETE_LINK: &str = "The sign-in link is incomplete: copy the whole link from the mail.";

/// `GET /signin/{token}`: a page with the button that signs in.
pub(crate) async fn sign_in_link_page(
    Path(token): Path<String>,
    params: Result<QueryParams<NextParam>, QueryRejection>,
) -> Response {
    if token.parse::<Token>().is_err() {
        return dead_sign_in_link(StatusCode::NOT_FOUND, INCOMPLETE_LINK);
    }
    let next = params
        .ok()
        .and_then(|QueryParams(params)| local_path(params.next.as_deref()));
    let mut action = format!("/signin/{token}");
    if let Some(next) = next {
        action.push_str("?next=");
        action.push_str(&paperboy_core::text::urlencode(&next));
    }
    private(render(StatusCode::OK, &SignInLinkPage { action }))
}

/// `POST /signin/{token}`: signs in with a new session.
pub(crate) async fn sign_in_complete(
    State(state): State<AppState>,
    Path(token): Path<String>,
    params: Result<QueryParams<NextParam>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(token) = token.parse::<Token>() else {
        return dead_sign_in_link(StatusCode::NOT_FOUND, INCOMPLETE_LINK);
    };
    let session = match Token::generate() {
        Ok(session) => session,
        Err(error) => return failure_page(error),
    };
    let now = Utc::now();
    let outcome = state
        .store
        .complete_sign_in(
            token.hash(),
            NewSession {
                token: session.hash(),
                now,
                expires_at: now + chrono::Duration::days(SESSION_DAYS),
            },
        )
        .await;
    match outcome {
        Ok(SignIn::SignedIn { user, new_user }) => {
            // The browser's earlier session, if any, ends: it gets the new one only.
            if let Some(old) = session_token(&headers)
                && let Err(error) = state.store.end_session(old.hash()).await
            {
                return failure_page(error);
            }
            tracing::info!(user = %user.id, new_user, "signed in");
            let next = params
                .ok()
                .and_then(|QueryParams(params)| local_path(params.next.as_deref()));
            let mut response = see_other(next.as_deref().unwrap_or("/me"));
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&state, Some(&session)));
            private(response)
        }
        Ok(SignIn::Expired) => dead_sign_in_link(
            StatusCode::GONE,
            "The sign-in link has expired (links work for 15 minutes). Ask for a new one.",
        ),
        Ok(SignIn::AlreadyUsed) => dead_sign_in_link(
            StatusCode::GONE,
            "This sign-in link was already used: each link works once. Ask for a new one.",
        ),
        Ok(SignIn::Unknown) => dead_sign_in_link(
            StatusCode::NOT_FOUND,
            "This sign-in link is not known here.",
        ),
        Ok(SignIn::Refused) => refused("This account was closed by the site's administrators."),
        Err(error) => failure_page(error),
    }
}

/// A form that only carries the session's token.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    form_token: String,
}

/// `POST /signout` and `POST /signout/everywhere`.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    reader: Reader,
    everywhere: bool,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Some(signed_in) = reader.signed_in else {
        return see_other("/");
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return stale_form();
    }
    let ended = if everywhere {
        state
            .store
            .end_all_sessions(signed_in.user.id)
            .await
            .map(|_| ())
    } else {
        state.store.end_session(signed_in.token.hash()).await
    };
    if let Err(error) = ended {
        return failure_page(error);
    }
    tracing::info!(user = %signed_in.user.id, everywhere, "signed out");
    let mut response = see_other("/");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, None));
    private(response)
}

pub(crate) async fn sign_out_here(
    state: State<AppState>,
    reader: Reader,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    sign_out(state, reader, false, form).await
}

pub(crate) async fn sign_out_everywhere(
    state: State<AppState>,
    reader: Reader,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    sign_out(state, reader, true, form).await
}

/// A vote or save: the state to set, and where to go back to without JavaScript.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MarkForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    value: String,
    next: Option<String>,
}

/// What a vote or save asks for: `true` or `false`; anything else is refused.
fn parse_flag(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "on" => Some(true),
        "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

/// Which mark a request sets.
#[derive(Debug, Clone, Copy)]
enum MarkKind {
    Upvote,
    Save,
}

async fn set_mark(
    state: &AppState,
    reader: Reader,
    key: &str,
    headers: &HeaderMap,
    form: Result<Form<MarkForm>, FormRejection>,
    kind: MarkKind,
) -> Response {
    let json = wants_json(headers);
    let answer = |status: StatusCode, message: &str| -> Response {
        if json {
            let error = match status {
                StatusCode::UNAUTHORIZED => ApiError::unauthorized(message),
                StatusCode::FORBIDDEN => ApiError::forbidden(message),
                StatusCode::NOT_FOUND => ApiError::not_found(message),
                _ => ApiError::bad_request(message),
            };
            error.into_response()
        } else if status == StatusCode::FORBIDDEN {
            stale_form()
        } else {
            private(render(
                status,
                &NoticePage {
                    heading: "That did not work",
                    message: format!("{}.", capitalise(message).trim_end_matches('.')),
                    link: Some(("/".to_owned(), "Back to the daily papers")),
                },
            ))
        }
    };
    let paper_path = format!("/papers/{}", paperboy_core::key_segment(key));
    let Some(signed_in) = reader.signed_in else {
        return if json {
            answer(StatusCode::UNAUTHORIZED, "sign in to upvote or save papers")
        } else {
            see_other(&sign_in_url(&paper_path))
        };
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return answer(
            StatusCode::FORBIDDEN,
            "the form's token does not match this session; reload the page",
        );
    }
    let Some(value) = parse_flag(&form.value) else {
        return answer(StatusCode::BAD_REQUEST, "value must be true or false");
    };
    let paper = match PaperKey::parse(key) {
        Ok(parsed) => paperboy_store::paper_by_key(&*state.store, &parsed).await,
        Err(_) => Ok(None),
    };
    let paper = match paper {
        Ok(Some(paper)) if !paper.hidden => paper,
        Ok(_) => {
            return answer(
                StatusCode::NOT_FOUND,
                &format!("there is no paper {key} here"),
            );
        }
        Err(error) => return failure_page(error),
    };
    let now = Utc::now();
    let user = signed_in.user.id;
    let body = match kind {
        MarkKind::Upvote => match state.store.set_vote(user, paper.id, value, now).await {
            Ok(Some(outcome)) => json!({
                "upvoted": outcome.upvoted,
                "upvotes": paper.record.external_upvotes.saturating_add(outcome.local_upvotes),
            }),
            Ok(None) => {
                return answer(
                    StatusCode::NOT_FOUND,
                    &format!("there is no paper {key} here"),
                );
            }
            Err(error) => return failure_page(error),
        },
        MarkKind::Save => match state.store.set_saved(user, paper.id, value, now).await {
            Ok(true) => json!({ "saved": value }),
            Ok(false) => {
                return answer(
                    StatusCode::NOT_FOUND,
                    &format!("there is no paper {key} here"),
                );
            }
            Err(error) => return failure_page(error),
        },
    };
    if json {
        private(Json(body).into_response())
    } else {
        see_other(&local_path(form.next.as_deref()).unwrap_or(paper_path))
    }
}

/// `POST /papers/{key}/upvote`: `value=true` upvotes, `value=false` takes the vote back.
pub(crate) async fn upvote(
    State(state): State<AppState>,
    reader: Reader,
    Path(key): Path<String>,
    headers: HeaderMap,
    form: Result<Form<MarkForm>, FormRejection>,
) -> Response {
    set_mark(&state, reader, &key, &headers, form, MarkKind::Upvote).await
}

/// `POST /papers/{key}/save`: `value=true` puts the paper on the reading list.
pub(crate) async fn save(
    State(state): State<AppState>,
    reader: Reader,
    Path(key): Path<String>,
    headers: HeaderMap,
    form: Result<Form<MarkForm>, FormRejection>,
) -> Response {
    set_mark(&state, reader, &key, &headers, form, MarkKind::Save).await
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    email: String,
    reader: ReaderView,
    for_you: Vec<Card>,
    saved: Vec<Card>,
    upvoted: Vec<Card>,
    digest_state: &'static str,
    subscribed: bool,
    topics: String,
    categories: String,
    weekly: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MeParams {
    digest: Option<String>,
}

/// The papers of marks, in their order, hidden ones left out.
async fn marked_papers(
    state: &AppState,
    marked: Vec<paperboy_store::account::Marked>,
) -> Result<Vec<Paper>, paperboy_store::StoreError> {
    let ids: Vec<_> = marked.iter().map(|mark| mark.paper).collect();
    Ok(state
        .store
        .papers(&ids)
        .await?
        .into_iter()
        .filter(|paper| !paper.hidden)
        .collect())
}

/// `GET /me`: the reader's papers, recommendations and digest.
pub(crate) async fn me(
    State(state): State<AppState>,
    reader: Reader,
    params: Result<QueryParams<MeParams>, QueryRejection>,
) -> Response {
    let Some(signed_in) = &reader.signed_in else {
        return see_other(&sign_in_url("/me"));
    };
    let notice = match params.ok().and_then(|QueryParams(params)| params.digest) {
        Some(done) if done == "saved" => Some("Saved: the next digest uses these settings."),
        Some(done) if done == "stopped" => Some("Unsubscribed: no more digests will be sent."),
        _ => None,
    };
    match me_page(&state, &reader, signed_in, notice.map(str::to_owned), None).await {
        Ok(page) => private(render(StatusCode::OK, &page)),
        Err(response) => response,
    }
}

async fn me_page(
    state: &AppState,
    reader: &Reader,
    signed_in: &SignedIn,
    notice: Option<String>,
    error: Option<(String, PreferencesForm)>,
) -> Result<MePage, Response> {
    let user = &signed_in.user;
    let store = &*state.store;
    let saved = store.saved_papers(user.id).await.map_err(failure_page)?;
    let voted = store.voted_papers(user.id).await.map_err(failure_page)?;
    let for_you = crate::for_you::recommend(state, &saved, &voted)
        .await
        .map_err(failure_page)?;
    let cards = |papers: Vec<Paper>| -> Vec<Card> {
        papers.iter().map(|paper| Card::new(paper, None)).collect()
    };
    let mut saved = cards(marked_papers(state, saved).await.map_err(failure_page)?);
    let mut upvoted = cards(marked_papers(state, voted).await.map_err(failure_page)?);
    let mut for_you = cards(for_you);
    for list in [&mut saved, &mut upvoted, &mut for_you] {
        mark_cards(state, reader, list)
            .await
            .map_err(failure_page)?;
    }
    let subscriber = store
        .subscriber_by_email(&user.email)
        .await
        .map_err(failure_page)?;
    let subscribed = subscriber
        .as_ref()
        .is_some_and(|subscriber| subscriber.state == SubscriberState::Confirmed);
    let digest_state = digest_state(subscriber.as_ref());
    let preferences = subscriber.map(|subscriber| subscriber.preferences);
    let (topics, categories, weekly) = match (&error, &preferences) {
        (Some((_, form)), _) => (
            form.topics.clone(),
            form.categories.clone(),
            form.frequency.as_deref() == Some("weekly"),
        ),
        (None, Some(preferences)) => (
            preferences.topics().join("\n"),
            preferences.categories().join(", "),
            preferences.frequency() == Frequency::Weekly,
        ),
        (None, None) => (String::new(), String::new(), false),
    };
    Ok(MePage {
        email: user.email.as_str().to_owned(),
        reader: reader.view(),
        for_you,
        saved,
        upvoted,
        digest_state,
        subscribed,
        topics,
        categories,
        weekly,
        notice,
        error: error.map(|(message, _)| message),
    })
}

fn digest_state(subscriber: Option<&Subscriber>) -> &'static str {
    match subscriber.map(|subscriber| subscriber.state) {
        None => "You do not get the digest yet.",
        Some(SubscriberState::Pending) => {
            "A confirmation link was sent; saving here subscribes you at once."
        }
        Some(SubscriberState::Confirmed) => "You get the digest.",
        Some(SubscriberState::Unsubscribed) => "You unsubscribed from the digest.",
        Some(SubscriberState::Bounced) => {
            "The digest is paused: your mail server refused it several times. Saving here starts it again."
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DigestForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    preferences: PreferencesForm,
}

/// `POST /me/digest`: subscribes, saves the digest's settings or unsubscribes. A signed-in
/// reader has shown they read the address's mail, so no confirmation mail is needed.
pub(crate) async fn me_digest(
    State(state): State<AppState>,
    reader: Reader,
    form: Result<Form<DigestForm>, FormRejection>,
) -> Response {
    let Some(signed_in) = &reader.signed_in else {
        return see_other(&sign_in_url("/me"));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return stale_form();
    }
    let email = &signed_in.user.email;
    if form.action == "unsubscribe" {
        let subscriber = match state.store.subscriber_by_email(email).await {
            Ok(subscriber) => subscriber,
            Err(error) => return failure_page(error),
        };
        if let Some(subscriber) = subscriber
            && let Err(error) = state.store.unsubscribe(subscriber.id).await
        {
            return failure_page(error);
        }
        return see_other("/me?digest=stopped#digest");
    }
    let preferences: Result<Preferences, String> = form.preferences.preferences();
    match preferences {
        Ok(preferences) => {
            match state
                .store
                .subscribe_confirmed(email, &preferences, Utc::now())
                .await
            {
                Ok(_) => see_other("/me?digest=saved#digest"),
                Err(error) => failure_page(error),
            }
        }
        Err(message) => {
            match me_page(
                &state,
                &reader,
                signed_in,
                None,
                Some((capitalise(&message), form.preferences)),
            )
            .await
            {
                Ok(page) => private(render(StatusCode::BAD_REQUEST, &page)),
                Err(response) => response,
            }
        }
    }
}

/// `GET /me/saved.bib` and `GET /me/saved.jsonl`: the reading list as a file.
async fn export(state: &AppState, reader: &Reader, bibtex_format: bool) -> Response {
    let Some(signed_in) = &reader.signed_in else {
        return see_other(&sign_in_url("/me"));
    };
    let saved = match state.store.saved_papers(signed_in.user.id).await {
        Ok(saved) => saved,
        Err(error) => return failure_page(error),
    };
    let papers = match marked_papers(state, saved).await {
        Ok(papers) => papers,
        Err(error) => return failure_page(error),
    };
    let (body, content_type, name) = if bibtex_format {
        let entries: Vec<String> = papers.iter().map(bibtex).collect();
        (
            entries.join("\n").into_bytes(),
            "application/x-bibtex; charset=utf-8",
            "paperboy-reading-list.bib",
        )
    } else {
        let mut lines = Vec::new();
        for paper in &papers {
            if let Err(error) = paperboy_ingest::export::write_record(&mut lines, &paper.record) {
                return failure_page(error);
            }
        }
        (
            lines,
            "application/x-ndjson; charset=utf-8",
            "paperboy-reading-list.jsonl",
        )
    };
    private(
        (
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            body,
        )
            .into_response(),
    )
}

pub(crate) async fn export_bibtex(State(state): State<AppState>, reader: Reader) -> Response {
    export(&state, &reader, true).await
}

pub(crate) async fn export_jsonl(State(state): State<AppState>, reader: Reader) -> Response {
    export(&state, &reader, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(local_path(Some("/me")), Some("/me".to_owned()));
        assert_eq!(
            local_path(Some("/papers/2601.00001?x=1")),
            Some("/papers/2601.00001?x=1".to_owned())
        );
        for outside in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/me\r\nSet-Cookie: x",
            "",
        ] {
            assert_eq!(local_path(Some(outside)), None, "{outside:?}");
        }
        assert_eq!(local_path(None), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let token = Token::generate().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!(
                "theme=dark; {SESSION_COOKIE}={}; other=1",
                token.as_str()
            ))
            .unwrap(),
        );
        assert_eq!(session_token(&headers), Some(token));
        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_static("paperboy_session=short"),
        );
        assert_eq!(session_token(&forged), None);
    }

    #[test]
    fn flags_are_explicit() {
        assert_eq!(parse_flag("true"), Some(true));
        assert_eq!(parse_flag("false"), Some(false));
        assert_eq!(parse_flag("toggle"), None);
        assert_eq!(parse_flag(""), None);
    }
}
