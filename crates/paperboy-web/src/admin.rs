//! Administration: an admin hides a paper (from every list, search and digest) or a user
//! (signed out, kept from signing in, their votes no longer counted), and shows them again.
//! Admins are made on the command line (`paperboy users add --admin EMAIL`).

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_digest::sign_in::request_sign_in;
use paperboy_store::account::User;
use paperboy_store::harvest::HarvestState;
use paperboy_store::mail::RequestOutcome;
use serde::Deserialize;

use crate::error::{PageError, PageResult};
use crate::lists::visible_paper;
use crate::params::form_flag;
use crate::reader::{Reader, ReaderView, SignedIn, sign_in_url};
use crate::respond::{NoticePage, no_store, render, see_other};
use crate::state::AppState;
use crate::view::Card;

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    reader: ReaderView,
    papers: Vec<Card>,
    users: Vec<(String, String)>,
    harvests: Vec<HarvestRow>,
    error: Option<String>,
}

/// A harvested source as the admin page shows it.
#[derive(Debug)]
struct HarvestRow {
    source: String,
    cursor: String,
    last_run: String,
    last_success: String,
    runs: u64,
    failures: u64,
    records: u64,
    in_flight: bool,
    last_error: Option<String>,
}

impl HarvestRow {
    fn new(state: &HarvestState) -> Self {
        let time = |at: Option<chrono::DateTime<Utc>>| {
            at.map_or_else(
                || "never".to_owned(),
                |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
        };
        HarvestRow {
            source: state.source.clone(),
            cursor: state.cursor.clone().unwrap_or_else(|| "–".to_owned()),
            last_run: time(state.last_run_at),
            last_success: time(state.last_success_at),
            runs: state.runs,
            failures: state.failures,
            records: state.records,
            in_flight: state.pending.is_some(),
            last_error: state.last_error.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HideForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    email: String,
}

/// The answer to anyone but an admin.
fn not_admin(reader: &Reader) -> Response {
    if reader.signed_in.is_none() {
        return see_other(&sign_in_url("/admin"));
    }
    no_store(render(
        StatusCode::FORBIDDEN,
        &NoticePage {
            heading: "For administrators only",
            message: "This page is for the site's administrators.".to_owned(),
            link: Some(("/me".to_owned(), "Your papers")),
        },
    ))
}

/// An admin's form, checked: the reader is an admin, the form's token matches their session
/// and its value is `true` or `false` (returned as `hidden`). `Err` is the answer refusing it.
// The error is the handler's whole answer, returned at once: its size costs nothing.
#[allow(clippy::result_large_err)]
fn checked_form(
    reader: &Reader,
    form: Result<Form<HideForm>, FormRejection>,
) -> Result<(&SignedIn, HideForm, bool), Response> {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let signed_in = checked_admin(reader, &form.form_token)?;
    let Some(hidden) = form_flag(&form.value) else {
        return Err(refused_form());
    };
    Ok((signed_in, form, hidden))
}

/// The admin who sent a form carrying `form_token`, or the answer refusing the form.
#[allow(clippy::result_large_err)]
fn checked_admin<'a>(reader: &'a Reader, form_token: &str) -> Result<&'a SignedIn, Response> {
    let signed_in = reader.admin().ok_or_else(|| not_admin(reader))?;
    if !signed_in.accepts(form_token) {
        return Err(refused_form());
    }
    Ok(signed_in)
}

fn refused_form() -> Response {
    no_store(render(
        StatusCode::FORBIDDEN,
        &NoticePage {
            heading: "Not done",
            message: "The form did not come from this session's page, or asked for nothing. Reload the page and try again.".to_owned(),
            link: Some(("/admin".to_owned(), "Administration")),
        },
    ))
}

async fn admin_page(state: &AppState, reader: &Reader, error: Option<String>) -> PageResult {
    let ids = state.store.hidden_paper_ids().await?;
    let papers = state.store.papers(&ids).await?;
    let users = state.store.users(true).await?;
    let harvests = state.store.harvest_states().await?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(no_store(render(
        status,
        &AdminPage {
            reader: reader.view(),
            papers: papers.iter().map(|paper| Card::new(paper, None)).collect(),
            users: users
                .iter()
                .map(|user: &User| (user.email.as_str().to_owned(), user.email.masked()))
                .collect(),
            harvests: harvests.iter().map(HarvestRow::new).collect(),
            error,
        },
    )))
}

/// `GET /admin`: what is hidden, and the form to hide a user.
pub(crate) async fn page(State(state): State<AppState>, reader: Reader) -> PageResult {
    if reader.admin().is_none() {
        return Ok(not_admin(&reader));
    }
    admin_page(&state, &reader, None).await
}

/// `POST /admin/papers/{key}/hidden`: `value=true` hides the paper, `false` shows it again.
pub(crate) async fn hide_paper(
    State(state): State<AppState>,
    reader: Reader,
    Path(key): Path<String>,
    form: Result<Form<HideForm>, FormRejection>,
) -> PageResult {
    let (signed_in, _, hidden) = match checked_form(&reader, form) {
        Ok(checked) => checked,
        Err(refused) => return Ok(refused),
    };
    let paper = visible_paper(&*state.store, &key, true)
        .await?
        .ok_or_else(|| PageError::no_paper(&key))?;
    state
        .store
        .set_paper_hidden(paper.id, hidden, Utc::now())
        .await?;
    tracing::info!(paper = %paper.id, hidden, admin = %signed_in.user.id, "paper visibility changed");
    Ok(see_other(&format!(
        "/papers/{}",
        paperboy_core::key_segment(&key)
    )))
}

/// `POST /admin/users/hidden`: `value=true` hides the user with `email`, `false` shows them.
pub(crate) async fn hide_user(
    State(state): State<AppState>,
    reader: Reader,
    form: Result<Form<HideForm>, FormRejection>,
) -> PageResult {
    let (signed_in, form, hidden) = match checked_form(&reader, form) {
        Ok(checked) => checked,
        Err(refused) => return Ok(refused),
    };
    let Ok(email) = form.email.parse::<EmailAddress>() else {
        return admin_page(
            &state,
            &reader,
            Some("That is not an email address.".into()),
        )
        .await;
    };
    let Some(user) = state.store.user_by_email(&email).await? else {
        return admin_page(&state, &reader, Some("No user has that address.".into())).await;
    };
    if user.id == signed_in.user.id {
        return admin_page(&state, &reader, Some("You cannot hide yourself.".into())).await;
    }
    state
        .store
        .set_user_hidden(user.id, hidden, Utc::now())
        .await?;
    tracing::info!(user = %user.id, hidden, admin = %signed_in.user.id, "user visibility changed");
    Ok(see_other("/admin"))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    email: String,
}

/// `POST /admin/invitations`: makes an account for `email` (what lets an address in on an
/// invite-only site or from outside the allowed domains, see [`crate::access`]) and mails it a
/// sign-in link.
pub(crate) async fn invite(
    State(state): State<AppState>,
    reader: Reader,
    form: Result<Form<InviteForm>, FormRejection>,
) -> PageResult {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let signed_in = match checked_admin(&reader, &form.form_token) {
        Ok(signed_in) => signed_in,
        Err(refused) => return Ok(refused),
    };
    let Ok(email) = form.email.parse::<EmailAddress>() else {
        return admin_page(
            &state,
            &reader,
            Some("That is not an email address.".into()),
        )
        .await;
    };
    let now = Utc::now();
    let user = state.store.add_user(&email, false, now).await?;
    if user.hidden {
        return admin_page(
            &state,
            &reader,
            Some("That user is hidden: show them again first.".into()),
        )
        .await;
    }
    let subscriptions = &state.subscriptions;
    let outcome = request_sign_in(
        &*state.store,
        &subscriptions.mailer,
        email.clone(),
        None,
        now,
    )
    .await
    .map_err(PageError::internal)?;
    let message = match outcome {
        RequestOutcome::Queued => {
            subscriptions.wake.notify_one();
            format!(
                "{} can sign in now, and a sign-in link is on its way to them. It works once, \
                 for 15 minutes; after that they can ask for another at /signin.",
                email.masked()
            )
        }
        RequestOutcome::RateLimited => format!(
            "{} can sign in now. No link was sent: they were sent one moments ago, or several \
             today. They can ask for one at /signin.",
            email.masked()
        ),
    };
    tracing::info!(to = %email.masked(), admin = %signed_in.user.id, "invited");
    Ok(no_store(render(
        StatusCode::OK,
        &NoticePage {
            heading: "Invited",
            message,
            link: Some(("/admin".to_owned(), "Administration")),
        },
    )))
}
