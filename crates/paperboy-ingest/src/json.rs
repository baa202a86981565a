//! The JSON formats: the Hugging Face daily-papers API response (one JSON array), and JSON lines
//! whose schema is told by the keys of the first good line: arXiv metadata (this project's
//! 2019 sample or the widely used arXiv snapshot dump), Paperboy's own export, or Hugging Face
//! entries (raw or flattened).

use std::collections::BTreeMap;
use std::io::BufRead;

use chrono::NaiveDate;
use paperboy_core::text::shorten;
use paperboy_core::{InvalidRecord, PaperDraft, PaperRecord, Source};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::authors::split_author_list;
use crate::error::{FileError, Position};
use crate::input::{LineCounting, TextLine, TextLines};
use crate::{Emitter, Format, Sink};

/// Lines longer than this are skipped without being held in memory.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

type DraftResult = Result<PaperDraft, (Option<String>, InvalidRecord)>;

// ---------------------------------------------------------------------------------------------
// Hugging Face daily papers

#[derive(Deserialize)]
struct HfEntry {
    paper: HfPaper,
    #[serde(rename = "publishedAt")]
    published_at: Option<String>,
}

#[derive(Deserialize)]
struct HfPaper {
    id: String,
    title: Option<String>,
    summary: Option<String>,
    #[serde(default, deserialize_with = "bounded_list")]
    authors: Vec<HfAuthor>,
    #[serde(rename = "publishedAt")]
    published_at: Option<String>,
    #[serde(rename = "submittedOnDailyAt")]
    submitted_on_daily_at: Option<String>,
    upvotes: Option<i64>,
    #[serde(rename = "githubRepo")]
    github_repo: Option<String>,
    #[serde(rename = "githubStars")]
    github_stars: Option<i64>,
    #[serde(rename = "projectPage")]
    project_page: Option<String>,
}

#[derive(Deserialize)]
struct HfAuthor {
    name: String,
}

impl HfEntry {
    /// The listing date is the day of the list the entry was fetched from: the file's date when
    /// its name gives one, else the day it was submitted to the list, else the day it appeared.
    fn into_draft(self, listing_date: Option<NaiveDate>) -> PaperDraft {
        let paper = self.paper;
        let listed = listing_date
            .map(|date| date.to_string())
            .or(paper.submitted_on_daily_at)
            .or(self.published_at);
        PaperDraft {
            arxiv_id: Some(paper.id),
            title: paper.title,
            abstract_text: paper.summary,
            authors: paper
                .authors
                .into_iter()
                .map(|author| author.name)
                .collect(),
            published: paper.published_at,
            listing_dates: listed.into_iter().collect(),
            code_url: paper.github_repo,
            project_url: paper.project_page,
            github_stars: paper.github_stars,
            external_upvotes: paper.upvotes,
            ..PaperDraft::default()
        }
    }
}

/// One row of the flattened daily-papers file (`papers_flat.jsonl`).
#[derive(Deserialize)]
struct HfFlatRow {
    list_date: String,
    id: String,
    title: Option<String>,
    summary: Option<String>,
    #[serde(default, deserialize_with = "bounded_list")]
    authors: Vec<String>,
    published_at: Option<String>,
    upvotes: Option<i64>,
    github_repo: Option<String>,
    github_stars: Option<i64>,
    project_page: Option<String>,
}

impl HfFlatRow {
    fn into_draft(self) -> PaperDraft {
        PaperDraft {
            arxiv_id: Some(self.id),
            title: self.title,
            abstract_text: self.summary,
            authors: self.authors,
            published: self.published_at,
            listing_dates: vec![self.list_date],
            code_url: self.github_repo,
            project_url: self.project_page,
            github_stars: self.github_stars,
            external_upvotes: self.upvotes,
            ..PaperDraft::default()
        }
    }
}

/// Reads a daily-papers API response: a JSON array of entries, one record each.
pub(crate) fn read_array(
    reader: Box<dyn BufRead + Send>,
    listing_date: Option<NaiveDate>,
    sink: &mut Sink<'_>,
) -> Result<Format, FileError> {
    let mut emitter = Emitter::new(sink, Source::HfDaily);
    let mut elements = ArrayElements::new(reader);
    let mut element = Vec::new();
    while let Some((line, oversized)) = elements.next_into(&mut element)? {
        emitter.next_record();
        let draft = if oversized {
            Err((
                None,
                InvalidRecord::new(format!(
                    "the entry is over {MAX_LINE_BYTES} bytes long and was skipped"
                )),
            ))
        } else {
            typed_slice::<HfEntry>(&element, &["paper", "id"])
                .map(|entry| entry.into_draft(listing_date))
        };
        if emitter.emit(Some(line), draft).is_break() {
            break;
        }
    }
    Ok(Format::HfDaily)
}

/// Cuts a JSON array into the bytes of its elements without parsing them, so that a huge array
/// never sits in memory whole, each element is parsed straight into its type, and a bad element
/// rejects only itself.
struct ArrayElements {
    reader: LineCounting<Box<dyn BufRead + Send>>,
    opened: bool,
    finished: bool,
}

impl ArrayElements {
    fn new(reader: Box<dyn BufRead + Send>) -> Self {
        ArrayElements {
            reader: LineCounting::new(reader),
            opened: false,
            finished: false,
        }
    }

    fn broken(&self, message: &str) -> FileError {
        FileError::broken(Position::line(self.reader.line()), message)
    }

    fn read_error(&self, error: &std::io::Error) -> FileError {
        FileError::read(Position::line(self.reader.line()), error)
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn peek_significant(&mut self) -> Result<Option<u8>, FileError> {
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(error) => return Err(self.read_error(&error)),
            };
            let Some(&first) = buffer.first() else {
                return Ok(None);
            };
            if first.is_ascii_whitespace() {
                self.reader.consume(1);
            } else {
                return Ok(Some(first));
            }
        }
    }

    /// Copies the next element into `element` and returns the line it starts on and whether it
    /// was too large (and skipped, leaving `element` empty); `None` after the closing bracket.
    fn next_into(&mut self, element: &mut Vec<u8>) -> Result<Option<(u64, bool)>, FileError> {
        element.clear();
        if self.finished {
            return Ok(None);
        }
        if !self.opened {
            if self.peek_significant()? != Some(b'[') {
                return Err(self.broken("expected a JSON array"));
            }
            self.reader.consume(1);
            self.opened = true;
        } else {
            match self.peek_significant()? {
                Some(b',') => self.reader.consume(1),
                Some(b']') => {}
                Some(_) => {
                    return Err(self.broken("invalid JSON: expected ',' or ']' after an entry"));
                }
                None => return Err(self.broken("the JSON ends too early (a truncated file?)")),
            }
        }
        match self.peek_significant()? {
            Some(b']') => {
                self.reader.consume(1);
                self.finished = true;
                return match self.peek_significant()? {
                    None => Ok(None),
                    Some(_) => Err(self.broken("invalid JSON: text after the end of the array")),
                };
            }
            None => return Err(self.broken("the JSON ends too early (a truncated file?)")),
            Some(_) => {}
        }
        let start_line = self.reader.line();
        let (mut depth, mut in_string, mut escaped, mut oversized) = (0usize, false, false, false);
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(error) => return Err(self.read_error(&error)),
            };
            if buffer.is_empty() {
                return Err(self.broken("the JSON ends too early (a truncated file?)"));
            }
            let mut end = None;
            for (at, &byte) in buffer.iter().enumerate() {
                if in_string {
                    match (escaped, byte) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(at + 1);
                            break;
                        }
                    }
                    // A bare value (not an object) ends at the next separator.
                    b',' | b']' if depth == 0 => {
                        end = Some(at);
                        break;
                    }
                    _ => {}
                }
            }
            let taken = end.unwrap_or(buffer.len());
            if !oversized {
                if element.len() + taken > MAX_LINE_BYTES {
                    oversized = true;
                    element.clear();
                } else {
                    element.extend_from_slice(&buffer[..taken]);
                }
            }
            self.reader.consume(taken);
            if end.is_some() {
                return Ok(Some((start_line, oversized)));
            }
        }
    }
}

/// serde_json appends " at line L column C"; positions are reported separately.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------------
// arXiv metadata JSON lines

#[derive(Deserialize)]
struct ArxivMetadataLine {
    id: String,
    title: Option<String>,
    #[serde(rename = "abstract")]
    abstract_text: Option<String>,
    authors: Option<Authors>,
    categories: Option<Categories>,
    primary_category: Option<String>,
    /// Date of the first version (this project's sample).
    created: Option<String>,
    /// Date of the latest version (this project's sample).
    updated: Option<String>,
    /// Version history (the arXiv snapshot dump).
    #[serde(default, deserialize_with = "bounded_list")]
    versions: Vec<SnapshotVersion>,
    /// Date the metadata was last updated (the arXiv snapshot dump).
    update_date: Option<String>,
    doi: Option<String>,
    comments: Option<String>,
    #[serde(alias = "journal-ref")]
    journal_ref: Option<String>,
}

/// Authors or categories: one string, or a list of strings.
enum TextOrList {
    Text(String),
    List(Vec<String>),
}

type Authors = TextOrList;
type Categories = TextOrList;

impl<'de> Deserialize<'de> for TextOrList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // By hand, not `#[serde(untagged)]`: that copies the whole value into a buffer first,
        // a dozen times the line's size for a long list.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TextOrList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TextOrList, E> {
                Ok(TextOrList::Text(text.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<TextOrList, E> {
                Ok(TextOrList::Text(text))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<TextOrList, A::Error> {
                collect_at_most(seq, MAX_LIST_ITEMS).map(TextOrList::List)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The most items a list in a JSON record may have (authors, categories, versions): past it
/// the record is rejected without reading the rest of the list, so that a line of a million
/// tiny items never becomes a million strings. Records are accepted with at most
/// [`paperboy_core::limits::MAX_AUTHORS`] authors anyway.
const MAX_LIST_ITEMS: usize = paperboy_core::limits::MAX_AUTHORS;

fn collect_at_most<'de, A, T>(mut seq: A, max: usize) -> Result<Vec<T>, A::Error>
where
    A: serde::de::SeqAccess<'de>,
    T: Deserialize<'de>,
{
    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
    while let Some(item) = seq.next_element()? {
        if items.len() == max {
            return Err(serde::de::Error::custom(format!(
                "a list has more than {max} items; at most {max} are accepted"
            )));
        }
        items.push(item);
    }
    Ok(items)
}

/// `deserialize_with` for a list of at most [`MAX_LIST_ITEMS`] items.
fn bounded_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Visitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            collect_at_most(seq, MAX_LIST_ITEMS)
        }
    }
    deserializer.deserialize_seq(Visitor(std::marker::PhantomData))
}

#[derive(Deserialize)]
struct SnapshotVersion {
    version: String,
    created: String,
}

impl ArxivMetadataLine {
    fn into_draft(self) -> Result<PaperDraft, (Option<String>, InvalidRecord)> {
        let label = Some(shorten(&self.id, 40));
        let authors = match self.authors {
            Some(TextOrList::Text(text)) => split_author_list(&text),
            Some(TextOrList::List(list)) => list,
            None => Vec::new(),
        };
        let categories = match self.categories {
            Some(TextOrList::Text(text)) => text.split_whitespace().map(str::to_owned).collect(),
            Some(TextOrList::List(list)) => list,
            None => Vec::new(),
        };
        let mut versions = Vec::with_capacity(self.versions.len());
        for version in &self.versions {
            let number = version
                .version
                .trim_start_matches('v')
                .parse::<u32>()
                .map_err(|_| {
                    (
                        label.clone(),
                        InvalidRecord::new(format!(
                            "'{}' is not a version",
                            shorten(&version.version, 20)
                        )),
                    )
                })?;
            let date = chrono::DateTime::parse_from_rfc2822(version.created.trim())
                .map_err(|_| {
                    (
                        label.clone(),
                        InvalidRecord::new(format!(
                            "the version date '{}' is not a valid date",
                            shorten(&version.created, 40)
                        )),
                    )
                })?
                .naive_utc()
                .date();
            versions.push((number, date));
        }
        versions.sort();
        let first_version_date = versions.first().map(|(_, date)| date.to_string());
        let latest_version = versions.last().copied();
        Ok(PaperDraft {
            arxiv_id: Some(self.id),
            version: latest_version.map(|(number, _)| number),
            title: self.title,
            abstract_text: self.abstract_text,
            authors,
            categories,
            primary_category: self.primary_category,
            published: self.created.or(first_version_date),
            updated: self
                .updated
                .or_else(|| latest_version.map(|(_, date)| date.to_string()))
                .or(self.update_date.filter(|_| versions.is_empty())),
            doi: self.doi,
            journal_ref: self.journal_ref,
            comment: self.comments,
            ..PaperDraft::default()
        })
    }
}

// ---------------------------------------------------------------------------------------------
// JSON lines

/// The schemas a JSON-lines file can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineSchema {
    ArxivMetadata,
    PaperboyExport,
    HfEntry,
    HfFlat,
}

impl LineSchema {
    fn of(object: &BTreeMap<String, IgnoredAny>) -> Option<Self> {
        let has = |key: &str| object.contains_key(key);
        if has("paper") {
            Some(LineSchema::HfEntry)
        } else if has("list_date") && has("id") {
            Some(LineSchema::HfFlat)
        } else if has("listing_dates") && has("source") {
            Some(LineSchema::PaperboyExport)
        } else if has("id") && has("title") && has("abstract") {
            Some(LineSchema::ArxivMetadata)
        } else {
            None
        }
    }

    fn format(self) -> Format {
        match self {
            LineSchema::ArxivMetadata => Format::ArxivMetadata,
            LineSchema::PaperboyExport => Format::PaperboyExport,
            LineSchema::HfEntry => Format::HfDaily,
            LineSchema::HfFlat => Format::HfDailyFlat,
        }
    }

    fn source(self) -> Source {
        match self {
            LineSchema::ArxivMetadata => Source::ArxivMetadata,
            LineSchema::PaperboyExport => Source::Listing,
            LineSchema::HfEntry | LineSchema::HfFlat => Source::HfDaily,
        }
    }

    fn parse(self, line: &str, listing_date: Option<NaiveDate>) -> (DraftResult, Option<Source>) {
        match self {
            LineSchema::ArxivMetadata => (
                typed_line::<ArxivMetadataLine>(line, &["id"])
                    .and_then(ArxivMetadataLine::into_draft),
                None,
            ),
            LineSchema::HfEntry => (
                typed_line::<HfEntry>(line, &["paper", "id"])
                    .map(|entry| entry.into_draft(listing_date)),
                None,
            ),
            LineSchema::HfFlat => (
                typed_line::<HfFlatRow>(line, &["id"]).map(HfFlatRow::into_draft),
                None,
            ),
            LineSchema::PaperboyExport => match typed_line::<PaperRecord>(line, &["arxiv_id"]) {
                Ok(record) => {
                    let source = record.source;
                    (Ok(PaperDraft::from(record)), Some(source))
                }
                Err(error) => (Err(error), None),
            },
        }
    }
}

/// Parses one element of an array straight into its typed record (see [`typed_line`]).
fn typed_slice<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    label_path: &[&str],
) -> Result<T, (Option<String>, InvalidRecord)> {
    match std::str::from_utf8(bytes) {
        Ok(text) => typed_line(text, label_path),
        Err(_) => Err((
            None,
            InvalidRecord::new("the entry is not valid UTF-8 text"),
        )),
    }
}

/// Parses a line straight into its typed record; only when that fails is the line parsed again
/// loosely, to find the record's id for the message.
fn typed_line<T: for<'de> Deserialize<'de>>(
    line: &str,
    label_path: &[&str],
) -> Result<T, (Option<String>, InvalidRecord)> {
    serde_json::from_str::<T>(line).map_err(|error| {
        let label = label_of_line(line, label_path);
        let reason = if error.is_syntax() || error.is_eof() {
            format!("invalid JSON: {}", strip_position(&error))
        } else {
            strip_position(&error)
        };
        (label, InvalidRecord::new(reason))
    })
}

/// The id of a record whose line did not parse as its type, for the message: read into a
/// struct of ids only (every other value is skipped unbuilt), not into a tree of the whole line.
fn label_of_line(line: &str, path: &[&str]) -> Option<String> {
    #[derive(Deserialize)]
    struct Ids {
        id: Option<serde_json::Value>,
        arxiv_id: Option<serde_json::Value>,
        paper: Option<Box<Ids>>,
    }
    let ids: Ids = serde_json::from_str(line).ok()?;
    let value = match path {
        ["paper", "id"] => ids.paper?.id?,
        ["arxiv_id"] => ids.arxiv_id?,
        _ => ids.id?,
    };
    value.as_str().map(|id| shorten(id, 40))
}

/// Reads JSON lines, one record a line; blank lines are skipped.
pub(crate) fn read_lines(
    reader: Box<dyn BufRead + Send>,
    listing_date: Option<NaiveDate>,
    sink: &mut Sink<'_>,
) -> Result<Format, FileError> {
    let mut emitter = Emitter::new(sink, Source::ArxivMetadata);
    let mut schema: Option<LineSchema> = None;
    let mut lines = TextLines::new(reader, MAX_LINE_BYTES);
    while let Some((line_number, line)) = lines.next_line()? {
        let flow = match line {
            TextLine::Text(text) if text.trim().is_empty() => continue,
            TextLine::Unusable(reason) => {
                emitter.next_record();
                emitter.reject(
                    Position::record_at_line(emitter.records, line_number),
                    reason,
                )
            }
            TextLine::Text(text) => {
                emitter.next_record();
                let schema = match schema {
                    Some(schema) => schema,
                    None => match detect_schema(text) {
                        Ok(detected) => {
                            emitter.set_source(detected.source());
                            *schema.insert(detected)
                        }
                        Err(DetectError::NotJson(reason)) => {
                            let position = Position::record_at_line(emitter.records, line_number);
                            if emitter.reject(position, reason).is_break() {
                                break;
                            }
                            continue;
                        }
                        Err(DetectError::UnknownKeys(keys)) => {
                            return Err(FileError::Unrecognised(format!(
                                "JSON lines with the keys {keys} are not a known paper format"
                            )));
                        }
                    },
                };
                let (draft, own_source) = schema.parse(text, listing_date);
                if let Some(source) = own_source {
                    emitter.set_source(source);
                }
                emitter.emit(Some(line_number), draft)
            }
        };
        if flow.is_break() {
            break;
        }
    }
    match schema {
        Some(schema) => Ok(schema.format()),
        None if emitter.records == 0 => Err(FileError::Empty),
        None => Err(FileError::Unrecognised(
            "no line holds a JSON object".into(),
        )),
    }
}

enum DetectError {
    NotJson(String),
    UnknownKeys(String),
}

fn detect_schema(line: &str) -> Result<LineSchema, DetectError> {
    // The keys only: the values are checked but not built.
    let object: BTreeMap<String, IgnoredAny> =
        serde_json::from_str(line).map_err(|error| match error.classify() {
            serde_json::error::Category::Data => {
                DetectError::NotJson("the line is not a JSON object".into())
            }
            _ => DetectError::NotJson(format!("invalid JSON: {}", strip_position(&error))),
        })?;
    LineSchema::of(&object).ok_or_else(|| {
        let keys: Vec<&str> = object.keys().take(8).map(String::as_str).collect();
        DetectError::UnknownKeys(shorten(&keys.join(", "), 120))
    })
}
