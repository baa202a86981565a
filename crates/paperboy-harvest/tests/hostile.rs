//! The harvest response parsers on hostile responses (issue 18): the OAI-PMH envelope (token,
//! list size, cursor, error, datestamps) and the papers of OAI-PMH pages, arXiv API Atom feeds
//! and Hugging Face daily lists, on arbitrary bytes, mutations of real responses and envelopes
//! with hostile numbers. Whatever a server sends, reading it returns (no panic) with the papers
//! or a message, in memory that follows the response's size.
//!
//! How many cases run is set by `PROPTEST_CASES` or `PAPERBOY_HOSTILE_SECONDS` (see the shared
//! runner, `paperboy-ingest/tests/support/hostile.rs`).

#![allow(clippy::unwrap_used)]

#[macro_use]
#[path = "../../paperboy-ingest/tests/support/hostile.rs"]
mod hostile;

#[path = "../../paperboy-ingest/tests/support/alloc_meter.rs"]
mod alloc_meter;

#[path = "../../paperboy-ingest/tests/support/samples.rs"]
mod samples;

use alloc_meter::{MIB, peak_heap};
use paperboy_harvest::page::{envelope, papers};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use hostile::{Bytes, mutated, raw_bytes};

/// Responses as the harvesters get them: OAI-PMH pages, Atom feeds, daily lists.
fn response_seeds() -> Vec<Vec<u8>> {
    samples::seeds()
        .into_iter()
        .filter(|(label, _)| {
            label.starts_with("oai") || label.starts_with("atom") || *label == "hf-array"
        })
        .map(|(_, bytes)| bytes)
        .collect()
}

/// Reads a response as every harvester does: its envelope (OAI-PMH) and its papers, under a
/// daily list's name and an API's.
fn read_response(body: &Bytes) -> Result<(), TestCaseError> {
    let length = body.0.len();
    let ((), peak) = peak_heap(|| {
        if let Ok(found) = envelope(&body.0) {
            // A token is trimmed and never empty; an error's code is kept as sent.
            if let Some(token) = &found.resumption_token {
                assert!(!token.is_empty() && token.trim() == token, "{token:?}");
            }
        }
        for name in ["2024-05-27.json", "arXiv API search", "arxiv:cs page 1"] {
            match papers(name, body.0.clone()) {
                Ok(found) => {
                    for error in &found.rejected {
                        assert!(error.position.record.is_some(), "{error}");
                    }
                }
                Err(message) => assert!(!message.trim().is_empty()),
            }
        }
    });
    let allowed = 8 * MIB + 64 * length;
    ensure!(
        peak <= allowed,
        "{peak} bytes of heap for a response of {length} bytes (allowed {allowed})"
    );
    Ok(())
}

#[test]
fn arbitrary_responses() {
    let starts: Vec<&'static [u8]> = vec![
        b"",
        b"<OAI-PMH>",
        b"<OAI-PMH><ListRecords>",
        b"<OAI-PMH><ListRecords><resumptionToken ",
        b"<feed>",
        b"[",
        b"<html>",
    ];
    hostile::run(
        "harvest: arbitrary responses",
        400,
        (select(starts), raw_bytes(4096)),
        |(start, bytes)| {
            let mut body = start.to_vec();
            body.extend_from_slice(&bytes.0);
            read_response(&Bytes(body))
        },
    );
}

#[test]
fn mutated_real_responses() {
    hostile::run(
        "harvest: mutated responses",
        800,
        mutated(response_seeds(), 12),
        |(_, body)| read_response(&body),
    );
}

/// A number as a server might write it: any u64, past u64, negative, not a number.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..100).prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just(" 7 ".to_owned()),
        Just("1e9".to_owned()),
        Just("".to_owned()),
        Just("&#49;".to_owned()),
        "\\PC{0,8}".prop_map(|text| text.replace(['"', '<', '&'], "")),
    ]
}

#[test]
fn envelopes_with_hostile_numbers_and_tokens() {
    let token = prop_oneof![
        Just(String::new()),
        Just("6153|1001".to_owned()),
        Just("<![CDATA[6153|1001]]>".to_owned()),
        Just("&#0;&#xFFFFFFFF;&unknown;".to_owned()),
        "\\PC{0,40}".prop_map(|text| text.replace(['<', '&'], "")),
        (0usize..100_000).prop_map(|n| "t".repeat(n)),
    ];
    let strategy = (
        number_text(),
        number_text(),
        token,
        0usize..40,
        any::<bool>(),
        select(vec![
            "2015-01-18",
            "9999-99-99",
            "2015-01-18T00:00:00Z",
            "",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "0000-01-01",
        ]),
    );
    hostile::run(
        "harvest: envelopes with hostile numbers",
        600,
        strategy,
        |(cursor, size, token, records, empty_tag, datestamp)| {
            let mut page = String::from("<?xml version=\"1.0\"?><OAI-PMH><ListRecords>");
            for _ in 0..records {
                page.push_str(&format!(
                    "<record><header><identifier>oai:arXiv.org:1</identifier><datestamp>{datestamp}</datestamp></header></record>"
                ));
            }
            if empty_tag {
                page.push_str(&format!(
                    "<resumptionToken cursor=\"{cursor}\" completeListSize=\"{size}\"/>"
                ));
            } else {
                page.push_str(&format!(
                    "<resumptionToken cursor=\"{cursor}\" completeListSize=\"{size}\">{token}</resumptionToken>"
                ));
            }
            page.push_str("</ListRecords></OAI-PMH>");
            read_response(&Bytes(page.into_bytes()))
        },
    );
}

/// Cases found by the tests above, kept as ordinary tests.
mod regressions {
    use super::*;

    #[test]
    fn a_cursor_near_the_largest_number_does_not_overflow() {
        let page = format!(
            "<OAI-PMH><ListRecords><record><header><datestamp>2015-01-18</datestamp></header></record>\
         <resumptionToken cursor=\"{}\" completeListSize=\"5\"/></ListRecords></OAI-PMH>",
            u64::MAX
        );
        assert!(envelope(page.as_bytes()).is_ok());
        let short = format!(
            "<OAI-PMH><ListRecords><resumptionToken cursor=\"3\" completeListSize=\"{}\"/></ListRecords></OAI-PMH>",
            u64::MAX
        );
        let message = envelope(short.as_bytes()).unwrap_err();
        assert!(
            message.contains("of the 18446744073709551615 records"),
            "{message}"
        );
    }

    #[test]
    fn a_tag_of_many_attributes_is_read_in_linear_time() {
        // quick-xml's duplicate check compared every attribute with all before it.
        let attributes: String = (0..200_000).map(|i| format!(" a{i}=\"\"")).collect();
        let page = format!(
            "<OAI-PMH><ListRecords><resumptionToken{attributes} cursor=\"0\" completeListSize=\"1\">t</resumptionToken></ListRecords></OAI-PMH>"
        );
        let started = std::time::Instant::now();
        let found = envelope(page.as_bytes()).unwrap();
        assert_eq!(found.resumption_token.as_deref(), Some("t"));
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }
}
