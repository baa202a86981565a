//! Papers: what a source says about one ([`PaperDraft`] → [`PaperRecord`]), how two accounts of
//! the same paper combine ([`PaperRecord::merge`]), and a paper as stored ([`Paper`]).
//!
//! Importers fill a [`PaperDraft`] with raw strings and call [`PaperDraft::finish`], the one
//! place where text is normalised and limits and dates are checked. The merge is written so that
//! the order in which files are imported does not matter: listing dates are a union, counts keep
//! their maximum, and the newest arXiv version decides the bibliographic fields.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::arxiv_id::ArxivId;
use crate::day::parse_day;
use crate::taxonomy;
use crate::text::{normalize_whitespace, shorten, title_key};

/// Size limits on one record: anything larger is rejected as malformed rather than stored.
pub mod limits {
    /// arXiv itself allows 1,920 characters; this leaves room for other sources.
    pub const MAX_ABSTRACT_CHARS: usize = 50_000;
    pub const MAX_TITLE_CHARS: usize = 1_000;
    /// Large collaborations sign with a few thousand names.
    pub const MAX_AUTHORS: usize = 10_000;
    pub const MAX_AUTHOR_CHARS: usize = 300;
    pub const MAX_CATEGORIES: usize = 50;
    pub const MAX_FIELD_CHARS: usize = 2_000;
    /// Dates outside these years are impossible for a paper.
    pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;
}

/// The store's internal id of a paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaperId(pub i64);

impl fmt::Display for PaperId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How people name a paper: by arXiv id (`1801.04062`, any version or URL form), or by the
/// store's own number for papers without one (a new-style arXiv id always has a dot, an old one
/// a slash, so a bare number is never one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaperKey {
    Internal(PaperId),
    Arxiv(ArxivId),
}

impl PaperKey {
    pub fn parse(text: &str) -> Result<Self, crate::ArxivIdError> {
        let text = text.trim();
        match text.parse::<i64>() {
            Ok(internal) => Ok(PaperKey::Internal(PaperId(internal))),
            Err(_) => ArxivId::parse(text).map(PaperKey::Arxiv),
        }
    }
}

/// Where the bibliographic fields of a paper came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The arXiv API (Atom).
    ArxivApi,
    /// arXiv's OAI-PMH interface.
    ArxivOai,
    /// An arXiv metadata dump (JSON lines).
    ArxivMetadata,
    /// The Hugging Face daily-papers list.
    HfDaily,
    /// A saved plain-text listing page.
    Listing,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::ArxivApi,
        Source::ArxivOai,
        Source::ArxivMetadata,
        Source::HfDaily,
        Source::Listing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::ArxivApi => "arxiv-api",
            Source::ArxivOai => "arxiv-oai",
            Source::ArxivMetadata => "arxiv-metadata",
            Source::HfDaily => "hf-daily",
            Source::Listing => "listing",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == text)
    }

    /// How much a source is trusted for bibliographic fields when versions and dates tie:
    /// arXiv's own interfaces first, copies of them next.
    fn authority(self) -> u8 {
        match self {
            Source::ArxivApi | Source::ArxivOai => 4,
            Source::ArxivMetadata => 3,
            Source::HfDaily => 2,
            Source::Listing => 1,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything Paperboy knows about one paper, without its store id. Built only by
/// [`PaperDraft::finish`] (or read back from the store), so its fields are normalised and within
/// [`limits`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperRecord {
    /// The arXiv id without version; `None` for papers known only by title.
    pub arxiv_id: Option<ArxivId>,
    /// The latest arXiv version seen, when a source says.
    pub version: Option<u32>,
    pub title: String,
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    /// Author names in the order the paper gives them.
    pub authors: Vec<String>,
    /// arXiv category codes; the first one is the primary category.
    pub categories: Vec<String>,
    /// Date of the first version.
    pub published: Option<NaiveDate>,
    /// Date of the latest version.
    pub updated: Option<NaiveDate>,
    /// Days on which the paper appeared in a daily list.
    pub listing_dates: BTreeSet<NaiveDate>,
    pub doi: Option<String>,
    pub journal_ref: Option<String>,
    /// The authors' comment ("12 pages, 3 figures").
    pub comment: Option<String>,
    pub code_url: Option<String>,
    pub project_url: Option<String>,
    pub github_stars: Option<u32>,
    /// Upvotes counted elsewhere (Hugging Face), kept apart from Paperboy's own votes.
    pub external_upvotes: u32,
    pub source: Source,
}

/// A stored paper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paper {
    pub id: PaperId,
    #[serde(flatten)]
    pub record: PaperRecord,
    /// Upvotes cast by this site's signed-in readers (the record's `external_upvotes` came
    /// with the data).
    #[serde(default)]
    pub local_upvotes: u32,
    /// Hidden by an administrator: left out of every list, search and digest.
    #[serde(default)]
    pub hidden: bool,
}

impl Paper {
    /// A paper as stored, nobody having voted for it here yet.
    pub fn new(id: PaperId, record: PaperRecord) -> Paper {
        Paper {
            id,
            record,
            local_upvotes: 0,
            hidden: false,
        }
    }

    /// The count shown next to the upvote button: the imported upvotes (votes cast elsewhere,
    /// by other people) plus this site's own.
    pub fn upvotes(&self) -> u32 {
        self.record
            .external_upvotes
            .saturating_add(self.local_upvotes)
    }

    /// The key a paper is known by (in the API, on the command line): its arXiv id, else the
    /// store's number.
    pub fn key(&self) -> String {
        match &self.record.arxiv_id {
            Some(arxiv_id) => arxiv_id.to_string(),
            None => self.id.to_string(),
        }
    }

    /// [`Paper::key`] as one path segment (`/papers/KEY`): an old-style id's slash
    /// (`hep-th/9901001`) is escaped, `hep-th%2F9901001`, so that the key stays one segment;
    /// the router decodes it back.
    pub fn url_key(&self) -> String {
        key_segment(&self.key())
    }
}

/// A paper's key as one URL path segment: an old-style arXiv id's slash escaped
/// (`hep-th/9901001` → `hep-th%2F9901001`); see [`Paper::url_key`].
pub fn key_segment(key: &str) -> String {
    key.replace('/', "%2F")
}

impl PaperRecord {
    /// The primary arXiv category, if any.
    pub fn primary_category(&self) -> Option<&str> {
        self.categories.first().map(String::as_str)
    }

    /// The de-duplication key of the title (see [`title_key`]).
    pub fn title_key(&self) -> String {
        title_key(&self.title)
    }

    pub fn abstract_url(&self) -> Option<String> {
        self.arxiv_id
            .as_ref()
            .map(|id| format!("https://arxiv.org/abs/{id}"))
    }

    pub fn pdf_url(&self) -> Option<String> {
        self.arxiv_id
            .as_ref()
            .map(|id| format!("https://arxiv.org/pdf/{id}"))
    }

    /// The date a paper is sorted by when newest comes first: its latest listing, else its
    /// publication.
    pub fn sort_date(&self) -> Option<NaiveDate> {
        self.listing_dates.last().copied().or(self.published)
    }

    /// Folds another account of the same paper into this one and says whether anything changed.
    ///
    /// - The account with the newer arXiv version (else the later date, else the more
    ///   authoritative source) decides the bibliographic fields; fields it lacks are kept.
    /// - The other account may still fill fields this one lacks.
    /// - Listing dates are united; upvotes and GitHub stars keep the highest count seen;
    ///   a code or project link, once known, is replaced only by a newer account's link.
    pub fn merge(&mut self, incoming: PaperRecord) -> bool {
        let before = self.clone();
        let incoming_wins = incoming.is_at_least_as_new_as(self);
        let PaperRecord {
            arxiv_id,
            version,
            title,
            abstract_text,
            authors,
            categories,
            published,
            updated,
            listing_dates,
            doi,
            journal_ref,
            comment,
            code_url,
            project_url,
            github_stars,
            external_upvotes,
            source,
        } = incoming;

        if self.arxiv_id.is_none() {
            self.arxiv_id = arxiv_id;
        }
        if incoming_wins {
            self.title = title;
            if !abstract_text.is_empty() {
                self.abstract_text = abstract_text;
            }
            if !authors.is_empty() {
                self.authors = authors;
            }
            if !categories.is_empty() {
                self.categories = categories;
            }
            replace_if_some(&mut self.version, version);
            replace_if_some(&mut self.published, published);
            replace_if_some(&mut self.updated, updated);
            replace_if_some(&mut self.doi, doi);
            replace_if_some(&mut self.journal_ref, journal_ref);
            replace_if_some(&mut self.comment, comment);
            replace_if_some(&mut self.code_url, code_url);
            replace_if_some(&mut self.project_url, project_url);
            self.source = source;
        } else {
            if self.abstract_text.is_empty() {
                self.abstract_text = abstract_text;
            }
            if self.authors.is_empty() {
                self.authors = authors;
            }
            if self.categories.is_empty() {
                self.categories = categories;
            }
            fill_if_none(&mut self.version, version);
            fill_if_none(&mut self.published, published);
            fill_if_none(&mut self.updated, updated);
            fill_if_none(&mut self.doi, doi);
            fill_if_none(&mut self.journal_ref, journal_ref);
            fill_if_none(&mut self.comment, comment);
            fill_if_none(&mut self.code_url, code_url);
            fill_if_none(&mut self.project_url, project_url);
        }
        self.listing_dates.extend(listing_dates);
        self.external_upvotes = self.external_upvotes.max(external_upvotes);
        self.github_stars = self.github_stars.max(github_stars);
        *self != before
    }

    /// Whether `self` should decide the bibliographic fields over `other`.
    fn is_at_least_as_new_as(&self, other: &PaperRecord) -> bool {
        if let (Some(mine), Some(theirs)) = (self.version, other.version)
            && mine != theirs
        {
            return mine > theirs;
        }
        let my_date = self.updated.or(self.published);
        let their_date = other.updated.or(other.published);
        if let (Some(mine), Some(theirs)) = (my_date, their_date)
            && mine != theirs
        {
            return mine > theirs;
        }
        self.source.authority() >= other.source.authority()
    }
}

fn replace_if_some<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn fill_if_none<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// A record as a parser found it: raw strings, not yet checked. [`PaperDraft::finish`] turns it
/// into a [`PaperRecord`] or says what is wrong with it.
#[derive(Debug, Clone, Default)]
pub struct PaperDraft {
    /// An arXiv id in any accepted form, possibly with a version (see [`ArxivId`]).
    pub arxiv_id: Option<String>,
    /// A version given apart from the id (the id's own `vN` wins over it).
    pub version: Option<u32>,
    pub title: Option<String>,
    pub abstract_text: Option<String>,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    /// Put first among the categories when given.
    pub primary_category: Option<String>,
    /// `YYYY-MM-DD` or an RFC 3339 timestamp.
    pub published: Option<String>,
    pub updated: Option<String>,
    pub listing_dates: Vec<String>,
    pub doi: Option<String>,
    pub journal_ref: Option<String>,
    pub comment: Option<String>,
    pub code_url: Option<String>,
    pub project_url: Option<String>,
    pub github_stars: Option<i64>,
    pub external_upvotes: Option<i64>,
}

impl From<PaperRecord> for PaperDraft {
    /// Turns a record back into a draft, so that records read from an export go through the
    /// same checks as any other source.
    fn from(record: PaperRecord) -> Self {
        PaperDraft {
            arxiv_id: record.arxiv_id.map(|id| id.to_string()),
            version: record.version,
            title: Some(record.title),
            abstract_text: Some(record.abstract_text),
            authors: record.authors,
            categories: record.categories,
            primary_category: None,
            published: record.published.map(|date| date.to_string()),
            updated: record.updated.map(|date| date.to_string()),
            listing_dates: record
                .listing_dates
                .iter()
                .map(ToString::to_string)
                .collect(),
            doi: record.doi,
            journal_ref: record.journal_ref,
            comment: record.comment,
            code_url: record.code_url,
            project_url: record.project_url,
            github_stars: record.github_stars.map(i64::from),
            external_upvotes: Some(i64::from(record.external_upvotes)),
        }
    }
}

/// Why a record was rejected. The message names the field and the offending value (shortened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRecord(String);

impl InvalidRecord {
    pub fn new(message: impl Into<String>) -> Self {
        InvalidRecord(message.into())
    }
}

impl PaperDraft {
    /// Normalises and checks the draft.
    pub fn finish(self, source: Source) -> Result<PaperRecord, InvalidRecord> {
        let (arxiv_id, id_version) = match self.arxiv_id.as_deref().map(str::trim) {
            None | Some("") => (None, None),
            Some(raw) => {
                let (id, version) = ArxivId::parse_with_version(raw)
                    .map_err(|error| InvalidRecord(error.to_string()))?;
                (Some(id), version)
            }
        };

        let title = normalize_whitespace(self.title.as_deref().unwrap_or_default());
        if title.is_empty() {
            return Err(InvalidRecord::new("the record has no title"));
        }
        check_chars("title", &title, limits::MAX_TITLE_CHARS)?;
        let abstract_text = normalize_whitespace(self.abstract_text.as_deref().unwrap_or_default());
        check_chars("abstract", &abstract_text, limits::MAX_ABSTRACT_CHARS)?;

        if self.authors.len() > limits::MAX_AUTHORS {
            return Err(InvalidRecord(format!(
                "the record has {} authors; at most {} are accepted",
                self.authors.len(),
                limits::MAX_AUTHORS
            )));
        }
        let mut authors = Vec::with_capacity(self.authors.len());
        for author in &self.authors {
            let author = normalize_whitespace(author);
            check_chars("author name", &author, limits::MAX_AUTHOR_CHARS)?;
            if !author.is_empty() {
                authors.push(author);
            }
        }

        let categories = ordered_categories(self.primary_category, self.categories)?;

        let published = self
            .published
            .as_deref()
            .map(|text| parse_date("published date", text))
            .transpose()?;
        let updated = self
            .updated
            .as_deref()
            .map(|text| parse_date("updated date", text))
            .transpose()?;
        let listing_dates = self
            .listing_dates
            .iter()
            .map(|text| parse_date("listing date", text))
            .collect::<Result<BTreeSet<_>, _>>()?;

        Ok(PaperRecord {
            arxiv_id,
            version: id_version.or(self.version).filter(|&v| v > 0),
            title,
            abstract_text,
            authors,
            categories,
            published,
            updated: updated.filter(|&updated| Some(updated) != published),
            listing_dates,
            doi: optional_field("DOI", self.doi)?,
            journal_ref: optional_field("journal reference", self.journal_ref)?,
            comment: optional_field("comment", self.comment)?,
            code_url: optional_url("code link", self.code_url)?,
            project_url: optional_url("project link", self.project_url)?,
            github_stars: self
                .github_stars
                .map(|stars| count("GitHub stars", stars))
                .transpose()?,
            external_upvotes: self
                .external_upvotes
                .map(|upvotes| count("upvotes", upvotes))
                .transpose()?
                .unwrap_or(0),
            source,
        })
    }
}

fn check_chars(field: &str, text: &str, max: usize) -> Result<(), InvalidRecord> {
    // Byte length bounds the char count from above: only count when it might matter.
    if text.len() > max && text.chars().count() > max {
        return Err(InvalidRecord(format!(
            "the {field} is {} characters long; at most {max} are accepted",
            text.chars().count()
        )));
    }
    Ok(())
}

fn ordered_categories(
    primary: Option<String>,
    categories: Vec<String>,
) -> Result<Vec<String>, InvalidRecord> {
    let mut ordered: Vec<String> = Vec::with_capacity(categories.len().min(64) + 1);
    // A set, not a scan of `ordered`: a hostile record's million codes must not take 10^12 steps.
    let mut seen: HashSet<String> = HashSet::new();
    for raw in primary.into_iter().chain(categories) {
        let code = raw.trim();
        if code.is_empty() {
            continue;
        }
        if !taxonomy::is_well_formed_code(code) {
            return Err(InvalidRecord(format!(
                "'{}' is not an arXiv category code",
                shorten(code, 40)
            )));
        }
        if !seen.contains(code) {
            seen.insert(code.to_owned());
            ordered.push(code.to_owned());
        }
    }
    if ordered.len() > limits::MAX_CATEGORIES {
        return Err(InvalidRecord(format!(
            "the record has {} categories; at most {} are accepted",
            ordered.len(),
            limits::MAX_CATEGORIES
        )));
    }
    Ok(ordered)
}

/// Parses `YYYY-MM-DD` or an RFC 3339 timestamp (whose UTC date is taken).
pub(crate) fn parse_date(field: &str, text: &str) -> Result<NaiveDate, InvalidRecord> {
    let text = text.trim();
    let date = if text.len() > 10 {
        DateTime::parse_from_rfc3339(text)
            .map(|timestamp| timestamp.naive_utc().date())
            .map_err(|_| ())
    } else {
        parse_day(text).ok_or(())
    };
    let date = date.map_err(|()| {
        InvalidRecord(format!(
            "the {field} '{}' is not a valid date (expected YYYY-MM-DD)",
            shorten(text, 40)
        ))
    })?;
    if !limits::YEARS.contains(&date.year()) {
        return Err(InvalidRecord(format!(
            "the {field} '{date}' is outside {}–{}",
            limits::YEARS.start(),
            limits::YEARS.end()
        )));
    }
    Ok(date)
}

fn optional_field(field: &str, value: Option<String>) -> Result<Option<String>, InvalidRecord> {
    let Some(value) = value else { return Ok(None) };
    let value = normalize_whitespace(&value);
    if value.is_empty() {
        return Ok(None);
    }
    check_chars(field, &value, limits::MAX_FIELD_CHARS)?;
    Ok(Some(value))
}

/// Links are kept only when they are http(s) URLs: anything else (`javascript:`, relative
/// paths) is dropped rather than rendered later.
fn optional_url(field: &str, value: Option<String>) -> Result<Option<String>, InvalidRecord> {
    let value = optional_field(field, value)?;
    Ok(value.filter(|url| {
        let lower = url.to_ascii_lowercase();
        (lower.starts_with("https://") || lower.starts_with("http://")) && !url.contains(' ')
    }))
}

fn count(field: &str, value: i64) -> Result<u32, InvalidRecord> {
    u32::try_from(value).map_err(|_| InvalidRecord(format!("{field} {value} is not a count")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(id: &str, title: &str) -> PaperDraft {
        PaperDraft {
            arxiv_id: Some(id.into()),
            title: Some(title.into()),
            abstract_text: Some("An abstract.".into()),
            ..PaperDraft::default()
        }
    }

    fn date(text: &str) -> NaiveDate {
        parse_day(text).unwrap()
    }

    #[test]
    fn finish_normalises_text_and_orders_the_primary_category_first() {
        let record = PaperDraft {
            title: Some("  A title\n  wrapped ".into()),
            authors: vec![" Ada  Lovelace".into(), "".into(), "Alan Turing".into()],
            categories: vec!["cs.LG".into(), "stat.ML".into(), "cs.LG".into()],
            primary_category: Some("stat.ML".into()),
            published: Some("2022-01-04T04:56:57Z".into()),
            updated: Some("2022-01-04".into()),
            ..draft("2201.00978v2", "")
        }
        .finish(Source::ArxivApi)
        .unwrap();
        assert_eq!(record.title, "A title wrapped");
        assert_eq!(record.arxiv_id.unwrap().as_str(), "2201.00978");
        assert_eq!(record.version, Some(2));
        assert_eq!(record.authors, ["Ada Lovelace", "Alan Turing"]);
        assert_eq!(record.categories, ["stat.ML", "cs.LG"]);
        assert_eq!(record.published, Some(date("2022-01-04")));
        assert_eq!(
            record.updated, None,
            "an update on the publication day adds nothing"
        );
    }

    #[test]
    fn finish_rejects_bad_records_with_a_clear_reason() {
        let cases: Vec<(PaperDraft, &str)> = vec![
            (draft("2101.00001", "   "), "no title"),
            (draft("not-an-id", "T"), "is not an arXiv id"),
            (
                PaperDraft {
                    published: Some("2019-02-30".into()),
                    ..draft("2101.00001", "T")
                },
                "published date '2019-02-30' is not a valid date",
            ),
            (
                PaperDraft {
                    updated: Some("0001-01-01".into()),
                    ..draft("2101.00001", "T")
                },
                "outside 1900–2100",
            ),
            (
                PaperDraft {
                    abstract_text: Some("x".repeat(10 * 1024 * 1024)),
                    ..draft("2101.00001", "T")
                },
                "the abstract is 10485760 characters long",
            ),
            (
                PaperDraft {
                    categories: vec!["not a category".into()],
                    ..draft("2101.00001", "T")
                },
                "is not an arXiv category code",
            ),
            (
                PaperDraft {
                    external_upvotes: Some(-3),
                    ..draft("2101.00001", "T")
                },
                "upvotes -3 is not a count",
            ),
        ];
        for (draft, expected) in cases {
            let error = draft.finish(Source::HfDaily).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn unsafe_links_are_dropped() {
        let record = PaperDraft {
            code_url: Some("javascript:alert(1)".into()),
            project_url: Some("https://example.org/project".into()),
            ..draft("2101.00001", "T")
        }
        .finish(Source::HfDaily)
        .unwrap();
        assert_eq!(record.code_url, None);
        assert_eq!(
            record.project_url.as_deref(),
            Some("https://example.org/project")
        );
    }

    #[test]
    fn a_newer_version_replaces_bibliographic_fields_but_keeps_what_it_lacks() {
        let mut stored = PaperDraft {
            categories: vec!["cs.IR".into()],
            doi: Some("10.1/x".into()),
            ..draft("2101.00001v1", "Old title")
        }
        .finish(Source::ArxivOai)
        .unwrap();
        let newer = draft("2101.00001v2", "New title")
            .finish(Source::ArxivApi)
            .unwrap();
        assert!(stored.merge(newer));
        assert_eq!(stored.title, "New title");
        assert_eq!(stored.version, Some(2));
        assert_eq!(stored.categories, ["cs.IR"]);
        assert_eq!(stored.doi.as_deref(), Some("10.1/x"));

        let older = draft("2101.00001v1", "Old title")
            .finish(Source::ArxivApi)
            .unwrap();
        assert!(!stored.merge(older), "an older version changes nothing");
        assert_eq!(stored.title, "New title");
    }

    #[test]
    fn listing_dates_unite_and_counts_keep_their_maximum_in_any_order() {
        let day = |listing: &str, upvotes: i64| {
            PaperDraft {
                listing_dates: vec![listing.into()],
                external_upvotes: Some(upvotes),
                github_stars: Some(upvotes * 10),
                ..draft("2604.07429", "T")
            }
            .finish(Source::HfDaily)
            .unwrap()
        };
        let mut forward = day("2026-04-10", 2);
        assert!(forward.merge(day("2026-04-16", 42)));
        let mut backward = day("2026-04-16", 42);
        assert!(backward.merge(day("2026-04-10", 2)));
        assert_eq!(forward, backward);
        assert_eq!(forward.external_upvotes, 42);
        assert_eq!(forward.github_stars, Some(420));
        assert_eq!(forward.listing_dates.len(), 2);
        assert!(
            !forward.clone().merge(day("2026-04-16", 42)),
            "merging twice changes nothing"
        );
    }

    #[test]
    fn a_less_authoritative_source_fills_gaps_only() {
        let mut stored = PaperDraft {
            categories: vec!["cs.CL".into()],
            published: Some("2024-05-24".into()),
            ..draft("2405.15738", "ConvLLaVA")
        }
        .finish(Source::ArxivMetadata)
        .unwrap();
        let from_hf = PaperDraft {
            published: Some("2024-05-24T17:34:15.000Z".into()),
            code_url: Some("https://github.com/alibaba/conv-llava".into()),
            listing_dates: vec!["2024-05-27".into()],
            ..draft("2405.15738", "ConvLLaVA (HF copy)")
        }
        .finish(Source::HfDaily)
        .unwrap();
        assert!(stored.merge(from_hf));
        assert_eq!(stored.title, "ConvLLaVA");
        assert_eq!(stored.source, Source::ArxivMetadata);
        assert_eq!(
            stored.code_url.as_deref(),
            Some("https://github.com/alibaba/conv-llava")
        );
        assert_eq!(stored.sort_date(), Some(date("2024-05-27")));
    }
}
