//! Byte streams in: transparent gzip, progress counting, line counting, format sniffing and
//! bounded line reading, so that every parser reads a plain text stream of any size in constant
//! memory.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use crate::error::{FileError, Position};

const BUFFER_SIZE: usize = 64 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Counts the bytes pulled from the underlying (possibly compressed) file, for progress bars.
#[derive(Debug)]
pub(crate) struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// Opens a stream, decompressing it when it starts with the gzip magic bytes.
pub(crate) fn decompressing<R: Read + Send + 'static>(
    raw: R,
    bytes_read: Arc<AtomicU64>,
) -> Result<Box<dyn BufRead + Send>, FileError> {
    let mut buffered = BufReader::with_capacity(
        BUFFER_SIZE,
        CountingReader {
            inner: raw,
            count: bytes_read,
        },
    );
    let head = buffered.fill_buf().map_err(FileError::Open)?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            BUFFER_SIZE,
            MultiGzDecoder::new(buffered),
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

/// What the first bytes of a (decompressed) stream look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Starts with `<`.
    Xml,
    /// Starts with `[`.
    JsonArray,
    /// Starts with `{`.
    JsonLines,
    /// Anything else that is text.
    Text,
}

/// Looks at the start of the stream, without consuming anything but a byte-order mark and
/// leading whitespace.
pub(crate) fn sniff(reader: &mut dyn BufRead) -> Result<Shape, FileError> {
    loop {
        let buffer = reader
            .fill_buf()
            .map_err(|error| FileError::read(Position::default(), &error))?;
        if buffer.is_empty() {
            return Err(FileError::Empty);
        }
        let skip_bom = if buffer.starts_with(&[0xef, 0xbb, 0xbf]) {
            3
        } else {
            0
        };
        let content = &buffer[skip_bom..];
        match content.iter().position(|b| !b.is_ascii_whitespace()) {
            None => {
                let consumed = buffer.len();
                reader.consume(consumed);
            }
            Some(start) => {
                let content = &content[start..];
                if looks_binary(content) {
                    return Err(FileError::Unrecognised(
                        "it holds binary data, not text".into(),
                    ));
                }
                let shape = match content[0] {
                    b'<' => Shape::Xml,
                    b'[' => Shape::JsonArray,
                    b'{' => Shape::JsonLines,
                    _ => Shape::Text,
                };
                reader.consume(skip_bom + start);
                return Ok(shape);
            }
        }
    }
}

/// NUL bytes or invalid UTF-8 in the first buffer mean this is not a text format.
fn looks_binary(head: &[u8]) -> bool {
    if head.contains(&0) {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => false,
        // A character cut at the end of the buffer is fine; anything else is not UTF-8.
        Err(error) => error.error_len().is_some(),
    }
}

/// A [`BufRead`] that counts the newlines it has handed out, so parsers that read through it
/// can say on which line a record sits.
#[derive(Debug)]
pub(crate) struct LineCounting<R> {
    inner: R,
    newlines: u64,
}

impl<R> LineCounting<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineCounting { inner, newlines: 0 }
    }

    /// The 1-based line of the next unread byte.
    pub(crate) fn line(&self) -> u64 {
        self.newlines + 1
    }
}

/// `Read::read` for a reader whose own `BufRead` methods do its work (counting, limiting), so
/// that reading either way goes through them.
pub(crate) fn read_through_buffer(reader: &mut impl BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

impl<R: BufRead> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_through_buffer(self, buf)
    }
}

impl<R: BufRead> BufRead for LineCounting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffer) = self.inner.fill_buf() {
            let end = amount.min(buffer.len());
            self.newlines += buffer[..end].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.inner.consume(amount);
    }
}

/// Reads a text stream line by line, numbering lines from 1 and never holding more than
/// `max_bytes` of one line.
pub(crate) struct TextLines {
    reader: Box<dyn BufRead + Send>,
    bytes: Vec<u8>,
    text: String,
    number: u64,
    max_bytes: usize,
}

/// A line from [`TextLines`].
#[derive(Debug)]
pub(crate) enum TextLine<'a> {
    Text(&'a str),
    /// A line that cannot be read as text, with why (too long, not UTF-8).
    Unusable(String),
}

impl TextLines {
    pub(crate) fn new(reader: Box<dyn BufRead + Send>, max_bytes: usize) -> Self {
        TextLines {
            reader,
            bytes: Vec::new(),
            text: String::new(),
            number: 0,
            max_bytes,
        }
    }

    /// The next line and its number, `None` at the end of the stream.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, TextLine<'_>)>, FileError> {
        self.number += 1;
        let number = self.number;
        let status = read_bounded_line(
            &mut *self.reader,
            &mut self.bytes,
            &mut self.text,
            self.max_bytes,
        )
        .map_err(|error| FileError::read(Position::line(number), &error))?;
        Ok(match status {
            Line::Eof => None,
            Line::Complete => Some((number, TextLine::Text(&self.text))),
            Line::TooLong(length) => Some((
                number,
                TextLine::Unusable(format!(
                    "the line is {length} bytes long; lines over {} bytes are skipped",
                    self.max_bytes
                )),
            )),
            Line::NotUtf8 => Some((
                number,
                TextLine::Unusable("the line is not valid UTF-8 text".into()),
            )),
        })
    }
}

/// One line read by [`read_bounded_line`].
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A complete line (without its line ending) is in the buffer.
    Complete,
    /// The line was longer than the limit and was skipped; its full length in bytes.
    TooLong(u64),
    /// The line is not valid UTF-8.
    NotUtf8,
    Eof,
}

/// Reads one line into `line`, never holding more than `max_bytes` of it: longer lines are
/// consumed and reported as [`Line::TooLong`].
fn read_bounded_line(
    reader: &mut dyn BufRead,
    bytes: &mut Vec<u8>,
    line: &mut String,
    max_bytes: usize,
) -> io::Result<Line> {
    bytes.clear();
    line.clear();
    let mut total: u64 = 0;
    let mut overflowed = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            if total == 0 {
                return Ok(Line::Eof);
            }
            break;
        }
        let (chunk, found_newline) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..=at], true),
            None => (buffer, false),
        };
        let taken = chunk.len();
        total += taken as u64;
        if !overflowed {
            if bytes.len() + taken > max_bytes.saturating_add(2) {
                overflowed = true;
                bytes.clear();
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
        reader.consume(taken);
        if found_newline {
            break;
        }
    }
    if overflowed {
        return Ok(Line::TooLong(total));
    }
    while bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        bytes.pop();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            line.push_str(text);
            Ok(Line::Complete)
        }
        Err(_) => Ok(Line::NotUtf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(bytes: &[u8]) -> Result<Shape, FileError> {
        let mut reader: Box<dyn BufRead + Send> =
            decompressing(io::Cursor::new(bytes.to_vec()), Arc::default())?;
        sniff(&mut *reader)
    }

    #[test]
    fn sniffs_shapes_after_bom_and_whitespace() {
        assert_eq!(sniffed(b"\xef\xbb\xbf  \n<?xml").unwrap(), Shape::Xml);
        assert_eq!(sniffed(b"\n[{\"paper\":1}]").unwrap(), Shape::JsonArray);
        assert_eq!(sniffed(b"{\"id\":1}\n").unwrap(), Shape::JsonLines);
        assert_eq!(sniffed(b"A title\nAn abstract\n").unwrap(), Shape::Text);
    }

    #[test]
    fn empty_and_binary_streams_are_refused() {
        assert!(matches!(sniffed(b""), Err(FileError::Empty)));
        assert!(matches!(sniffed(b" \n\t "), Err(FileError::Empty)));
        assert!(matches!(
            sniffed(b"\x00\x01\x02garbage"),
            Err(FileError::Unrecognised(_))
        ));
        assert!(matches!(
            sniffed(b"\xff\xfe\xfd text"),
            Err(FileError::Unrecognised(_))
        ));
    }

    #[test]
    fn bounded_lines_skip_overlong_lines_and_go_on() {
        let data = format!("short\n{}\nafter\r\nlast", "x".repeat(100));
        let mut reader = io::Cursor::new(data.into_bytes());
        let (mut bytes, mut line) = (Vec::new(), String::new());
        let mut next = || read_bounded_line(&mut reader, &mut bytes, &mut line, 10).unwrap();
        assert_eq!(next(), Line::Complete);
        assert_eq!(next(), Line::TooLong(101));
        assert_eq!(next(), Line::Complete);
        assert_eq!(next(), Line::Complete);
        assert_eq!(next(), Line::Eof);
    }

    #[test]
    fn line_counting_tracks_consumed_newlines() {
        let mut reader = LineCounting::new(io::Cursor::new(b"a\nb\nc".to_vec()));
        let mut text = String::new();
        reader.read_line(&mut text).unwrap();
        assert_eq!(reader.line(), 2);
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(reader.line(), 3);
    }
}
