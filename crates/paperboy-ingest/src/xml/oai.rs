//! arXiv OAI-PMH responses (`ListRecords`, `GetRecord`) with `arXiv` or `oai_dc` metadata.
//!
//! Deleted records (`<header status="deleted">`) carry no metadata and are passed over; an
//! OAI-PMH `<error>` other than `noRecordsMatch` (which is an empty result) ends the file.

use paperboy_core::{InvalidRecord, PaperDraft, Source, taxonomy};

use super::{DraftResult, FieldProblems, Tag, XmlReader};
use crate::authors::{from_inverted, from_parts};
use crate::error::{FileError, Position};
use crate::{Emitter, Format, Sink};

pub(super) fn read(xml: &mut XmlReader, sink: &mut Sink<'_>) -> Result<Format, FileError> {
    let mut emitter = Emitter::new(sink, Source::ArxivOai);
    loop {
        match xml.next()? {
            Tag::Start(element) if element.name == "record" => {
                emitter.next_record();
                let line = xml.line();
                if let Some(draft) = read_record(xml)?
                    && emitter.emit(Some(line), draft).is_break()
                {
                    break;
                }
            }
            Tag::Start(element) if element.name == "error" => {
                let code = element.attribute("code").unwrap_or("unknown").to_owned();
                let line = xml.line();
                let message = match xml.text()? {
                    super::Text::Complete(text) => text,
                    super::Text::TooLong(_) => String::new(),
                };
                if code != "noRecordsMatch" {
                    return Err(FileError::broken(
                        Position::line(line),
                        format!("the OAI-PMH server reported {code}: {}", message.trim()),
                    ));
                }
            }
            Tag::Eof => break,
            _ => {}
        }
    }
    Ok(Format::OaiPmh)
}

/// Reads one `<record>`; `None` for a deleted record.
fn read_record(xml: &mut XmlReader) -> Result<Option<DraftResult>, FileError> {
    let mut header_id: Option<String> = None;
    let mut deleted = false;
    let mut metadata: Option<DraftResult> = None;
    loop {
        match xml.next()? {
            Tag::End(name) if name == "record" => break,
            Tag::Start(element) => match element.name.as_str() {
                "header" => deleted = element.attribute("status") == Some("deleted"),
                "identifier" => {
                    if let super::Text::Complete(text) = xml.text()? {
                        header_id = Some(text);
                    }
                }
                "metadata" => {}
                "arXiv" => metadata = Some(read_arxiv_metadata(xml)?),
                "dc" => metadata = Some(read_dublin_core(xml)?),
                other => {
                    let unsupported = !matches!(other, "datestamp" | "setSpec" | "about");
                    xml.skip()?;
                    if unsupported && metadata.is_none() {
                        metadata = Some(Err((
                            None,
                            InvalidRecord::new(format!(
                                "the metadata format <{}> is not supported (ask for metadataPrefix=arXiv or oai_dc)",
                                paperboy_core::text::shorten(other, 30)
                            )),
                        )));
                    }
                }
            },
            Tag::Eof => {
                return Err(FileError::broken(
                    Position::line(xml.line()),
                    "the response ends inside a <record>",
                ));
            }
            _ => {}
        }
    }
    if deleted {
        return Ok(None);
    }
    let draft = match metadata {
        Some(Ok(mut draft)) => {
            if draft.arxiv_id.is_none() {
                draft.arxiv_id = header_id;
            }
            Ok(draft)
        }
        Some(Err((label, reason))) => Err((label.or(header_id), reason)),
        None => Err((header_id, InvalidRecord::new("the record has no metadata"))),
    };
    Ok(Some(draft))
}

/// `<arXiv>`: arXiv's own metadata format.
fn read_arxiv_metadata(xml: &mut XmlReader) -> Result<DraftResult, FileError> {
    let mut draft = PaperDraft::default();
    let mut problems = FieldProblems::default();
    let (mut keyname, mut forenames, mut suffix) = (String::new(), String::new(), String::new());
    loop {
        match xml.next()? {
            Tag::End(name) if name == "arXiv" => break,
            Tag::End(name) if name == "author" => {
                problems.add_author(
                    &mut draft.authors,
                    from_parts(&keyname, &forenames, &suffix),
                );
                keyname.clear();
                forenames.clear();
                suffix.clear();
            }
            Tag::Start(element) => {
                let field = element.name.as_str();
                if matches!(field, "authors" | "author") {
                    continue;
                }
                let text = xml.text()?;
                let Some(text) = problems.take(field, text) else {
                    continue;
                };
                match field {
                    "id" => draft.arxiv_id = Some(text),
                    "created" => draft.published = Some(text),
                    "updated" => draft.updated = Some(text),
                    "title" => draft.title = Some(text),
                    "abstract" => draft.abstract_text = Some(text),
                    "categories" => {
                        draft.categories = text.split_whitespace().map(str::to_owned).collect()
                    }
                    "comments" => draft.comment = Some(text),
                    "journal-ref" => draft.journal_ref = Some(text),
                    "doi" => draft.doi = Some(text),
                    "keyname" => keyname = text,
                    "forenames" => forenames = text,
                    "suffix" => suffix = text,
                    _ => {}
                }
            }
            Tag::Eof => {
                return Err(FileError::broken(
                    Position::line(xml.line()),
                    "the response ends inside <arXiv> metadata",
                ));
            }
            _ => {}
        }
    }
    Ok(problems.finish(draft))
}

/// `<oai_dc:dc>`: Dublin Core, where authors are "Keyname, Forenames", categories are
/// human-readable subjects, the first description is the abstract and the dates are those of
/// the versions.
fn read_dublin_core(xml: &mut XmlReader) -> Result<DraftResult, FileError> {
    let mut draft = PaperDraft::default();
    let mut problems = FieldProblems::default();
    // The versions' dates: the first is the publication, the last the update.
    let (mut earliest, mut latest, mut dates) = (None::<String>, None::<String>, 0usize);
    loop {
        match xml.next()? {
            Tag::End(name) if name == "dc" => break,
            Tag::Start(element) => {
                let field = element.name.as_str();
                let text = xml.text()?;
                let Some(text) = problems.take(field, text) else {
                    continue;
                };
                match field {
                    "title" => draft.title = Some(text),
                    "creator" => problems.add_author(&mut draft.authors, from_inverted(&text)),
                    "subject" => {
                        if let Some(code) = taxonomy::code_for_oai_dc_subject(&text) {
                            problems.add_category(&mut draft.categories, code);
                        }
                    }
                    "description" => match text.trim().strip_prefix("Comment:") {
                        Some(comment) => draft.comment = Some(comment.to_owned()),
                        None if draft.abstract_text.is_none() => draft.abstract_text = Some(text),
                        None => {}
                    },
                    "date" => {
                        dates += 1;
                        if latest.as_ref().is_none_or(|latest| text > *latest) {
                            latest = Some(text.clone());
                        }
                        if earliest.as_ref().is_none_or(|earliest| text < *earliest) {
                            earliest = Some(text);
                        }
                    }
                    "identifier" => {
                        let text = text.trim();
                        if let Some(doi) = text.strip_prefix("doi:") {
                            draft.doi = Some(doi.to_owned());
                        } else if text.contains("arxiv.org/abs/") {
                            draft.arxiv_id = Some(text.to_owned());
                        }
                    }
                    _ => {}
                }
            }
            Tag::Eof => {
                return Err(FileError::broken(
                    Position::line(xml.line()),
                    "the response ends inside <oai_dc:dc> metadata",
                ));
            }
            _ => {}
        }
    }
    draft.published = earliest;
    if dates > 1 {
        draft.updated = latest;
    }
    Ok(problems.finish(draft))
}
