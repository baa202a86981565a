//! Subscribing to the digest, confirming, changing topics and leaving, as pages and as
//! `POST /api/subscriptions`.
//!
//! - Every answer to a subscription request is the same ("check your inbox"), whatever the
//!   address's state, so the form cannot be used to learn who is subscribed.
//! - Confirmation links open a page with a button rather than confirming on `GET`: mail
//!   scanners fetch links, and an address must not be subscribed by its own spam filter.
//! - The manage link of every digest is also its RFC 8058 one-click unsubscribe URL: a `POST`
//!   to it unsubscribes, from a mail client without a browser, so it is the one write that the
//!   same-origin check (see [`crate::middleware::same_origin_writes`]) leaves alone; its token
//!   is its authority.
//! - Requests are limited per client address here and per mailbox in the store.

use std::net::IpAddr;

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::Token;
use paperboy_digest::subscribe::subscribe;
use paperboy_store::mail::{Confirmation, RequestOutcome, Subscriber, SubscriberState};
use serde::Deserialize;
use serde_json::json;

use crate::client::ClientAddress;
use crate::error::{ApiError, ErrorCode, PageError, PageResult, retry_after};
use crate::params::{PreferencesForm, frequency_param};
use crate::respond::{NoticePage, no_store, render, sentence};
use crate::state::AppState;
use paperboy_digest::membership::Admission;

#[derive(Template)]
#[template(path = "subscribe.html")]
struct SubscribePage {
    email: String,
    topics: String,
    categories: String,
    weekly: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    action: String,
}

#[derive(Template)]
#[template(path = "subscription.html")]
struct ManagePage {
    action: String,
    masked_email: String,
    state: &'static str,
    topics: String,
    categories: String,
    weekly: bool,
    saved: bool,
    error: Option<String>,
}

impl ManagePage {
    fn new(subscriber: &Subscriber, action: String) -> Self {
        let preferences = &subscriber.preferences;
        ManagePage {
            action,
            masked_email: subscriber.email.masked(),
            state: match subscriber.state {
                SubscriberState::Pending => "waiting for confirmation",
                SubscriberState::Confirmed => "subscribed",
                SubscriberState::Unsubscribed => "unsubscribed",
                SubscriberState::Bounced => {
                    "paused: the mail server refused this address several times"
                }
            },
            topics: preferences.topics().join("\n"),
            categories: preferences.categories().join(", "),
            weekly: preferences.frequency() == Frequency::Weekly,
            saved: false,
            error: None,
        }
    }
}

/// The full subscription form again, with what the reader wrote and why it was not taken.
fn subscribe_page(form: &PreferencesForm, error: String) -> SubscribePage {
    SubscribePage {
        email: form.email.clone(),
        topics: form.topics.clone(),
        categories: form.categories.clone(),
        weekly: form.weekly(),
        error: Some(error),
    }
}

/// `POST /api/subscriptions`' body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeRequest {
    email: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    frequency: Option<String>,
}

/// The one answer to every accepted subscription request.
const CHECK_INBOX: &str = "If the address can receive mail, a confirmation link is on its way to it. \
     Follow it within 48 hours to start (or change) the digest; nothing else is sent before.";

/// Records a request, or says why not; the error is shown to the requester as it is.
async fn request(
    state: &AppState,
    client: IpAddr,
    email: &str,
    preferences: impl FnOnce() -> Result<Preferences, String>,
) -> Result<(), RequestError> {
    // Counted first: a client sending malformed requests is held back too.
    state
        .subscriptions
        .clients
        .check(&*state.store, client)
        .await
        .map_err(|error| RequestError::Failed(error.to_string()))?
        .map_err(RequestError::TooMany)?;
    let email: EmailAddress = email
        .parse()
        .map_err(|error: paperboy_core::EmailError| RequestError::Invalid(error.to_string()))?;
    let preferences = preferences().map_err(RequestError::Invalid)?;
    let membership = &state.access_policy.membership;
    match membership
        .admits(&*state.store, &email)
        .await
        .map_err(|error| RequestError::Failed(error.to_string()))?
    {
        Admission::Admitted => {}
        Admission::OutsideDomains => {
            tracing::info!(to = %email.masked(), "digest refused: outside the allowed domains");
            return Err(RequestError::Refused(membership.outside_domains_message()));
        }
        // Answered as an accepted request, for the reason sign-in's is (see `access`).
        Admission::NotInvited => {
            tracing::info!(to = %email.masked(), "digest refused: not invited");
            return Ok(());
        }
    }
    let subscriptions = &state.subscriptions;
    match subscribe(
        &*state.store,
        &subscriptions.mailer,
        email.clone(),
        preferences,
        Utc::now(),
    )
    .await
    {
        Ok(RequestOutcome::Queued) => {
            subscriptions.wake.notify_one();
            tracing::info!(to = %email.masked(), "confirmation mail queued");
            Ok(())
        }
        // Answered like any other request: the limit is the mailbox's protection, and saying
        // it was hit would say someone asked for this address lately.
        Ok(RequestOutcome::RateLimited) => {
            tracing::info!(to = %email.masked(), "confirmation mail held back: too many lately");
            Ok(())
        }
        Err(error) => Err(RequestError::Failed(error.to_string())),
    }
}

enum RequestError {
    Invalid(String),
    /// The address may not have the digest here (see [`AccessPolicy`]).
    ///
    /// [`AccessPolicy`]: crate::access::AccessPolicy
    Refused(String),
    TooMany(u64),
    Failed(String),
}

/// `POST /api/subscriptions`.
pub(crate) async fn api_subscribe(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    body: Result<Json<SubscribeRequest>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return ApiError::bad_request(rejection.body_text()).into_response(),
    };
    let preferences = || {
        frequency_param(body.frequency.as_deref()).and_then(|frequency| {
            Preferences::new(&body.topics, &body.categories, frequency)
                .map_err(|error| error.to_string())
        })
    };
    match request(&state, client, &body.email, preferences).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "pending", "message": CHECK_INBOX })),
        )
            .into_response(),
        Err(RequestError::Invalid(message)) => ApiError::bad_request(message).into_response(),
        Err(RequestError::Refused(message)) => {
            ApiError::new(ErrorCode::Forbidden, message).into_response()
        }
        Err(RequestError::TooMany(seconds)) => retry_after(seconds, ApiError::too_many_requests()),
        Err(RequestError::Failed(error)) => ApiError::internal(error).into_response(),
    }
}

/// `GET /subscribe`: the full form.
pub(crate) async fn subscribe_form() -> Response {
    render(
        StatusCode::OK,
        &SubscribePage {
            email: String::new(),
            topics: String::new(),
            categories: String::new(),
            weekly: false,
            error: None,
        },
    )
}

/// `POST /subscribe`, from the full form or the short one on every page.
pub(crate) async fn subscribe_submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    form: Result<Form<PreferencesForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return render(
            StatusCode::BAD_REQUEST,
            &subscribe_page(
                &PreferencesForm::default(),
                "The form's values could not be read.".into(),
            ),
        );
    };
    match request(&state, client, &form.email, || form.preferences()).await {
        Ok(()) => render(
            StatusCode::OK,
            &NoticePage {
                heading: "Check your inbox",
                message: CHECK_INBOX.to_owned(),
                link: Some(("/".to_owned(), "Back to the daily papers")),
            },
        ),
        Err(RequestError::Invalid(message)) => {
            render(StatusCode::BAD_REQUEST, &subscribe_page(&form, sentence(&message)))
        }
        Err(RequestError::Refused(message)) => {
            render(StatusCode::FORBIDDEN, &subscribe_page(&form, message))
        }
        Err(RequestError::TooMany(seconds)) => retry_after(
            seconds,
            render(
                StatusCode::TOO_MANY_REQUESTS,
                &subscribe_page(
                    &form,
                    "Too many subscription requests from your network; please try again in an hour."
                        .into(),
                ),
            ),
        ),
        Err(RequestError::Failed(error)) => PageError::internal(error).into_response(),
    }
}

fn dead_link(status: StatusCode, message: &str) -> Response {
    no_store(render(
        status,
        &NoticePage {
            heading: "This link does not work",
            message: message.to_owned(),
            link: Some(("/subscribe".to_owned(), "Subscribe again")),
        },
    ))
}

/// `GET /subscriptions/confirm/{token}`: a page with the button that confirms.
pub(crate) async fn confirm_page(Path(token): Path<String>) -> Response {
    if token.parse::<Token>().is_err() {
        return dead_link(
            StatusCode::NOT_FOUND,
            "The confirmation link is incomplete: copy the whole link from the mail.",
        );
    }
    no_store(render(
        StatusCode::OK,
        &ConfirmPage {
            action: format!("/subscriptions/confirm/{token}"),
        },
    ))
}

/// `POST /subscriptions/confirm/{token}`: confirms.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult {
    let Ok(token) = token.parse::<Token>() else {
        return Ok(dead_link(
            StatusCode::NOT_FOUND,
            "The confirmation link is incomplete: copy the whole link from the mail.",
        ));
    };
    let confirmation = state
        .store
        .confirm_subscription(token.hash(), Utc::now())
        .await?;
    Ok(match confirmation {
        Confirmation::Confirmed(subscriber) => {
            tracing::info!(to = %subscriber.email.masked(), "subscription confirmed");
            let manage = state.subscriptions.mailer.manage_url(&subscriber);
            let path = manage
                .strip_prefix(state.subscriptions.mailer.public_url())
                .unwrap_or(&manage)
                .to_owned();
            no_store(render(
                StatusCode::OK,
                &NoticePage {
                    heading: "You are subscribed",
                    message: format!(
                        "The {} digest goes to {}. Every digest has a link to change your topics or to leave.",
                        subscriber.preferences.frequency().as_str(),
                        subscriber.email.masked()
                    ),
                    link: Some((path, "Change topics or frequency")),
                },
            ))
        }
        Confirmation::Expired => dead_link(
            StatusCode::GONE,
            "The confirmation link has expired (links work for 48 hours). Subscribe again to get a new one.",
        ),
        Confirmation::AlreadyUsed => dead_link(
            StatusCode::GONE,
            "This confirmation link was already used. The link in your latest digest manages your subscription.",
        ),
        Confirmation::Unknown => dead_link(
            StatusCode::NOT_FOUND,
            "This confirmation link is not known here.",
        ),
    })
}

/// The subscriber a manage link names; `Ok(Err(page))` answers a link that names none.
async fn linked_subscriber(
    state: &AppState,
    token: &str,
) -> Result<Result<Subscriber, Response>, PageError> {
    let subscriber = state
        .subscriptions
        .mailer
        .subscriber_of_link(&*state.store, token)
        .await?;
    Ok(subscriber.ok_or_else(|| {
        dead_link(
            StatusCode::NOT_FOUND,
            "This subscription link is not known here: it may have been cut short, or the subscription removed.",
        )
    }))
}

/// `GET /subscription/{token}`: the subscriber's settings.
pub(crate) async fn manage_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult {
    Ok(match linked_subscriber(&state, &token).await? {
        Ok(subscriber) => no_store(render(
            StatusCode::OK,
            &ManagePage::new(&subscriber, format!("/subscription/{token}")),
        )),
        Err(dead) => dead,
    })
}

/// `POST /subscription/{token}`: unsubscribes (the one-click URL of RFC 8058, and the
/// settings page's button).
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult {
    let subscriber = match linked_subscriber(&state, &token).await? {
        Ok(subscriber) => subscriber,
        Err(dead) => return Ok(dead),
    };
    state.store.unsubscribe(subscriber.id).await?;
    tracing::info!(to = %subscriber.email.masked(), "unsubscribed");
    Ok(no_store(render(
        StatusCode::OK,
        &NoticePage {
            heading: "You are unsubscribed",
            message: format!(
                "No more digests will be sent to {}. Changed your mind? Subscribe again at any time.",
                subscriber.email.masked()
            ),
            link: Some(("/subscribe".to_owned(), "Subscribe again")),
        },
    )))
}

/// `POST /subscription/{token}/preferences`: saves topics, categories and frequency.
pub(crate) async fn save_preferences(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<PreferencesForm>, FormRejection>,
) -> PageResult {
    let subscriber = match linked_subscriber(&state, &token).await? {
        Ok(subscriber) => subscriber,
        Err(dead) => return Ok(dead),
    };
    let action = format!("/subscription/{token}");
    let preferences = match form {
        Ok(Form(form)) => form.preferences(),
        Err(_) => Err("the form's values could not be read".to_owned()),
    };
    let preferences = match preferences {
        Ok(preferences) => preferences,
        Err(message) => {
            let mut page = ManagePage::new(&subscriber, action);
            page.error = Some(sentence(&message));
            return Ok(no_store(render(StatusCode::BAD_REQUEST, &page)));
        }
    };
    state
        .store
        .set_preferences(subscriber.id, &preferences)
        .await?;
    let updated = Subscriber {
        preferences,
        ..subscriber
    };
    let mut page = ManagePage::new(&updated, action);
    page.saved = true;
    Ok(no_store(render(StatusCode::OK, &page)))
}
