//! Who is asking: the [`Reader`] extractor reads the session cookie once per request, and
//! gives handlers the signed-in user (if any), the token their forms must carry and the address
//! the page's forms come back to.
//!
//! Sessions are random tokens in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when the site
//! is served over https), stored hashed. Forms of a signed-in reader carry a token derived from
//! the session's ([`Token::derived`]): a page elsewhere cannot know it, so it cannot write in
//! the reader's name, whatever the browser sends.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::Utc;
use paperboy_core::token::{Token, same_secret};
use paperboy_store::StoreError;
use paperboy_store::account::User;

use crate::error::PageError;
use crate::state::AppState;
use crate::view::Card;

/// The session cookie's name.
const SESSION_COOKIE: &str = "paperboy_session";
/// How long a session lasts.
pub(crate) const SESSION_DAYS: i64 = 30;
/// What a session's form token is derived for.
const FORM_PURPOSE: &str = "paperboy form token";

/// A signed-in reader: the user and how they proved it.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) user: User,
    pub(crate) credential: Credential,
}

/// What a request proved its reader with.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    /// A browser's session cookie (its token).
    Session(Token),
    /// A live access token of a feed reader or script, on the routes that take one (the wall
    /// in [`crate::access`] has checked its scope).
    AccessToken,
}

impl SignedIn {
    /// The token this session's forms carry; none for an access token, which fills no forms.
    pub(crate) fn form_token(&self) -> String {
        match &self.credential {
            Credential::Session(session) => session.derived(FORM_PURPOSE),
            Credential::AccessToken => String::new(),
        }
    }

    pub(crate) fn accepts(&self, form_token: &str) -> bool {
        matches!(self.credential, Credential::Session(_))
            && same_secret(&self.form_token(), form_token)
    }

    /// The browser session's token, when the reader came with a cookie.
    pub(crate) fn session(&self) -> Option<&Token> {
        match &self.credential {
            Credential::Session(session) => Some(session),
            Credential::AccessToken => None,
        }
    }
}

/// A form that only carries the session's token (signing out, deleting, revoking).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub(crate) form_token: String,
}

/// The answer to a form without the session's token: it came from elsewhere, or from a page
/// of an earlier session.
pub(crate) fn stale_form() -> PageError {
    PageError::Forbidden(
        "This form belongs to another session (or was sent from another site). Reload the page and try again."
            .to_owned(),
    )
}

/// Who is asking (a signed-in reader or nobody in particular), and on which page.
#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) signed_in: Option<SignedIn>,
    /// The path and query asked for: where a form on the page comes back to.
    here: String,
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let here = return_address(&parts.uri);
        // The wall has looked the reader up already on a private site, and wherever an access
        // token came (see `access.rs`).
        let signed_in = match parts.extensions.get::<SignedIn>() {
            Some(signed_in) => Some(signed_in.clone()),
            None => signed_in(state, &parts.headers).await?,
        };
        Ok(Reader { signed_in, here })
    }
}

/// The signed-in reader whose session cookie `headers` carry, if the session is live.
pub(crate) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, StoreError> {
    let Some(session) = session_token(headers) else {
        return Ok(None);
    };
    let user = state.store.session_user(session.hash(), Utc::now()).await?;
    Ok(user.map(|user| SignedIn {
        user,
        credential: Credential::Session(session),
    }))
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
        self.admin().is_some()
    }

    /// The signed-in administrator, if the reader is one.
    pub(crate) fn admin(&self) -> Option<&SignedIn> {
        self.signed_in
            .as_ref()
            .filter(|signed_in| signed_in.user.is_admin)
    }

    /// Marks the cards the reader upvoted or saved.
    pub(crate) async fn mark(
        &self,
        state: &AppState,
        cards: &mut [Card],
    ) -> Result<(), StoreError> {
        let Some(signed_in) = &self.signed_in else {
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
}

/// The sign-in page, coming back to `next` once signed in.
pub(crate) fn sign_in_url(next: &str) -> String {
    format!("/signin?next={}", paperboy_core::text::urlencode(next))
}

/// The answer to a stranger asking for a reader's page or form: sign in, then come back to
/// `here`.
pub(crate) fn sign_in_first(here: &str) -> axum::response::Response {
    crate::respond::see_other(&sign_in_url(here))
}

/// The session token in the request's cookie, if it is well-formed.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<Token> {
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
pub(crate) fn session_cookie(state: &AppState, token: Option<&Token>) -> HeaderValue {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
