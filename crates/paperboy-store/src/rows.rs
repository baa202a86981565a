//! What both backends share about rows: the columns a paper, subscriber or user is read from,
//! how a row becomes a [`Paper`], how vectors and preferences are stored, and the mailbox limit
//! both count against.

use std::collections::HashMap;

use chrono::NaiveDate;
use paperboy_core::subscription::{Frequency, Preferences};
use paperboy_core::{ArxivId, Category, Paper, PaperId, PaperRecord, Source};
use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{PaperChange, StoreError};

pub(crate) const PAPER_COLUMNS: &str = "id, arxiv_id, version, title, abstract, authors, published, updated, \
     doi, journal_ref, comment, code_url, project_url, github_stars, external_upvotes, source, \
     local_upvotes, hidden_at IS NOT NULL AS hidden";

/// A table of blobs keyed by content hash (`embeddings`, `sentence_embeddings`).
pub(crate) struct HashedBlobs {
    pub(crate) table: &'static str,
    pub(crate) column: &'static str,
    pub(crate) loading: &'static str,
    pub(crate) saving: &'static str,
}

impl HashedBlobs {
    pub(crate) const EMBEDDINGS: HashedBlobs = HashedBlobs {
        table: "embeddings",
        column: "vector",
        loading: "loading embeddings",
        saving: "saving embeddings",
    };
    pub(crate) const SENTENCES: HashedBlobs = HashedBlobs {
        table: "sentence_embeddings",
        column: "vectors",
        loading: "loading sentence embeddings",
        saving: "saving sentence embeddings",
    };
}

/// Embeddings as stored: each vector's little-endian f32 values.
pub(crate) fn encode_embeddings(embeddings: &[(String, Vec<f32>)]) -> Vec<(String, Vec<u8>)> {
    embeddings
        .iter()
        .map(|(hash, vector)| {
            let bytes = vector
                .iter()
                .flat_map(|value| value.to_le_bytes())
                .collect();
            (hash.clone(), bytes)
        })
        .collect()
}

/// Stored embeddings back as vectors; a blob that is not a whole number of values is corrupt.
pub(crate) fn decode_embeddings(
    blobs: HashMap<String, Vec<u8>>,
) -> Result<HashMap<String, Vec<f32>>, StoreError> {
    blobs
        .into_iter()
        .map(|(hash, bytes)| {
            if !bytes.len().is_multiple_of(4) {
                return Err(StoreError::Corrupt(format!(
                    "table embeddings, row {hash}: an embedding of {} bytes",
                    bytes.len()
                )));
            }
            let vector = bytes
                .chunks_exact(4)
                .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                .collect();
            Ok((hash, vector))
        })
        .collect()
}

pub(crate) fn paper_from_row<'r, R: Row>(row: &'r R) -> Result<Paper, StoreError>
where
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    NaiveDate: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: Option<i64> = row.try_get("id").ok();
    let row_name = id.map_or_else(|| "a row".to_owned(), |id| format!("row {id}"));
    let corrupt = |what: &str, error: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("table papers, {row_name}: {what}: {error}"))
    };
    let get_err = |error: sqlx::Error| corrupt("a paper row", &error);
    let arxiv_id: Option<String> = row.try_get("arxiv_id").map_err(get_err)?;
    let arxiv_id = arxiv_id
        .map(|text| ArxivId::parse(&text))
        .transpose()
        .map_err(|error| corrupt("an arXiv id", &error))?;
    let authors: String = row.try_get("authors").map_err(get_err)?;
    let authors: Vec<String> =
        serde_json::from_str(&authors).map_err(|error| corrupt("an author list", &error))?;
    let source: String = row.try_get("source").map_err(get_err)?;
    let source = Source::parse(&source).ok_or_else(|| corrupt("a source", &source))?;
    let count = |column: &'r str| -> Result<Option<u32>, StoreError> {
        let value: Option<i64> = row.try_get(column).map_err(get_err)?;
        value
            .map(|value| u32::try_from(value).map_err(|error| corrupt(column, &error)))
            .transpose()
    };
    Ok(Paper {
        id: PaperId(row.try_get("id").map_err(get_err)?),
        local_upvotes: count("local_upvotes")?.unwrap_or(0),
        hidden: row.try_get("hidden").map_err(get_err)?,
        record: PaperRecord {
            arxiv_id,
            version: count("version")?,
            title: row.try_get("title").map_err(get_err)?,
            abstract_text: row.try_get("abstract").map_err(get_err)?,
            authors,
            categories: Vec::new(),
            published: row.try_get("published").map_err(get_err)?,
            updated: row.try_get("updated").map_err(get_err)?,
            listing_dates: Default::default(),
            doi: row.try_get("doi").map_err(get_err)?,
            journal_ref: row.try_get("journal_ref").map_err(get_err)?,
            comment: row.try_get("comment").map_err(get_err)?,
            code_url: row.try_get("code_url").map_err(get_err)?,
            project_url: row.try_get("project_url").map_err(get_err)?,
            github_stars: count("github_stars")?,
            external_upvotes: count("external_upvotes")?.unwrap_or(0),
            source,
        },
    })
}

/// Pairs papers loaded by id with their change numbers, in change order; a paper that could not
/// be loaded (deleted since) is left out.
pub(crate) fn papers_with_changes(papers: Vec<Paper>, changed: &[(i64, i64)]) -> Vec<PaperChange> {
    let mut by_id: HashMap<i64, Paper> = papers
        .into_iter()
        .map(|paper| (paper.id.0, paper))
        .collect();
    changed
        .iter()
        .filter_map(|(id, seq)| {
            by_id
                .remove(id)
                .map(|paper| PaperChange { seq: *seq, paper })
        })
        .collect()
}

/// The columns a subscriber is read from, on both backends.
pub(crate) const SUBSCRIBER_COLUMNS: &str = "id, email, state, topics, categories, frequency, \
     created_at, confirmed_at, last_digest_period, last_digest_until, link_generation";

/// The columns a user is read from, on both backends.
pub(crate) const USER_COLUMNS: &str = "id, email, is_admin, hidden_at, created_at";

/// Mails asked for by anyone (confirmations and sign-in links, not digests) that one mailbox
/// may be sent in a day, however many tagged addresses it is asked for under.
pub(crate) const MAILBOX_PER_DAY: i64 = 10;

/// A list as a JSON text column holds it (a subscriber's topics and categories).
pub(crate) fn json_list(values: &[impl Serialize]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

/// Preferences as a subscription request row keeps them until confirmation.
#[derive(Serialize, Deserialize)]
struct StoredPreferences {
    topics: Vec<String>,
    categories: Vec<Category>,
    frequency: String,
}

/// A request's preferences as its row keeps them (JSON).
pub(crate) fn encode_request_preferences(preferences: &Preferences) -> String {
    let stored = StoredPreferences {
        topics: preferences.topics().to_vec(),
        categories: preferences.categories().to_vec(),
        frequency: preferences.frequency().as_str().to_owned(),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

/// A request's preferences back from its row, checked again as when they came in.
pub(crate) fn decode_request_preferences(text: &str) -> Result<Preferences, StoreError> {
    let stored: StoredPreferences = serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt("a subscription request".into()))?;
    checked_preferences(stored.topics, stored.categories, &stored.frequency)
}

/// Preferences from a subscriber row's JSON columns.
pub(crate) fn preferences_from(
    topics: &str,
    categories: &str,
    frequency: &str,
) -> Result<Preferences, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("a subscriber's {what}"));
    let topics: Vec<String> = serde_json::from_str(topics).map_err(|_| corrupt("topics"))?;
    let categories: Vec<Category> =
        serde_json::from_str(categories).map_err(|_| corrupt("categories"))?;
    checked_preferences(topics, categories, frequency)
}

/// Preferences read back from the store, checked again as when they came in.
fn checked_preferences(
    topics: Vec<String>,
    categories: Vec<Category>,
    frequency: &str,
) -> Result<Preferences, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("stored {what}"));
    let frequency: Frequency = frequency.parse().map_err(|_| corrupt("frequency"))?;
    Preferences::new(topics, categories, frequency).map_err(|_| corrupt("preferences"))
}

/// An access token's stored scope.
pub(crate) fn token_scope(text: &str) -> Result<paperboy_core::account::TokenScope, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("an access token's scope".into()))
}

/// A folder's columns with its counts of ratings, for a query on `folders f` (both backends).
pub(crate) const FOLDER_COLUMNS: &str = "f.id, f.user_id, f.name, f.created_at, \
     (SELECT COUNT(*) FROM folder_ratings r WHERE r.folder_id = f.id AND r.relevant = TRUE) \
     AS relevant, \
     (SELECT COUNT(*) FROM folder_ratings r WHERE r.folder_id = f.id AND r.relevant = FALSE) \
     AS not_relevant";
