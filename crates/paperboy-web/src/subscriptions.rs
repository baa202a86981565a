//! Subscribing to the digest, confirming, changing topics and leaving, as pages and as
//! `POST /api/subscriptions`.
//!
//! - Every answer to a subscription request is the same ("check your inbox"), whatever the
//!   address's state, so the form cannot be used to learn who is subscribed.
//! - Confirmation links open a page with a button rather than confirming on `GET`: mail
//!   scanners fetch links, and an address must not be subscribed by its own spam filter.
//! - The manage link of every digest is also its RFC 8058 one-click unsubscribe URL: a `POST`
//!   to it unsubscribes, from a mail client without a browser, so it is the one write that the
//!   same-origin check (see [`same_origin_writes`]) leaves alone; its token is its authority.
//! - Requests are limited per client address here and per mailbox in the store.

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use paperboy_core::EmailAddress;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::token::Token;
use paperboy_digest::Mailer;
use paperboy_digest::subscribe::subscribe;
use paperboy_store::mail::{Confirmation, RequestOutcome, Subscriber, SubscriberState};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

use crate::AppState;
use crate::api::ApiError;
pub(crate) use crate::client::ClientAddress;
use crate::client::ClientLimit;
use crate::pages::{failure_page, render};

/// Subscription requests one client address may make per hour.
const PER_CLIENT_PER_HOUR: u32 = 10;

/// What the handlers that send mail (subscription requests, sign-in links) share.
#[derive(Debug)]
pub struct Subscriptions {
    pub(crate) mailer: Mailer,
    /// Wakes the outbox worker when a mail is queued.
    pub(crate) wake: Arc<Notify>,
    clients: ClientLimit,
    /// Sign-in requests are counted apart: asking for the digest does not use them up.
    pub(crate) sign_in_clients: ClientLimit,
}

impl Subscriptions {
    pub fn new(mailer: Mailer, wake: Arc<Notify>) -> Self {
        Subscriptions {
            mailer,
            wake,
            clients: ClientLimit::per_hour(PER_CLIENT_PER_HOUR),
            sign_in_clients: ClientLimit::per_hour(PER_CLIENT_PER_HOUR),
        }
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }
}

/// Refuses state-changing requests that a browser says come from another site (the
/// `Sec-Fetch-Site` header, else `Origin` against `Host`): a page elsewhere cannot submit
/// Paperboy's forms in a reader's name. Programs that send neither header are not browsers
/// and carry no reader's credentials. The one-click unsubscribe URL is exempt (see the module
/// docs).
pub(crate) async fn same_origin_writes(request: Request, next: Next) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let one_click = request
        .uri()
        .path()
        .strip_prefix("/subscription/")
        .is_some_and(|rest| !rest.contains('/'));
    if writes && !one_click && is_cross_site(request.headers()) {
        let message = "this form was sent from another site; open the page on this site and send it from there";
        return if request.uri().path().starts_with("/api/") {
            ApiError::forbidden(message).into_response()
        } else {
            render(
                StatusCode::FORBIDDEN,
                &NoticePage {
                    heading: "Sent from another site",
                    message: format!("{message}."),
                    link: None,
                },
            )
        };
    }
    next.run(request).await
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host.as_bytes());
    origin_host.is_none() || origin_host != host
}

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
#[template(path = "notice.html")]
pub(crate) struct NoticePage {
    pub(crate) heading: &'static str,
    pub(crate) message: String,
    /// A link to offer next, as (href, text).
    pub(crate) link: Option<(String, &'static str)>,
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

/// The fields of the subscription and preferences forms: topics one per line, categories
/// separated by commas or spaces.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PreferencesForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    pub(crate) topics: String,
    #[serde(default)]
    pub(crate) categories: String,
    #[serde(default)]
    pub(crate) frequency: Option<String>,
}

impl PreferencesForm {
    pub(crate) fn preferences(&self) -> Result<Preferences, String> {
        let frequency = parse_frequency(self.frequency.as_deref())?;
        Preferences::new(
            self.topics.lines(),
            self.categories.split([',', ' ', '\n', '\r', '\t']),
            frequency,
        )
        .map_err(|error| error.to_string())
    }

    fn page(&self, error: String) -> SubscribePage {
        SubscribePage {
            email: self.email.clone(),
            topics: self.topics.clone(),
            categories: self.categories.clone(),
            weekly: self.frequency.as_deref() == Some("weekly"),
            error: Some(error),
        }
    }
}

fn parse_frequency(text: Option<&str>) -> Result<Frequency, String> {
    text.filter(|text| !text.is_empty())
        .map_or(Ok(Frequency::Daily), str::parse)
        .map_err(|error: paperboy_core::subscription::PreferencesError| error.to_string())
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
        .check(client)
        .map_err(RequestError::TooMany)?;
    let email: EmailAddress = email
        .parse()
        .map_err(|error: paperboy_core::EmailError| RequestError::Invalid(error.to_string()))?;
    let preferences = preferences().map_err(RequestError::Invalid)?;
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
        parse_frequency(body.frequency.as_deref()).and_then(|frequency| {
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
        Err(RequestError::TooMany(seconds)) => too_many(seconds, ApiError::too_many_requests()),
        Err(RequestError::Failed(error)) => ApiError::internal(error).into_response(),
    }
}

pub(crate) fn too_many(seconds: u64, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
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
            &PreferencesForm::default().page("The form's values could not be read.".into()),
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
            render(StatusCode::BAD_REQUEST, &form.page(capitalise(&message)))
        }
        Err(RequestError::TooMany(seconds)) => too_many(
            seconds,
            render(
                StatusCode::TOO_MANY_REQUESTS,
                &form.page(
                    "Too many subscription requests from your network; please try again in an hour."
                        .into(),
                ),
            ),
        ),
        Err(RequestError::Failed(error)) => failure_page(error),
    }
}

pub(crate) fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

/// Pages behind a secret link or for one reader: never stored by a cache, never sent on as a
/// referrer.
pub(crate) fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn dead_link(status: StatusCode, message: &str) -> Response {
    private(render(
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
    private(render(
        StatusCode::OK,
        &ConfirmPage {
            action: format!("/subscriptions/confirm/{token}"),
        },
    ))
}

/// `POST /subscriptions/confirm/{token}`: confirms.
pub(crate) async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Ok(token) = token.parse::<Token>() else {
        return dead_link(
            StatusCode::NOT_FOUND,
            "The confirmation link is incomplete: copy the whole link from the mail.",
        );
    };
    match state
        .store
        .confirm_subscription(token.hash(), Utc::now())
        .await
    {
        Ok(Confirmation::Confirmed(subscriber)) => {
            tracing::info!(to = %subscriber.email.masked(), "subscription confirmed");
            let manage = state.subscriptions.mailer.manage_url(&subscriber);
            let path = manage
                .strip_prefix(state.subscriptions.mailer.public_url())
                .unwrap_or(&manage)
                .to_owned();
            private(render(
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
        Ok(Confirmation::Expired) => dead_link(
            StatusCode::GONE,
            "The confirmation link has expired (links work for 48 hours). Subscribe again to get a new one.",
        ),
        Ok(Confirmation::AlreadyUsed) => dead_link(
            StatusCode::GONE,
            "This confirmation link was already used. The link in your latest digest manages your subscription.",
        ),
        Ok(Confirmation::Unknown) => dead_link(
            StatusCode::NOT_FOUND,
            "This confirmation link is not known here.",
        ),
        Err(error) => failure_page(error),
    }
}

/// The subscriber a manage link names, or the page to answer with.
async fn linked_subscriber(state: &AppState, token: &str) -> Result<Subscriber, Response> {
    match state
        .subscriptions
        .mailer
        .subscriber_of_link(&*state.store, token)
        .await
    {
        Ok(Some(subscriber)) => Ok(subscriber),
        Ok(None) => Err(dead_link(
            StatusCode::NOT_FOUND,
            "This subscription link is not known here: it may have been cut short, or the subscription removed.",
        )),
        Err(error) => Err(failure_page(error)),
    }
}

/// `GET /subscription/{token}`: the subscriber's settings.
pub(crate) async fn manage_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    match linked_subscriber(&state, &token).await {
        Ok(subscriber) => private(render(
            StatusCode::OK,
            &ManagePage::new(&subscriber, format!("/subscription/{token}")),
        )),
        Err(response) => response,
    }
}

/// `POST /subscription/{token}`: unsubscribes (the one-click URL of RFC 8058, and the
/// settings page's button).
pub(crate) async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    let subscriber = match linked_subscriber(&state, &token).await {
        Ok(subscriber) => subscriber,
        Err(response) => return response,
    };
    if let Err(error) = state.store.unsubscribe(subscriber.id).await {
        return failure_page(error);
    }
    tracing::info!(to = %subscriber.email.masked(), "unsubscribed");
    private(render(
        StatusCode::OK,
        &NoticePage {
            heading: "You are unsubscribed",
            message: format!(
                "No more digests will be sent to {}. Changed your mind? Subscribe again at any time.",
                subscriber.email.masked()
            ),
            link: Some(("/subscribe".to_owned(), "Subscribe again")),
        },
    ))
}

/// `POST /subscription/{token}/preferences`: saves topics, categories and frequency.
pub(crate) async fn save_preferences(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<PreferencesForm>, FormRejection>,
) -> Response {
    let subscriber = match linked_subscriber(&state, &token).await {
        Ok(subscriber) => subscriber,
        Err(response) => return response,
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
            page.error = Some(capitalise(&message));
            return private(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    if let Err(error) = state
        .store
        .set_preferences(subscriber.id, &preferences)
        .await
    {
        return failure_page(error);
    }
    let updated = Subscriber {
        preferences,
        ..subscriber
    };
    let mut page = ManagePage::new(&updated, action);
    page.saved = true;
    private(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_writes_are_recognised() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://papers.example.org"),
            ("host", "papers.example.org")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "papers.example.org")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "papers.example.org")
        ])));
    }
}
