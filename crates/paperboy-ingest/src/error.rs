//! What can go wrong while reading a file, and where.
//!
//! Two kinds of failure, kept apart because they end differently: a [`RecordError`] rejects one
//! record and reading goes on with the next; a [`FileError`] ends the file (it cannot be opened,
//! is empty, is not a known format, or breaks off mid-stream), after which the records already
//! delivered stay delivered.

use std::fmt;
use std::io;

use paperboy_core::InvalidRecord;

/// Where in a file something was found: the record's ordinal (1-based) and/or a line number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub record: Option<u64>,
    pub line: Option<u64>,
}

impl Position {
    pub fn line(line: u64) -> Self {
        Position {
            record: None,
            line: Some(line),
        }
    }

    pub fn record(record: u64) -> Self {
        Position {
            record: Some(record),
            line: None,
        }
    }

    pub fn record_at_line(record: u64, line: u64) -> Self {
        Position {
            record: Some(record),
            line: Some(line),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.record, self.line) {
            (Some(record), Some(line)) => write!(f, "record {record} (line {line})"),
            (Some(record), None) => write!(f, "record {record}"),
            (None, Some(line)) => write!(f, "line {line}"),
            (None, None) => f.write_str("start of file"),
        }
    }
}

/// One record that was rejected; the rest of the file is still read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}{}: {reason}", label.as_ref().map(|label| format!(" ({label})")).unwrap_or_default())]
pub struct RecordError {
    pub position: Position,
    /// The record's arXiv id, or the start of its title, when known.
    pub label: Option<String>,
    pub reason: InvalidRecord,
}

/// A failure that ends the reading of a file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read it: {0}")]
    Open(#[source] io::Error),
    #[error("it is empty")]
    Empty,
    #[error("it is not in a format Paperboy reads: {0}")]
    Unrecognised(String),
    /// The stream broke off or stopped parsing at `position`.
    #[error("{position}: {message}")]
    Broken { position: Position, message: String },
}

impl FileError {
    pub(crate) fn broken(position: Position, message: impl Into<String>) -> Self {
        FileError::Broken {
            position,
            message: message.into(),
        }
    }

    /// A read error mid-stream, described for people: a truncated gzip stream is the usual
    /// cause.
    pub(crate) fn read(position: Position, error: &io::Error) -> Self {
        let message = match error.kind() {
            io::ErrorKind::UnexpectedEof => {
                "the file ends too early (a truncated download or gzip stream?)".to_owned()
            }
            io::ErrorKind::InvalidData => format!("the data is corrupt ({error})"),
            _ => format!("reading failed: {error}"),
        };
        FileError::broken(position, message)
    }
}
