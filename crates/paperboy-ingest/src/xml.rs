//! The XML formats (arXiv's Atom API and OAI-PMH), read as a stream of elements.
//!
//! [`XmlReader`] wraps quick-xml with what both parsers need: local names without namespace
//! prefixes, element text with entities resolved and a size cap, and the line of every problem.
//!
//! quick-xml holds each token (a run of text, a tag with its attributes, a comment, a CDATA
//! section, a doctype) whole in memory, and the name of every open element. So that a stream
//! without a `<` or with endless nesting cannot take all memory, a token longer than
//! [`MAX_TOKEN_BYTES`] or nesting deeper than [`MAX_DEPTH`] ends the file with an error saying
//! where.

mod atom;
mod oai;

use std::io::{self, BufRead, Read};

use paperboy_core::{InvalidRecord, PaperDraft, limits};
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use crate::error::{FileError, Position};
use crate::input::LineCounting;
use crate::{Format, Sink, label_of};

pub(crate) type DraftResult = Result<PaperDraft, (Option<String>, InvalidRecord)>;

/// Text longer than this (in bytes) is not kept: the record is rejected as too large. It leaves
/// room for multi-byte characters under the character limits that
/// [`paperboy_core::PaperDraft::finish`] checks exactly.
const MAX_TEXT_BYTES: usize = limits::MAX_ABSTRACT_CHARS * 4;

/// The longest token quick-xml may read (see the module documentation), as long as the longest
/// JSON line read: a record with a 10 MB abstract is still rejected alone, as in every format.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting of elements read; arXiv's formats nest fewer than ten deep.
pub(crate) const MAX_DEPTH: usize = 256;

/// The attributes kept of one element; the parsers read one or two.
const MAX_ATTRIBUTES: usize = 16;

/// Reads an XML document whose root element says which format it is.
pub(crate) fn read(
    reader: Box<dyn BufRead + Send>,
    sink: &mut Sink<'_>,
) -> Result<Format, FileError> {
    let mut xml = XmlReader::new(reader);
    loop {
        match xml.next()? {
            Tag::Start(root) | Tag::Empty(root) => {
                return match root.name.as_str() {
                    "feed" => atom::read(&mut xml, sink),
                    "OAI-PMH" => oai::read(&mut xml, sink),
                    other => Err(FileError::Unrecognised(format!(
                        "an XML document whose root element is <{}>, not an arXiv Atom feed or OAI-PMH response",
                        paperboy_core::text::shorten(other, 40)
                    ))),
                };
            }
            Tag::Eof => {
                return Err(FileError::Unrecognised(
                    "an XML document without elements".into(),
                ));
            }
            Tag::End(_) => {}
        }
    }
}

/// An element's local name and attributes.
#[derive(Debug)]
pub(crate) struct Element {
    pub(crate) name: String,
    attributes: Vec<(String, String)>,
}

impl Element {
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The structural events the parsers act on; text is read with [`XmlReader::text`].
#[derive(Debug)]
pub(crate) enum Tag {
    Start(Element),
    Empty(Element),
    End(String),
    Eof,
}

/// The text of an element.
#[derive(Debug)]
pub(crate) enum Text {
    Complete(String),
    /// Longer than [`MAX_TEXT_BYTES`]; only its length was kept.
    TooLong(usize),
}

/// A [`BufRead`] that fails once more than [`MAX_TOKEN_BYTES`] were consumed since the last
/// [`TokenLimit::start_token`]: quick-xml reads one token per call and keeps all of it.
struct TokenLimit<R> {
    inner: R,
    consumed: usize,
}

/// The error [`TokenLimit`] fails with, told apart from real read errors by its type.
#[derive(Debug)]
struct TokenTooLong;

impl std::fmt::Display for TokenTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a piece of text, a tag or a comment is over {MAX_TOKEN_BYTES} bytes long"
        )
    }
}

impl std::error::Error for TokenTooLong {}

impl<R> TokenLimit<R> {
    fn start_token(&mut self) {
        self.consumed = 0;
    }
}

impl<R: BufRead> Read for TokenLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::input::read_through_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for TokenLimit<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed > MAX_TOKEN_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, TokenTooLong));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed = self.consumed.saturating_add(amount);
        self.inner.consume(amount);
    }
}

pub(crate) struct XmlReader {
    reader: Reader<TokenLimit<LineCounting<Box<dyn BufRead + Send>>>>,
    buffer: Vec<u8>,
    /// Elements open now.
    depth: usize,
}

impl XmlReader {
    fn new(reader: Box<dyn BufRead + Send>) -> Self {
        let mut reader = Reader::from_reader(TokenLimit {
            inner: LineCounting::new(reader),
            consumed: 0,
        });
        reader.config_mut().check_end_names = true;
        XmlReader {
            reader,
            buffer: Vec::with_capacity(8 * 1024),
            depth: 0,
        }
    }

    /// The line the reader has reached.
    pub(crate) fn line(&self) -> u64 {
        self.reader.get_ref().inner.line()
    }

    fn error(&self, error: quick_xml::Error) -> FileError {
        let position = Position::line(self.line());
        match error {
            quick_xml::Error::Io(io) => {
                match io.get_ref().and_then(|e| e.downcast_ref::<TokenTooLong>()) {
                    Some(too_long) => FileError::broken(position, too_long.to_string()),
                    None => FileError::read(position, &io),
                }
            }
            other => FileError::broken(position, format!("invalid XML: {other}")),
        }
    }

    /// Counts an element opened (refusing nesting past [`MAX_DEPTH`]) or closed.
    fn nest(&mut self, opened: bool) -> Result<(), FileError> {
        if !opened {
            self.depth = self.depth.saturating_sub(1);
            return Ok(());
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FileError::broken(
                Position::line(self.line()),
                format!("elements are nested more than {MAX_DEPTH} deep"),
            ));
        }
        Ok(())
    }

    /// The next start, end or empty tag, skipping text, comments and declarations.
    pub(crate) fn next(&mut self) -> Result<Tag, FileError> {
        loop {
            self.buffer.clear();
            self.reader.get_mut().start_token();
            let event = match self.reader.read_event_into(&mut self.buffer) {
                Ok(event) => event,
                Err(error) => return Err(self.error(error)),
            };
            let tag = match event {
                Event::Start(start) => Tag::Start(element(&start)),
                Event::Empty(start) => Tag::Empty(element(&start)),
                Event::End(end) => Tag::End(end.local_name().as_ref().to_owned()),
                Event::Eof => Tag::Eof,
                _ => continue,
            };
            match tag {
                Tag::Start(_) => self.nest(true)?,
                Tag::End(_) => self.nest(false)?,
                _ => {}
            }
            return Ok(tag);
        }
    }

    /// Reads the text of the element just started, up to its end tag. Text of nested elements is
    /// included; entities and character references are resolved.
    pub(crate) fn text(&mut self) -> Result<Text, FileError> {
        let mut text = String::new();
        let mut length = 0usize;
        let mut depth = 0usize;
        loop {
            self.buffer.clear();
            self.reader.get_mut().start_token();
            let event = match self.reader.read_event_into(&mut self.buffer) {
                Ok(event) => event,
                Err(error) => return Err(self.error(error)),
            };
            let piece: std::borrow::Cow<'_, str> = match event {
                Event::Text(content) => content.xml10_content(),
                Event::CData(content) => content.xml10_content(),
                Event::GeneralRef(reference) => match reference.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string().into(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .map(Into::into)
                        // An unknown entity is kept as written rather than lost.
                        .unwrap_or_else(|| format!("&{};", &*reference).into()),
                    Err(_) => format!("&{};", &*reference).into(),
                },
                Event::Start(_) => {
                    depth += 1;
                    self.nest(true)?;
                    continue;
                }
                Event::End(_) if depth == 0 => {
                    self.nest(false)?;
                    break;
                }
                Event::End(_) => {
                    depth -= 1;
                    self.nest(false)?;
                    continue;
                }
                Event::Eof => {
                    return Err(FileError::broken(
                        Position::line(self.line()),
                        "the document ends inside an element",
                    ));
                }
                _ => continue,
            };
            length += piece.len();
            if length <= MAX_TEXT_BYTES {
                text.push_str(&piece);
            }
        }
        Ok(if length > MAX_TEXT_BYTES {
            Text::TooLong(length)
        } else {
            Text::Complete(text)
        })
    }

    /// Skips the rest of the element just started.
    pub(crate) fn skip(&mut self) -> Result<(), FileError> {
        self.text().map(drop)
    }
}

fn element(start: &BytesStart<'_>) -> Element {
    let mut attributes = Vec::new();
    // Without the duplicate check, which compares every attribute with all before it.
    for attribute in start
        .attributes()
        .with_checks(false)
        .flatten()
        .take(MAX_ATTRIBUTES)
    {
        let key = attribute.key.local_name().as_ref().to_owned();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|value| value.into_owned())
            .unwrap_or_else(|_| attribute.value.clone().into_owned());
        attributes.push((key, value));
    }
    Element {
        name: start.local_name().as_ref().to_owned(),
        attributes,
    }
}

/// Collects a record's fields, remembering the first problem found (the record is then rejected
/// whole once its end tag is reached, so the parser stays in step with the document).
#[derive(Debug, Default)]
pub(crate) struct FieldProblems(Option<String>);

impl FieldProblems {
    /// Returns the text, or notes that it was too long and returns nothing.
    pub(crate) fn take(&mut self, field: &str, text: Text) -> Option<String> {
        match text {
            Text::Complete(text) => Some(text),
            Text::TooLong(length) => {
                self.0.get_or_insert_with(|| {
                    format!("the {field} is {length} bytes long; at most {MAX_TEXT_BYTES} are read")
                });
                None
            }
        }
    }

    /// Adds an author, noting a problem (and keeping no more) past [`limits::MAX_AUTHORS`], so
    /// that a record of endless authors holds bounded memory.
    pub(crate) fn add_author(&mut self, authors: &mut Vec<String>, name: String) {
        if authors.len() < limits::MAX_AUTHORS {
            authors.push(name);
        } else {
            self.0.get_or_insert_with(|| {
                format!(
                    "the record has more than {} authors; at most {} are accepted",
                    limits::MAX_AUTHORS,
                    limits::MAX_AUTHORS
                )
            });
        }
    }

    /// Adds a category code unless it is there already, noting a problem (and keeping no more)
    /// past [`limits::MAX_CATEGORIES`] different ones.
    pub(crate) fn add_category(&mut self, categories: &mut Vec<String>, code: &str) {
        if categories.iter().any(|known| known == code) {
            return;
        }
        if categories.len() < limits::MAX_CATEGORIES {
            categories.push(code.to_owned());
        } else {
            self.0.get_or_insert_with(|| {
                format!(
                    "the record has more than {} categories; at most {} are accepted",
                    limits::MAX_CATEGORIES,
                    limits::MAX_CATEGORIES
                )
            });
        }
    }

    /// The draft, or the record's rejection if a problem was noted.
    pub(crate) fn finish(self, draft: PaperDraft) -> DraftResult {
        match self.0 {
            Some(problem) => Err((label_of(&draft), InvalidRecord::new(problem))),
            None => Ok(draft),
        }
    }
}
