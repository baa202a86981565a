//! Reading one harvested response: its papers through the importers every file goes through,
//! and, for OAI-PMH, the envelope around them (the resumption token, an error code, the
//! records' datestamps), checking on the way that the page is whole.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::NaiveDate;
use paperboy_core::PaperRecord;
use paperboy_core::day::parse_day;
use paperboy_ingest::{Item, RecordError, read_stream};
use quick_xml::Reader;
use quick_xml::events::Event;

/// The papers of a response and the records rejected on the way.
#[derive(Debug, Default)]
pub struct Papers {
    pub records: Vec<PaperRecord>,
    pub rejected: Vec<RecordError>,
}

/// Reads the papers of a response as an import of a file called `name` would (a name starting
/// with a date gives a Hugging Face list its day). `Err` when the response as a whole cannot be
/// read.
pub fn papers(name: &str, body: Vec<u8>) -> Result<Papers, String> {
    let mut papers = Papers::default();
    read_stream(
        name,
        Cursor::new(body),
        Arc::new(AtomicU64::new(0)),
        &mut |item| {
            match item {
                Item::Record { record, .. } => papers.records.push(*record),
                Item::Rejected(error) => papers.rejected.push(error),
            }
            ControlFlow::Continue(())
        },
    )
    .map_err(|error| error.to_string())?;
    Ok(papers)
}

/// [`papers`] on a blocking thread, for async callers.
pub async fn read_papers(name: &str, body: Vec<u8>) -> Result<Papers, String> {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || papers(&name, body))
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
}

/// The OAI-PMH envelope of a `ListRecords` page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The token for the next page; `None` on the last page (an absent or empty token).
    pub resumption_token: Option<String>,
    /// The `completeListSize` the server announced, when it did.
    pub complete_list_size: Option<u64>,
    /// An OAI-PMH error: its code and message.
    pub error: Option<(String, String)>,
    /// The newest record datestamp on the page.
    pub newest: Option<NaiveDate>,
    /// The items on the page: records (`ListRecords`) or headers (`ListIdentifiers`).
    pub listed: u64,
}

/// Reads the envelope of an OAI-PMH response, and checks the whole page is well-formed XML
/// with an `OAI-PMH` root (a page cut off mid-way is not).
pub fn envelope(body: &[u8]) -> Result<Envelope, String> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut envelope = Envelope::default();
    let mut depth = 0usize;
    let mut root = None::<String>;
    let mut open: Option<&'static str> = None;
    let mut text = String::new();
    let mut buf = Vec::new();
    // The records on the page and the token's cursor: a last page must complete the list.
    let mut records = 0u64;
    let mut headers = 0u64;
    let mut cursor: Option<u64> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|error| format!("not well-formed XML at byte {position}: {error}"))?;
        match event {
            Event::Start(element) => {
                depth += 1;
                let name = element.local_name().as_ref().to_owned();
                if root.is_none() {
                    root = Some(name.clone());
                }
                open = match name.as_str() {
                    "resumptionToken" => {
                        (envelope.complete_list_size, cursor) = list_position(&element);
                        Some("resumptionToken")
                    }
                    "record" => {
                        records += 1;
                        None
                    }
                    "header" => {
                        headers += 1;
                        None
                    }
                    "error" => {
                        let code = attribute(&element, "code").unwrap_or_default();
                        envelope.error = Some((code, String::new()));
                        Some("error")
                    }
                    "datestamp" => Some("datestamp"),
                    _ => None,
                };
                text.clear();
            }
            Event::Empty(element) => {
                let name = element.local_name().as_ref().to_owned();
                if root.is_none() {
                    root = Some(name.clone());
                }
                if name == "error" {
                    let code = attribute(&element, "code").unwrap_or_default();
                    envelope.error = Some((code, String::new()));
                }
                if name == "resumptionToken" {
                    (envelope.complete_list_size, cursor) = list_position(&element);
                }
            }
            Event::Text(content) if open.is_some() => text.push_str(&content.xml10_content()),
            Event::CData(content) if open.is_some() => text.push_str(&content.xml10_content()),
            Event::GeneralRef(reference) if open.is_some() => match reference.resolve_char_ref() {
                Ok(Some(ch)) => text.push(ch),
                _ => text.push_str(
                    quick_xml::escape::resolve_predefined_entity(&reference).unwrap_or(""),
                ),
            },
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                match open.take() {
                    Some("resumptionToken") => {
                        let token = text.trim();
                        envelope.resumption_token = (!token.is_empty()).then(|| token.to_owned());
                    }
                    Some("error") => {
                        if let Some((_, message)) = &mut envelope.error {
                            *message = text.trim().to_owned();
                        }
                    }
                    Some("datestamp") => {
                        // A datestamp is a day or a UTC time; the day is what `from` takes.
                        let day = text.trim().get(..10).unwrap_or_default();
                        if let Some(day) = parse_day(day) {
                            envelope.newest = envelope.newest.max(Some(day));
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    // Every record has one header; a `ListIdentifiers` page has headers alone.
    envelope.listed = records.max(headers);
    let records = envelope.listed;
    // Saturating: the cursor is the server's number, and may be anything up to u64::MAX.
    if envelope.resumption_token.is_none()
        && let (Some(size), Some(cursor)) = (envelope.complete_list_size, cursor)
        && cursor.saturating_add(records) < size
    {
        return Err(format!(
            "the last page ends the list at {} of the {size} records announced",
            cursor.saturating_add(records)
        ));
    }
    match root.as_deref() {
        Some("OAI-PMH") if depth == 0 => Ok(envelope),
        Some("OAI-PMH") => Err("the page ends before its last element is closed".to_owned()),
        Some(other) => Err(format!("not an OAI-PMH response (its root is <{other}>)")),
        None => Err("the page is empty".to_owned()),
    }
}

/// A resumption token's `completeListSize` and `cursor` attributes.
fn list_position(element: &quick_xml::events::BytesStart<'_>) -> (Option<u64>, Option<u64>) {
    let number = |name| attribute(element, name).and_then(|value| value.trim().parse().ok());
    (number("completeListSize"), number("cursor"))
}

fn attribute(element: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    // Without quick-xml's duplicate check, which compares each attribute with all before it:
    // a tag of a million attributes would take 10^12 steps.
    element
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|attribute| attribute.key.local_name().as_ref() == name)
        .map(|attribute| attribute.value.clone().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
<record><header><identifier>oai:arXiv.org:1</identifier><datestamp>2015-01-16</datestamp></header></record>
<record><header><identifier>oai:arXiv.org:2</identifier><datestamp>2015-01-18</datestamp></header></record>
<resumptionToken cursor="0" completeListSize="46">6153|1001</resumptionToken>
</ListRecords></OAI-PMH>"#;

    #[test]
    fn an_envelope_gives_the_token_the_list_size_and_the_newest_datestamp() {
        let envelope = envelope(PAGE.as_bytes());
        assert_eq!(
            envelope,
            Ok(Envelope {
                resumption_token: Some("6153|1001".into()),
                complete_list_size: Some(46),
                error: None,
                newest: NaiveDate::from_ymd_opt(2015, 1, 18),
                listed: 2,
            })
        );
    }

    #[test]
    fn an_empty_token_ends_the_list_and_errors_are_read() {
        let last = PAGE
            .replace(">6153|1001<", "><")
            .replace("cursor=\"0\"", "cursor=\"44\"");
        assert_eq!(
            envelope(last.as_bytes()).map(|e| e.resumption_token),
            Ok(None)
        );
        let self_closed = PAGE.replace(
            "<resumptionToken cursor=\"0\" completeListSize=\"46\">6153|1001</resumptionToken>",
            "<resumptionToken cursor=\"46\" completeListSize=\"46\"/>",
        );
        assert_eq!(
            envelope(self_closed.as_bytes()).map(|e| e.resumption_token),
            Ok(None)
        );
        let error = r#"<OAI-PMH><error code="noRecordsMatch">Nothing here</error></OAI-PMH>"#;
        assert_eq!(
            envelope(error.as_bytes()).map(|e| e.error),
            Ok(Some(("noRecordsMatch".into(), "Nothing here".into())))
        );
    }

    #[test]
    fn a_last_page_short_of_the_announced_list_is_refused_and_a_cdata_token_is_read() {
        let last = |cursor: u32| {
            PAGE.replace(
                "<resumptionToken cursor=\"0\" completeListSize=\"46\">6153|1001</resumptionToken>",
                &format!("<resumptionToken cursor=\"{cursor}\" completeListSize=\"46\"/>"),
            )
        };
        assert!(envelope(last(44).as_bytes()).is_ok());
        let short = envelope(last(40).as_bytes()).unwrap_err();
        assert!(short.contains("42 of the 46"), "{short}");
        let cdata = PAGE.replace(">6153|1001<", "><![CDATA[6153|1001]]><");
        assert_eq!(
            envelope(cdata.as_bytes()).map(|e| e.resumption_token),
            Ok(Some("6153|1001".into()))
        );
    }

    #[test]
    fn cut_off_or_foreign_pages_are_refused() {
        let cut = &PAGE.as_bytes()[..PAGE.len() / 2];
        assert!(envelope(cut).is_err());
        assert!(envelope(b"").is_err());
        assert!(envelope(b"<html><body>Service unavailable</body></html>").is_err());
        assert!(envelope(b"<OAI-PMH><a></b></OAI-PMH>").is_err());
    }
}
