//! What a digest subscriber asks for: topics in plain words, arXiv categories, and how often.
//!
//! [`Preferences::new`] is the one gate every form, API body and command line goes through: a
//! topic is one line of printable text (it is searched for and quoted in mail subjects, so no
//! line break or control character may get in), categories are known arXiv codes, and the
//! counts are bounded so that one subscriber cannot make composing a digest expensive.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Category;

/// The most topics one subscriber may follow.
pub const MAX_TOPICS: usize = 10;
/// The longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 200;
/// The most categories one subscriber may pick.
pub const MAX_CATEGORIES: usize = 20;

/// A subscriber's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriberId(pub i64);

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How often a digest comes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    #[default]
    Daily,
    Weekly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }

    /// Days a digest of this frequency covers.
    pub fn days(self) -> u64 {
        match self {
            Frequency::Daily => 1,
            Frequency::Weekly => 7,
        }
    }
}

impl FromStr for Frequency {
    type Err = PreferencesError;

    fn from_str(text: &str) -> Result<Self, PreferencesError> {
        match text.trim() {
            "daily" => Ok(Frequency::Daily),
            "weekly" => Ok(Frequency::Weekly),
            _ => Err(PreferencesError::Frequency),
        }
    }
}

/// Topics, categories and frequency, checked and in normal form: topics trimmed with inner
/// whitespace collapsed, duplicates (ignoring case) and empty entries dropped, order kept. Made
/// only by [`Preferences::new`], so never unchecked (it has no `Deserialize` for that reason).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    topics: Vec<String>,
    categories: Vec<Category>,
    frequency: Frequency,
}

/// Why preferences were refused; the messages are shown to the subscriber as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferencesError {
    #[error("at most {MAX_TOPICS} topics, please")]
    TooManyTopics,
    #[error("a topic may be at most {MAX_TOPIC_CHARS} characters long")]
    TopicTooLong,
    #[error("a topic may not contain line breaks or control characters")]
    TopicControl,
    #[error("at most {MAX_CATEGORIES} categories, please")]
    TooManyCategories,
    #[error("{0:?} is not an arXiv category (for example cs.LG or stat.ML)")]
    UnknownCategory(String),
    #[error("frequency must be daily or weekly")]
    Frequency,
}

impl Preferences {
    pub fn new(
        topics: impl IntoIterator<Item = impl AsRef<str>>,
        categories: impl IntoIterator<Item = impl AsRef<str>>,
        frequency: Frequency,
    ) -> Result<Preferences, PreferencesError> {
        let mut kept_topics: Vec<String> = Vec::new();
        for topic in topics {
            let topic = topic.as_ref();
            if topic.chars().any(char::is_control) {
                return Err(PreferencesError::TopicControl);
            }
            let topic = topic.split_whitespace().collect::<Vec<_>>().join(" ");
            if topic.is_empty() {
                continue;
            }
            if topic.chars().count() > MAX_TOPIC_CHARS {
                return Err(PreferencesError::TopicTooLong);
            }
            if !kept_topics
                .iter()
                .any(|kept| kept.eq_ignore_ascii_case(&topic))
            {
                // Refused as soon as there are too many: a huge list costs no more than that.
                if kept_topics.len() == MAX_TOPICS {
                    return Err(PreferencesError::TooManyTopics);
                }
                kept_topics.push(topic);
            }
        }
        let mut kept_categories: Vec<Category> = Vec::new();
        for category in categories {
            let category = category.as_ref().trim();
            if category.is_empty() {
                continue;
            }
            let Some(category) = Category::known(category) else {
                // Cut what is echoed back: the message goes onto a page.
                return Err(PreferencesError::UnknownCategory(
                    category.chars().take(40).collect(),
                ));
            };
            if !kept_categories.contains(&category) {
                if kept_categories.len() == MAX_CATEGORIES {
                    return Err(PreferencesError::TooManyCategories);
                }
                kept_categories.push(category);
            }
        }
        Ok(Preferences {
            topics: kept_topics,
            categories: kept_categories,
            frequency,
        })
    }

    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Categories (`cs.LG`) or archives (`cs`), in arXiv's spelling.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn frequency(&self) -> Frequency {
        self.frequency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_normalised_and_deduplicated() {
        let preferences = Preferences::new(
            [
                "  graph   neural networks ",
                "",
                "Graph Neural Networks",
                "diffusion",
            ],
            ["CS.lg", "cs", "cs.LG"],
            Frequency::Weekly,
        )
        .unwrap_or_default();
        assert_eq!(preferences.topics(), ["graph neural networks", "diffusion"]);
        assert_eq!(
            preferences.categories(),
            [Category::new("cs.LG"), Category::new("cs")]
        );
        assert_eq!(preferences.frequency(), Frequency::Weekly);
    }

    #[test]
    fn header_breaking_and_oversized_input_is_refused() {
        let new = |topics: Vec<String>, categories: Vec<&str>| {
            Preferences::new(topics, categories, Frequency::Daily)
        };
        assert_eq!(
            new(vec!["a\r\nBcc: x@example.org".into()], vec![]),
            Err(PreferencesError::TopicControl)
        );
        assert_eq!(
            new(vec!["x".repeat(MAX_TOPIC_CHARS + 1)], vec![]),
            Err(PreferencesError::TopicTooLong)
        );
        assert_eq!(
            new(
                (0..=MAX_TOPICS).map(|n| format!("topic {n}")).collect(),
                vec![]
            ),
            Err(PreferencesError::TooManyTopics)
        );
        assert!(matches!(
            new(vec![], vec!["cs.XX"]),
            Err(PreferencesError::UnknownCategory(_))
        ));
        assert!(matches!(
            new(vec![], vec!["<script>"]),
            Err(PreferencesError::UnknownCategory(_))
        ));
        assert_eq!(
            "hourly".parse::<Frequency>(),
            Err(PreferencesError::Frequency)
        );
        assert_eq!(" weekly".parse::<Frequency>(), Ok(Frequency::Weekly));
    }
}
