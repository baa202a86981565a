//! Reading what a request asks for, one way each: the API's query parameters (a 400 in the
//! API's shape when they do not parse), the search mode, the true/false of forms, and the
//! digest's preferences (the subscription form, a subscriber's settings and `/me`).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use paperboy_core::subscription::{Frequency, Preferences, PreferencesError};
use paperboy_core::trending::Voters;
use paperboy_search::Mode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Query parameters that failed to parse become a 400 in the API's shape.
pub(crate) struct Params<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// The `mode` parameter of the search page and the API: hybrid unless named.
pub(crate) fn mode_param(text: Option<&str>) -> Result<Mode, String> {
    match text {
        None | Some("") => Ok(Mode::Hybrid),
        Some(text) => text.parse(),
    }
}

/// A form's yes or no (`value=true` sets a vote, `value=false` takes it back): what an HTML
/// form or a script may send for either; anything else is refused rather than guessed.
pub(crate) fn form_flag(value: &str) -> Option<bool> {
    match value {
        "true" | "1" | "on" => Some(true),
        "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// The fields of the subscription and preferences forms: topics one per line, categories
/// separated by commas or spaces.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PreferencesForm {
    /// Only on the subscription form; the others know the address.
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) topics: String,
    #[serde(default)]
    pub(crate) categories: String,
    #[serde(default)]
    pub(crate) frequency: Option<String>,
}

impl PreferencesForm {
    pub(crate) fn preferences(&self) -> Result<Preferences, String> {
        let frequency = frequency_param(self.frequency.as_deref())?;
        Preferences::new(
            self.topics.lines(),
            self.categories.split([',', ' ', '\n', '\r', '\t']),
            frequency,
        )
        .map_err(|error| error.to_string())
    }

    /// Whether the form asks for the weekly digest (to show it ticked again).
    pub(crate) fn weekly(&self) -> bool {
        self.frequency.as_deref() == Some("weekly")
    }
}

/// The digest's `frequency` in a form or the API: daily unless named.
pub(crate) fn frequency_param(text: Option<&str>) -> Result<Frequency, String> {
    text.filter(|text| !text.is_empty())
        .map_or(Ok(Frequency::Daily), str::parse)
        .map_err(|error: PreferencesError| error.to_string())
}

/// Whose upvotes rank trending (`votes=all|here`, the page's and the feed's); all by default.
pub(crate) fn voters_param(text: Option<&str>) -> Result<Voters, String> {
    match text {
        None | Some("") => Ok(Voters::default()),
        Some(text) => Voters::parse(text)
            .ok_or_else(|| format!("{text:?} is not whose votes to count (all or here).")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_explicit() {
        assert_eq!(form_flag("true"), Some(true));
        assert_eq!(form_flag("on"), Some(true));
        assert_eq!(form_flag("false"), Some(false));
        assert_eq!(form_flag("0"), Some(false));
        assert_eq!(form_flag("toggle"), None);
        assert_eq!(form_flag(""), None);
    }

    #[test]
    fn the_mode_is_hybrid_unless_named() {
        assert_eq!(mode_param(None), Ok(Mode::Hybrid));
        assert_eq!(mode_param(Some("")), Ok(Mode::Hybrid));
        assert_eq!(mode_param(Some("keyword")), Ok(Mode::Keyword));
        assert!(mode_param(Some("fuzzy")).is_err());
    }
}
