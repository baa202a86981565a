//! Saved listing pages as plain text: a title line, then an abstract line, repeated.
//!
//! Text saved from a papers site carries some of the page around the list; the lines of the
//! subscribe box that page shows ("Get trending papers in your email inbox…", and "Subscribe"
//! glued to the first title) are recognised and dropped. A title whose next line does not look
//! like an abstract is reported, and pairing starts again from that next line.

use std::io::BufRead;

use paperboy_core::{PaperDraft, Source};

use crate::error::{FileError, Position};
use crate::input::{TextLine, TextLines};
use crate::{Emitter, Format, Sink};

const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Page text around the list, not papers.
const PAGE_CHROME_PREFIXES: [&str; 1] = ["Get trending papers in your email inbox"];
const GLUED_BUTTON: &str = "Subscribe";

pub(crate) fn read(
    reader: Box<dyn BufRead + Send>,
    sink: &mut Sink<'_>,
) -> Result<Format, FileError> {
    let mut emitter = Emitter::new(sink, Source::Listing);
    let mut pending_title: Option<(u64, String)> = None;
    let mut seen_title = false;
    let mut lines = TextLines::new(reader, MAX_LINE_BYTES);
    while let Some((line_number, line)) = lines.next_line()? {
        let flow = match line {
            TextLine::Unusable(reason) => {
                // The line stood for an abstract (or a title): its pair goes with it.
                let title_line = pending_title.take().map_or(line_number, |(at, _)| at);
                emitter.next_record();
                emitter.reject(
                    Position::record_at_line(emitter.records, title_line),
                    reason,
                )
            }
            TextLine::Text(text) => {
                let text = text.trim();
                if text.is_empty()
                    || PAGE_CHROME_PREFIXES
                        .iter()
                        .any(|prefix| text.starts_with(prefix))
                {
                    continue;
                }
                match pending_title.take() {
                    None => {
                        let title = if seen_title {
                            text
                        } else {
                            strip_glued_button(text)
                        };
                        seen_title = true;
                        pending_title = Some((line_number, title.to_owned()));
                        continue;
                    }
                    Some((title_line, title)) if looks_like_abstract(text) => {
                        emitter.next_record();
                        let draft = PaperDraft {
                            title: Some(title),
                            abstract_text: Some(text.to_owned()),
                            ..PaperDraft::default()
                        };
                        emitter.emit(Some(title_line), Ok(draft))
                    }
                    Some((title_line, _)) => {
                        pending_title = Some((line_number, text.to_owned()));
                        emitter.next_record();
                        emitter.reject(
                            Position::record_at_line(emitter.records, title_line),
                            "a title line without an abstract line after it",
                        )
                    }
                }
            }
        };
        if flow.is_break() {
            return Ok(Format::Listing);
        }
    }
    if let Some((title_line, _)) = pending_title {
        emitter.next_record();
        let _ = emitter.reject(
            Position::record_at_line(emitter.records, title_line),
            "the file ends with a title line without an abstract",
        );
    }
    Ok(Format::Listing)
}

fn strip_glued_button(title: &str) -> &str {
    match title.strip_prefix(GLUED_BUTTON) {
        Some(rest) if rest.starts_with(|ch: char| ch.is_uppercase()) => rest,
        _ => title,
    }
}

/// An abstract is prose: long, or at least ending like a sentence.
fn looks_like_abstract(line: &str) -> bool {
    line.chars().count() >= 100 || line.ends_with('.')
}
