//! Paperboy's importers: every paper format it meets, read as a stream.
//!
//! A file's format is decided by its content (gzip is unwrapped first), not by its name:
//!
//! | starts with | format |
//! | --- | --- |
//! | `<feed` | arXiv API response (Atom), current and legacy |
//! | `<OAI-PMH` | arXiv OAI-PMH `ListRecords`/`GetRecord`, `arXiv` or `oai_dc` metadata |
//! | `[` | Hugging Face daily-papers API response |
//! | `{` | JSON lines: arXiv metadata, Paperboy's export, or Hugging Face entries (by their keys) |
//! | other text | a saved listing page: a title line, then an abstract line |
//!
//! Parsers hand each record to a sink as soon as it is complete, so memory stays flat whatever
//! the file size. A bad record is reported as [`Item::Rejected`] and reading goes on; a broken
//! stream ends the file with a [`FileError`] after the good records before it were delivered.

mod authors;
mod error;
pub mod export;
mod files;
mod input;
mod json;
mod listing;
pub mod pipeline;
mod xml;

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::NaiveDate;
use paperboy_core::day::parse_day;
use paperboy_core::text::shorten;
use paperboy_core::{InvalidRecord, PaperDraft, PaperRecord, Source};

pub use error::{FileError, Position, RecordError};
pub use files::{ExpandedPaths, expand_paths};

use input::Shape;

/// The formats Paperboy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ArxivAtom,
    OaiPmh,
    HfDaily,
    HfDailyFlat,
    ArxivMetadata,
    PaperboyExport,
    Listing,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::ArxivAtom => "arXiv API (Atom)",
            Format::OaiPmh => "arXiv OAI-PMH",
            Format::HfDaily => "Hugging Face daily papers",
            Format::HfDailyFlat => "Hugging Face daily papers (flat JSON lines)",
            Format::ArxivMetadata => "arXiv metadata (JSON lines)",
            Format::PaperboyExport => "Paperboy export (JSON lines)",
            Format::Listing => "listing text",
        })
    }
}

/// What a parser hands to its sink.
#[derive(Debug)]
pub enum Item {
    Record {
        record: Box<PaperRecord>,
        position: Position,
    },
    Rejected(RecordError),
}

/// Receives records as they are parsed; returning `Break` stops reading early.
pub type Sink<'a> = dyn FnMut(Item) -> ControlFlow<()> + 'a;

/// Reads one file, whatever its format. `bytes_read` counts the raw bytes consumed, for a
/// progress bar against the file size.
pub fn read_file(
    path: &Path,
    bytes_read: Arc<AtomicU64>,
    sink: &mut Sink<'_>,
) -> Result<Format, FileError> {
    let metadata = std::fs::metadata(path).map_err(FileError::Open)?;
    if !metadata.is_file() {
        return Err(FileError::Unrecognised("it is not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(FileError::Open)?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    read_stream(&name, file, bytes_read, sink)
}

/// Reads a stream, whatever its format. `name` is the file name: a name starting with a
/// `YYYY-MM-DD` date gives the listing date of a Hugging Face daily list (as the API's
/// `?date=` parameter did when the file was saved).
pub fn read_stream<R: Read + Send + 'static>(
    name: &str,
    raw: R,
    bytes_read: Arc<AtomicU64>,
    sink: &mut Sink<'_>,
) -> Result<Format, FileError> {
    let mut reader = input::decompressing(raw, bytes_read)?;
    let listing_date = listing_date_from_name(name);
    match input::sniff(&mut *reader)? {
        Shape::Xml => xml::read(reader, sink),
        Shape::JsonArray => json::read_array(reader, listing_date, sink),
        Shape::JsonLines => json::read_lines(reader, listing_date, sink),
        Shape::Text => listing::read(reader, sink),
    }
}

fn listing_date_from_name(name: &str) -> Option<NaiveDate> {
    let prefix = name.get(..10)?;
    parse_day(prefix)
}

/// Finishes drafts and hands them on, numbering records and labelling rejections.
pub(crate) struct Emitter<'s, 'a> {
    sink: &'s mut Sink<'a>,
    source: Source,
    records: u64,
}

impl<'s, 'a> Emitter<'s, 'a> {
    pub(crate) fn new(sink: &'s mut Sink<'a>, source: Source) -> Self {
        Emitter {
            sink,
            source,
            records: 0,
        }
    }

    /// Starts the next record and returns its 1-based ordinal.
    pub(crate) fn next_record(&mut self) -> u64 {
        self.records += 1;
        self.records
    }

    pub(crate) fn set_source(&mut self, source: Source) {
        self.source = source;
    }

    /// Finishes a draft (or takes the parser's own complaint about it) and hands the result on.
    pub(crate) fn emit(
        &mut self,
        line: Option<u64>,
        draft: Result<PaperDraft, (Option<String>, InvalidRecord)>,
    ) -> ControlFlow<()> {
        let position = Position {
            record: Some(self.records),
            line,
        };
        let item = match draft {
            Err((label, reason)) => Item::Rejected(RecordError {
                position,
                label,
                reason,
            }),
            Ok(draft) => {
                let label = label_of(&draft);
                match draft.finish(self.source) {
                    Ok(record) => Item::Record {
                        record: Box::new(record),
                        position,
                    },
                    Err(reason) => Item::Rejected(RecordError {
                        position,
                        label,
                        reason,
                    }),
                }
            }
        };
        (self.sink)(item)
    }

    /// Reports a problem that is not tied to a draft (a line that is not JSON, say).
    pub(crate) fn reject(
        &mut self,
        position: Position,
        reason: impl Into<String>,
    ) -> ControlFlow<()> {
        (self.sink)(Item::Rejected(RecordError {
            position,
            label: None,
            reason: InvalidRecord::new(reason),
        }))
    }
}

/// A short name for a record in messages: its arXiv id, else the start of its title.
pub(crate) fn label_of(draft: &PaperDraft) -> Option<String> {
    if let Some(id) = draft.arxiv_id.as_deref().filter(|id| !id.trim().is_empty()) {
        return Some(shorten(id.trim(), 40));
    }
    let title = paperboy_core::text::normalize_whitespace(draft.title.as_deref()?);
    (!title.is_empty()).then(|| format!("\"{}\"", shorten(&title, 50)))
}
