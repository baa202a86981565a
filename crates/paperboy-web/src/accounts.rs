//! Readers' accounts: signing in by a link sent by mail, sessions, upvotes, the reading list
//! and `/me`.
//!
//! - **Sign-in links** work once, for 15 minutes. Like confirmation links they open a page
//!   with a button rather than signing in on `GET`, since mail scanners fetch links.
//! - **Sessions** (see [`crate::reader`]): every sign-in makes a new one and ends the session
//!   the browser had (no fixation).
//! - **Forms** of a signed-in reader carry the session's form token, so a page elsewhere
//!   cannot vote, save or sign out in the reader's name. The same-origin check
//!   ([`crate::middleware::same_origin_writes`]) guards every write as well.
//! - **Votes and saves** are set, not toggled, by each request (`upvoted=true|false`): a
//!   replayed request changes nothing, and a user's vote is one row, so it counts once. The
//!   forms work without JavaScript; `app.js` sends them in the background and updates the
//!   button when it can. Scripts vote and save through the API with a read-write access
//!   token (see [`crate::tokens`]).

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query as QueryParams, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use paperboy_core::account::UserId;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::Token;
use paperboy_core::{EmailAddress, Paper};
use paperboy_digest::sign_in::request_sign_in;
use paperboy_store::StoreError;
use paperboy_store::account::{Marked, NewSession, SignIn};
use paperboy_store::mail::{RequestOutcome, Subscriber, SubscriberState};
use serde::Deserialize;
use serde_json::json;

use crate::client::ClientAddress;
use crate::error::{ApiError, ErrorCode, PageError, PageResult, retry_after};
use crate::lists::visible_paper;
use crate::params::{PreferencesForm, form_flag};
use crate::reader::{
    Credential, Reader, ReaderView, SESSION_DAYS, SignedIn, TokenForm, session_cookie,
    session_token, sign_in_url, stale_form,
};
use crate::respond::{NoticePage, local_path, no_store, render, see_other, sentence};
use crate::state::AppState;
use crate::view::{Card, bibtex};
use paperboy_digest::membership::{Admission, Membership};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    email: String,
    next: String,
    error: Option<String>,
    /// Who the site is for, when not for anyone (see [`AccessPolicy::sign_in_notice`]).
    notice: Option<String>,
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
const CHECK_INBOX_INVITED: &str = "If the address has been invited and can receive mail, a \
     sign-in link is on its way to it. It works once, for 15 minutes. This site is by \
     invitation: its administrators can invite you.";

/// `GET /signin`: the form.
pub(crate) async fn sign_in_form(
    State(state): State<AppState>,
    reader: Reader,
    params: Result<QueryParams<NextParam>, QueryRejection>,
) -> Response {
    let next = params
        .ok()
        .and_then(|QueryParams(params)| local_path(params.next.as_deref()));
    if reader.signed_in.is_some() {
        return see_other(next.as_deref().unwrap_or("/me"));
    }
    no_store(render(
        StatusCode::OK,
        &SignInPage {
            email: String::new(),
            next: next.unwrap_or_default(),
            error: None,
            notice: state.access_policy.sign_in_notice(),
        },
    ))
}

/// `POST /signin`: sends a link.
pub(crate) async fn sign_in_submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    form: Result<Form<SignInForm>, FormRejection>,
) -> PageResult {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let next = local_path(form.next.as_deref());
    let page = |error: String| SignInPage {
        email: form.email.clone(),
        next: next.clone().unwrap_or_default(),
        error: Some(error),
        notice: state.access_policy.sign_in_notice(),
    };
    if let Err(seconds) = state
        .subscriptions
        .sign_in_clients
        .check(&*state.store, client)
        .await?
    {
        return Ok(retry_after(
            seconds,
            render(
                StatusCode::TOO_MANY_REQUESTS,
                &page(
                    "Too many sign-in requests from your network; please try again in an hour."
                        .into(),
                ),
            ),
        ));
    }
    let email: EmailAddress = match form.email.parse() {
        Ok(email) => email,
        Err(error) => {
            let error: paperboy_core::EmailError = error;
            return Ok(render(
                StatusCode::BAD_REQUEST,
                &page(sentence(&error.to_string())),
            ));
        }
    };
    let membership = &state.access_policy.membership;
    match membership.admits(&*state.store, &email).await? {
        Admission::Admitted => {}
        Admission::OutsideDomains => {
            tracing::info!(to = %email.masked(), "sign-in refused: outside the allowed domains");
            return Ok(render(
                StatusCode::FORBIDDEN,
                &page(membership.outside_domains_message()),
            ));
        }
        Admission::NotInvited => {
            tracing::info!(to = %email.masked(), "sign-in refused: not invited");
            return Ok(check_inbox(membership));
        }
    }
    let subscriptions = &state.subscriptions;
    let outcome = request_sign_in(
        &*state.store,
        &subscriptions.mailer,
        email.clone(),
        next.as_deref(),
        Utc::now(),
    )
    .await
    .map_err(PageError::internal)?;
    match outcome {
        RequestOutcome::Queued => {
            subscriptions.wake.notify_one();
            tracing::info!(to = %email.masked(), "sign-in link queued");
        }
        // Answered like any other request (see the subscription handlers).
        RequestOutcome::RateLimited => {
            tracing::info!(to = %email.masked(), "sign-in link held back: too many lately");
        }
    }
    Ok(check_inbox(membership))
}

/// The answer to every sign-in request that was not refused: on an invite-only site, the
/// same whether the address was invited or not.
fn check_inbox(membership: &Membership) -> Response {
    let message = if membership.invite_only() {
        CHECK_INBOX_INVITED
    } else {
        CHECK_INBOX
    };
    render(
        StatusCode::OK,
        &NoticePage {
            heading: "Check your inbox",
            message: message.to_owned(),
            link: Some(("/".to_owned(), "Back to the daily papers")),
        },
    )
}

fn dead_sign_in_link(status: StatusCode, message: &str) -> Response {
    no_store(render(
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
    no_store(render(StatusCode::OK, &SignInLinkPage { action }))
}

/// `POST /signin/{token}`: signs in with a new session.
pub(crate) async fn sign_in_complete(
    State(state): State<AppState>,
    Path(token): Path<String>,
    params: Result<QueryParams<NextParam>, QueryRejection>,
    headers: HeaderMap,
) -> PageResult {
    let Ok(token) = token.parse::<Token>() else {
        return Ok(dead_sign_in_link(StatusCode::NOT_FOUND, INCOMPLETE_LINK));
    };
    let session = Token::generate().map_err(PageError::internal)?;
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
        .await?;
    Ok(match outcome {
        SignIn::SignedIn { user, new_user } => {
            // The browser's earlier session, if any, ends: it gets the new one only.
            if let Some(old) = session_token(&headers) {
                state.store.end_session(old.hash()).await?;
            }
            tracing::info!(user = %user.id, new_user, "signed in");
            let next = params
                .ok()
                .and_then(|QueryParams(params)| local_path(params.next.as_deref()));
            let mut response = see_other(next.as_deref().unwrap_or("/me"));
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&state, Some(&session)));
            no_store(response)
        }
        SignIn::Expired => dead_sign_in_link(
            StatusCode::GONE,
            "The sign-in link has expired (links work for 15 minutes). Ask for a new one.",
        ),
        SignIn::AlreadyUsed => dead_sign_in_link(
            StatusCode::GONE,
            "This sign-in link was already used: each link works once. Ask for a new one.",
        ),
        SignIn::Unknown => dead_sign_in_link(
            StatusCode::NOT_FOUND,
            "This sign-in link is not known here.",
        ),
        SignIn::Refused => {
            return Err(PageError::Forbidden(
                "This account was closed by the site's administrators.".to_owned(),
            ));
        }
    })
}

/// `POST /signout` and `POST /signout/everywhere`.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    reader: Reader,
    everywhere: bool,
    form: Result<Form<TokenForm>, FormRejection>,
) -> PageResult {
    let Some(signed_in) = reader.signed_in else {
        return Ok(see_other("/"));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    if everywhere {
        state.store.end_all_sessions(signed_in.user.id).await?;
    } else if let Some(session) = signed_in.session() {
        state.store.end_session(session.hash()).await?;
    }
    tracing::info!(user = %signed_in.user.id, everywhere, "signed out");
    let mut response = see_other("/");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, None));
    Ok(no_store(response))
}

pub(crate) async fn sign_out_here(
    state: State<AppState>,
    reader: Reader,
    form: Result<Form<TokenForm>, FormRejection>,
) -> PageResult {
    sign_out(state, reader, false, form).await
}

pub(crate) async fn sign_out_everywhere(
    state: State<AppState>,
    reader: Reader,
    form: Result<Form<TokenForm>, FormRejection>,
) -> PageResult {
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
    let paper_path = format!("/papers/{}", paperboy_core::key_segment(key));
    let Some(signed_in) = reader.signed_in else {
        return if json {
            ApiError::new(ErrorCode::Unauthorized, "sign in to upvote or save papers")
                .into_response()
        } else {
            see_other(&sign_in_url(&paper_path))
        };
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    match mark_from_form(state, &signed_in, key, &form, kind).await {
        Ok(body) if json => no_store(Json(body).into_response()),
        Ok(_) => see_other(&local_path(form.next.as_deref()).unwrap_or(paper_path)),
        Err(error) if json => error.into_response(),
        Err(error) => match error.code() {
            ErrorCode::Forbidden => stale_form().into_response(),
            ErrorCode::Internal => PageError::Internal.into_response(),
            code => no_store(render(
                code.status(),
                &NoticePage {
                    heading: "That did not work",
                    message: format!("{}.", sentence(error.message()).trim_end_matches('.')),
                    link: Some(("/".to_owned(), "Back to the daily papers")),
                },
            )),
        },
    }
}

/// Checks a mark's form and sets the mark it asks for.
async fn mark_from_form(
    state: &AppState,
    signed_in: &SignedIn,
    key: &str,
    form: &MarkForm,
    kind: MarkKind,
) -> Result<serde_json::Value, ApiError> {
    if !signed_in.accepts(&form.form_token) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the form's token does not match this session; reload the page",
        ));
    }
    let value = form_flag(&form.value)
        .ok_or_else(|| ApiError::bad_request("value must be true or false"))?;
    mark(state, signed_in.user.id, key, value, kind).await
}

/// Sets or takes back a reader's mark on the paper `key` names; the answer is its new state.
async fn mark(
    state: &AppState,
    user: UserId,
    key: &str,
    value: bool,
    kind: MarkKind,
) -> Result<serde_json::Value, ApiError> {
    let missing = || ApiError::not_found(format!("there is no paper {key} here"));
    let paper = visible_paper(&*state.store, key, false)
        .await?
        .ok_or_else(missing)?;
    let now = Utc::now();
    match kind {
        MarkKind::Upvote => {
            let outcome = state
                .store
                .set_vote(user, paper.id, value, now)
                .await?
                .ok_or_else(missing)?;
            Ok(json!({
                "upvoted": outcome.upvoted,
                "upvotes": paper.record.external_upvotes.saturating_add(outcome.local_upvotes),
            }))
        }
        MarkKind::Save => {
            if !state.store.set_saved(user, paper.id, value, now).await? {
                return Err(missing());
            }
            Ok(json!({ "saved": value }))
        }
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

/// `PUT` (mark) or `DELETE` (take back) `/api/papers/{key}/upvote` and `…/saved`: a
/// script's vote or save, made with a read-write access token (the wall has checked its
/// scope). A browser's cookie is not enough here: its forms carry their own token instead.
async fn api_mark(
    state: &AppState,
    reader: Reader,
    method: &Method,
    key: &str,
    kind: MarkKind,
) -> Response {
    let Some(SignedIn {
        user,
        credential: Credential::AccessToken,
    }) = reader.signed_in
    else {
        return ApiError::new(
            ErrorCode::Unauthorized,
            "send a read-write access token (Authorization: Bearer …); make one on your page at /me",
        )
        .into_response();
    };
    match mark(state, user.id, key, *method == Method::PUT, kind).await {
        Ok(body) => no_store(Json(body).into_response()),
        Err(error) => error.into_response(),
    }
}

pub(crate) async fn api_upvote(
    State(state): State<AppState>,
    reader: Reader,
    method: Method,
    Path(key): Path<String>,
) -> Response {
    api_mark(&state, reader, &method, &key, MarkKind::Upvote).await
}

pub(crate) async fn api_save(
    State(state): State<AppState>,
    reader: Reader,
    method: Method,
    Path(key): Path<String>,
) -> Response {
    api_mark(&state, reader, &method, &key, MarkKind::Save).await
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
    tokens: Vec<crate::tokens::TokenRow>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MeParams {
    digest: Option<String>,
}

/// The papers of marks, in their order, hidden ones left out.
async fn marked_papers(state: &AppState, marked: Vec<Marked>) -> Result<Vec<Paper>, StoreError> {
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
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(see_other(&sign_in_url("/me")));
    };
    let notice = match params.ok().and_then(|QueryParams(params)| params.digest) {
        Some(done) if done == "saved" => Some("Saved: the next digest uses these settings."),
        Some(done) if done == "stopped" => Some("Unsubscribed: no more digests will be sent."),
        _ => None,
    };
    let page = me_page(&state, &reader, signed_in, notice.map(str::to_owned), None).await?;
    Ok(no_store(render(StatusCode::OK, &page)))
}

async fn me_page(
    state: &AppState,
    reader: &Reader,
    signed_in: &SignedIn,
    notice: Option<String>,
    error: Option<(String, PreferencesForm)>,
) -> Result<MePage, PageError> {
    let user = &signed_in.user;
    let store = &*state.store;
    let saved = store.saved_papers(user.id).await?;
    let voted = store.voted_papers(user.id).await?;
    let for_you = crate::for_you::recommend(state, &saved, &voted).await?;
    let cards = |papers: Vec<Paper>| -> Vec<Card> {
        papers.iter().map(|paper| Card::new(paper, None)).collect()
    };
    let mut saved = cards(marked_papers(state, saved).await?);
    let mut upvoted = cards(marked_papers(state, voted).await?);
    let mut for_you = cards(for_you);
    for list in [&mut saved, &mut upvoted, &mut for_you] {
        reader.mark(state, list).await?;
    }
    let subscriber = store.subscriber_by_email(&user.email).await?;
    let subscribed = subscriber
        .as_ref()
        .is_some_and(|subscriber| subscriber.state == SubscriberState::Confirmed);
    let digest_state = digest_state(subscriber.as_ref());
    let preferences = subscriber.map(|subscriber| subscriber.preferences);
    let (topics, categories, weekly) = match (&error, &preferences) {
        (Some((_, form)), _) => (form.topics.clone(), form.categories.clone(), form.weekly()),
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
        tokens: crate::tokens::rows(state, signed_in).await?,
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
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(see_other(&sign_in_url("/me")));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    let email = &signed_in.user.email;
    if form.action == "unsubscribe" {
        if let Some(subscriber) = state.store.subscriber_by_email(email).await? {
            state.store.unsubscribe(subscriber.id).await?;
        }
        return Ok(see_other("/me?digest=stopped#digest"));
    }
    let preferences: Result<Preferences, String> = form.preferences.preferences();
    match preferences {
        Ok(preferences) => {
            state
                .store
                .subscribe_confirmed(email, &preferences, Utc::now())
                .await?;
            Ok(see_other("/me?digest=saved#digest"))
        }
        Err(message) => {
            let error = Some((sentence(&message), form.preferences));
            let page = me_page(&state, &reader, signed_in, None, error).await?;
            Ok(no_store(render(StatusCode::BAD_REQUEST, &page)))
        }
    }
}

/// `GET /me/saved.bib` and `GET /me/saved.jsonl`: the reading list as a file.
async fn export(state: &AppState, reader: &Reader, bibtex_format: bool) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(see_other(&sign_in_url("/me")));
    };
    let saved = state.store.saved_papers(signed_in.user.id).await?;
    let papers = marked_papers(state, saved).await?;
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
            paperboy_ingest::export::write_record(&mut lines, &paper.record)
                .map_err(PageError::internal)?;
        }
        (
            lines,
            "application/x-ndjson; charset=utf-8",
            "paperboy-reading-list.jsonl",
        )
    };
    Ok(no_store(
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
    ))
}

pub(crate) async fn export_bibtex(State(state): State<AppState>, reader: Reader) -> PageResult {
    export(&state, &reader, true).await
}

pub(crate) async fn export_jsonl(State(state): State<AppState>, reader: Reader) -> PageResult {
    export(&state, &reader, false).await
}
