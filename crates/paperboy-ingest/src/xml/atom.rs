//! arXiv API responses (`/api/query`): an Atom feed with one `<entry>` per paper, in the
//! current format and the legacy one (which wraps summaries and declares namespaces per element;
//! both read the same through local names).

use paperboy_core::{InvalidRecord, PaperDraft, Source};

use super::{DraftResult, FieldProblems, Tag, XmlReader};
use crate::error::{FileError, Position};
use crate::{Emitter, Format, Sink};

pub(super) fn read(xml: &mut XmlReader, sink: &mut Sink<'_>) -> Result<Format, FileError> {
    let mut emitter = Emitter::new(sink, Source::ArxivApi);
    loop {
        match xml.next()? {
            Tag::Start(element) if element.name == "entry" => {
                emitter.next_record();
                let line = xml.line();
                let draft = read_entry(xml)?;
                if emitter.emit(Some(line), draft).is_break() {
                    break;
                }
            }
            Tag::Eof => break,
            _ => {}
        }
    }
    Ok(Format::ArxivAtom)
}

fn read_entry(xml: &mut XmlReader) -> Result<DraftResult, FileError> {
    let mut draft = PaperDraft::default();
    let mut problems = FieldProblems::default();
    let mut api_error = false;
    loop {
        match xml.next()? {
            Tag::End(name) if name == "entry" => break,
            Tag::Start(element) => {
                let field = element.name.as_str();
                match field {
                    // Containers whose children are read on their own.
                    "author" => {}
                    "category" | "primary_category" | "link" => {
                        take_category(&mut draft, &mut problems, field, element.attribute("term"));
                        xml.skip()?;
                    }
                    _ => {
                        let text = xml.text()?;
                        let Some(text) = problems.take(field, text) else {
                            continue;
                        };
                        match field {
                            "id" => {
                                api_error = text.contains("/api/errors");
                                draft.arxiv_id = Some(text);
                            }
                            "title" => draft.title = Some(text),
                            "summary" => draft.abstract_text = Some(text),
                            "published" => draft.published = Some(text),
                            "updated" => draft.updated = Some(text),
                            "name" => problems.add_author(&mut draft.authors, text),
                            "comment" => draft.comment = Some(text),
                            "journal_ref" => draft.journal_ref = Some(text),
                            "doi" => draft.doi = Some(text),
                            _ => {}
                        }
                    }
                }
            }
            Tag::Empty(element) => {
                take_category(
                    &mut draft,
                    &mut problems,
                    &element.name,
                    element.attribute("term"),
                );
            }
            Tag::Eof => {
                return Err(FileError::broken(
                    Position::line(xml.line()),
                    "the feed ends inside an <entry>",
                ));
            }
            Tag::End(_) => {}
        }
    }
    if api_error {
        let message = draft.abstract_text.unwrap_or_default();
        return Ok(Err((
            None,
            InvalidRecord::new(format!(
                "the arXiv API reported an error: {}",
                message.trim()
            )),
        )));
    }
    Ok(problems.finish(draft))
}

fn take_category(
    draft: &mut PaperDraft,
    problems: &mut FieldProblems,
    element: &str,
    term: Option<&str>,
) {
    let Some(term) = term else { return };
    match element {
        "category" => problems.add_category(&mut draft.categories, term),
        "primary_category" => draft.primary_category = Some(term.to_owned()),
        _ => {}
    }
}
