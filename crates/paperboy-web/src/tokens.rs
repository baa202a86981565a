//! Readers' access tokens, made and revoked on `/me`: what a feed reader or a script presents
//! instead of a session cookie (the wall in [`crate::access`] checks them).
//!
//! A token is shown once, on the page that answers the form that made it, and kept only as its
//! hash; the reader names it (which feed reader, which script) so the list on `/me` says which
//! one to revoke. A read token reads the feeds, the API and the reading list's files; a
//! read-write token also votes and saves through the API.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paperboy_core::account::{AccessTokenId, TokenScope};
use paperboy_core::token::Token;
use paperboy_store::account::{AccessToken, MAX_ACCESS_TOKENS, NewAccessToken};
use serde::Deserialize;

use crate::error::{PageError, PageResult};
use crate::reader::{Reader, SignedIn, TokenForm, sign_in_first, stale_form};
use crate::respond::{no_store, not_done, render, see_other};
use crate::state::AppState;

/// The longest name of a token, in characters.
const MAX_LABEL: usize = 80;

/// A token as the list on `/me` shows it.
#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub(crate) id: AccessTokenId,
    pub(crate) label: String,
    pub(crate) scope: &'static str,
    pub(crate) created: String,
    pub(crate) last_used: String,
    pub(crate) revoked: Option<String>,
}

fn day(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d").to_string()
}

impl From<AccessToken> for TokenRow {
    fn from(token: AccessToken) -> Self {
        TokenRow {
            id: token.id,
            label: token.label,
            scope: token.scope.as_str(),
            created: day(token.created_at),
            last_used: token.last_used_at.map_or_else(|| "never".to_owned(), day),
            revoked: token.revoked_at.map(day),
        }
    }
}

/// A reader's tokens for `/me`, live ones first.
pub(crate) async fn rows(
    state: &AppState,
    signed_in: &SignedIn,
) -> Result<Vec<TokenRow>, PageError> {
    let mut tokens = state.store.access_tokens(signed_in.user.id).await?;
    tokens.sort_by_key(|token| token.revoked_at.is_some());
    Ok(tokens.into_iter().map(TokenRow::from).collect())
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewTokenForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    scope: String,
}

#[derive(Template)]
#[template(path = "token_made.html")]
struct TokenMadePage {
    label: String,
    scope: &'static str,
    token: String,
    /// The site's address, for the examples.
    base: String,
}

/// A token the form could not make, and why.
fn refused(message: String) -> PageResult {
    Ok(not_done("No token made", message, "/me#tokens".to_owned()))
}

/// `POST /me/tokens`: makes a token and shows it, this once.
pub(crate) async fn make(
    State(state): State<AppState>,
    reader: Reader,
    form: Result<Form<NewTokenForm>, FormRejection>,
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first("/me#tokens"));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    let label = form.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL || label.chars().any(char::is_control)
    {
        return refused(format!(
            "Name the token (up to {MAX_LABEL} characters), after the feed reader or script that will use it."
        ));
    }
    let Ok(scope) = form.scope.parse::<TokenScope>() else {
        return refused(
            "A token either reads (read) or also votes and saves (read-write).".to_owned(),
        );
    };
    let token = Token::generate().map_err(PageError::internal)?;
    let kept = state
        .store
        .add_access_token(NewAccessToken {
            user: signed_in.user.id,
            token: token.hash(),
            label: label.to_owned(),
            scope,
            now: Utc::now(),
        })
        .await?;
    let Some(kept) = kept else {
        return refused(format!(
            "You hold {MAX_ACCESS_TOKENS} tokens already: revoke one you no longer use first."
        ));
    };
    tracing::info!(user = %signed_in.user.id, token = %kept.id, scope = scope.as_str(), "access token made");
    Ok(no_store(render(
        StatusCode::OK,
        &TokenMadePage {
            label: kept.label,
            scope: scope.as_str(),
            token: token.as_str().to_owned(),
            base: state.public_url.trim_end_matches('/').to_owned(),
        },
    )))
}

/// `POST /me/tokens/{id}/revoke`: the token stops working at once, for good.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> PageResult {
    let Some(signed_in) = &reader.signed_in else {
        return Ok(sign_in_first("/me#tokens"));
    };
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if !signed_in.accepts(&form.form_token) {
        return Err(stale_form());
    }
    let revoked = match id.parse::<i64>() {
        Ok(id) => {
            state
                .store
                .revoke_access_token(signed_in.user.id, AccessTokenId(id), Utc::now())
                .await?
        }
        Err(_) => false,
    };
    if !revoked {
        return Err(PageError::NotFound(
            "You hold no live token of that number.".to_owned(),
        ));
    }
    tracing::info!(user = %signed_in.user.id, token = %id, "access token revoked");
    Ok(see_other("/me#tokens"))
}
