//! Every import parser on hostile input (issue 18): arbitrary bytes, mutations of real records,
//! generated JSON and XML with hostile values, and endless streams. Whatever comes in, a call
//! returns (no panic, no hang), every rejection names its record and line, every record that
//! comes out is whole, and memory does not grow with lengths or counts written in the input.
//!
//! How many cases run is set by `PROPTEST_CASES` or `PAPERBOY_HOSTILE_SECONDS` (see
//! `support/hostile.rs`); `scripts/hostile MINUTES` runs them for as long as asked.

#![allow(clippy::unwrap_used)]

#[macro_use]
#[path = "support/hostile.rs"]
mod hostile;

#[path = "support/alloc_meter.rs"]
mod alloc_meter;

#[path = "support/samples.rs"]
mod samples;

use std::io::{Read, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use alloc_meter::{MIB, peak_heap};
use flate2::Compression;
use paperboy_core::limits;
use paperboy_ingest::{FileError, Format, Item, read_stream};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;

use hostile::{Bytes, HOSTILE_TOKENS, mutated, raw_bytes};

// ---------------------------------------------------------------------------------------------
// Reading one input and checking what came out

/// What reading one input gave.
#[derive(Debug)]
struct Outcome {
    records: u64,
    rejected: u64,
    result: Result<Format, FileError>,
    /// What was wrong with the items handed out (empty when all is well).
    faults: Vec<String>,
    peak_heap: usize,
}

/// The longest one case may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(120);

/// Reads `input` as the importer reads a file called `name`, on a thread of its own so that a
/// hang is reported (and the process ended) rather than waited for.
fn import<R: Read + Send + 'static>(name: &str, input: R, describe: &str) -> Outcome {
    let name = name.to_owned();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ((records, rejected, result, faults), peak) = peak_heap(|| {
            let (mut records, mut rejected, mut faults) = (0u64, 0u64, Vec::new());
            let result = read_stream(&name, input, Arc::new(AtomicU64::new(0)), &mut |item| {
                if let Some(fault) = fault_in(&item)
                    && faults.len() < 4
                {
                    faults.push(fault);
                }
                match item {
                    Item::Record { .. } => records += 1,
                    Item::Rejected(_) => rejected += 1,
                }
                ControlFlow::Continue(())
            });
            (records, rejected, result, faults)
        });
        let _ = sender.send(Outcome {
            records,
            rejected,
            result,
            faults,
            peak_heap: peak,
        });
    });
    match receiver.recv_timeout(PATIENCE) {
        Ok(outcome) => outcome,
        Err(_) => {
            // Shrinking a hang would start one stuck thread per try: stop here instead.
            let _ = writeln!(
                std::io::stderr(),
                "hostile: reading did not return within {} s: {describe}",
                PATIENCE.as_secs()
            );
            std::process::exit(101);
        }
    }
}

/// What is wrong with one item a parser handed out, if anything.
fn fault_in(item: &Item) -> Option<String> {
    match item {
        Item::Record { record, position } => {
            if position.record.is_none() {
                return Some(format!("a record without its ordinal: {position:?}"));
            }
            if record.title.trim().is_empty() {
                return Some("a record without a title".into());
            }
            if record.title.chars().count() > limits::MAX_TITLE_CHARS
                || record.abstract_text.chars().count() > limits::MAX_ABSTRACT_CHARS
                || record.authors.len() > limits::MAX_AUTHORS
                || record.categories.len() > limits::MAX_CATEGORIES
            {
                return Some("a record over the limits".into());
            }
            None
        }
        Item::Rejected(error) => {
            if error.position.record.is_none() {
                return Some(format!("a rejection without its record: {error}"));
            }
            if error.reason.to_string().trim().is_empty() {
                return Some(format!("a rejection without a reason: {error:?}"));
            }
            None
        }
    }
}

/// The checks every outcome must pass, for an input of `length` bytes (decompressed).
fn check(outcome: &Outcome, length: usize) -> Result<(), TestCaseError> {
    ensure!(outcome.faults.is_empty(), "bad items: {:?}", outcome.faults);
    // Each item needs at least a byte of input.
    ensure!(
        outcome.records + outcome.rejected <= length as u64 + 1,
        "{} items from {length} bytes",
        outcome.records + outcome.rejected
    );
    if let Err(error) = &outcome.result {
        let message = error.to_string();
        ensure!(!message.trim().is_empty(), "an empty error: {error:?}");
        if let FileError::Broken { position, .. } = error {
            // A stream that breaks is named by where; only a read failure can be at the start.
            ensure!(
                position.line.is_some()
                    || position.record.is_some()
                    || message.contains("read")
                    || message.contains("corrupt")
                    || message.contains("ends"),
                "a broken file without a position: {message}"
            );
        }
    }
    Ok(())
}

/// Small inputs: memory may grow with the input's own size, never beyond it by much.
fn check_small(outcome: &Outcome, length: usize) -> Result<(), TestCaseError> {
    check(outcome, length)?;
    let allowed = 8 * MIB + 64 * length;
    ensure!(
        outcome.peak_heap <= allowed,
        "{} bytes of heap for {length} bytes of input (allowed {allowed})",
        outcome.peak_heap
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Wrapping: gzip, a byte-order mark, the file's name

#[derive(Debug, Clone, Copy)]
struct Wrapping {
    gzip: bool,
    bom: bool,
}

fn wrapping() -> impl Strategy<Value = Wrapping> {
    (prop::bool::weighted(0.2), prop::bool::weighted(0.1))
        .prop_map(|(gzip, bom)| Wrapping { gzip, bom })
}

fn wrap(bytes: &[u8], wrapping: Wrapping) -> Vec<u8> {
    let mut plain = Vec::with_capacity(bytes.len() + 3);
    if wrapping.bom {
        plain.extend_from_slice(b"\xef\xbb\xbf");
    }
    plain.extend_from_slice(bytes);
    if !wrapping.gzip {
        return plain;
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&plain).unwrap();
    encoder.finish().unwrap()
}

/// File names as the importer meets them: dated (a daily list's day), odd, empty, overlong.
fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2024-05-27.json".to_owned()),
        Just("papers.jsonl".to_owned()),
        Just("".to_owned()),
        Just("9999-99-99.json".to_owned()),
        Just("0000-00-00".to_owned()),
        Just("2024-02-30.json".to_owned()),
        Just("2024-05-2\u{e9}.json".to_owned()),
        Just("\u{1f4a9}\u{1f4a9}\u{1f4a9}.json".to_owned()),
        Just("x".repeat(4096)),
        "\\PC{0,30}",
    ]
}

fn read_case(name: &str, bytes: &Bytes, wrapping: Wrapping) -> Result<(), TestCaseError> {
    let input = wrap(&bytes.0, wrapping);
    let outcome = import(name, std::io::Cursor::new(input), &format!("{bytes:?}"));
    check_small(&outcome, bytes.0.len() + 3)
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes, and mutations of real records

#[test]
fn arbitrary_bytes_in_front_of_every_format() {
    // A start that sends the bytes to each parser, then anything at all.
    let starts: Vec<&'static [u8]> = vec![
        b"",
        b"<feed>",
        b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>",
        b"<OAI-PMH>",
        b"<OAI-PMH><ListRecords><record><metadata><arXiv>",
        b"<OAI-PMH><ListRecords><record><metadata><oai_dc:dc>",
        b"[",
        b"[{\"paper\":",
        b"{",
        b"{\"id\":\"1\",\"title\":\"t\",\"abstract\":\"a\"}\n",
        b"{\"paper\":{\"id\":\"2405.15738\",\"title\":\"t\"}}\n",
        b"A title\n",
    ];
    let strategy = (select(starts), raw_bytes(4096), wrapping(), file_name());
    hostile::run(
        "ingest: arbitrary bytes",
        400,
        strategy,
        |(start, bytes, wrapping, name)| {
            let mut input = start.to_vec();
            input.extend_from_slice(&bytes.0);
            read_case(&name, &Bytes(input), wrapping)
        },
    );
}

#[test]
fn mutated_samples_of_every_format() {
    let seeds: Vec<Vec<u8>> = samples::seeds()
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let strategy = (mutated(seeds, 12), wrapping(), file_name());
    hostile::run(
        "ingest: mutated samples",
        1500,
        strategy,
        |((_, bytes), wrapping, name)| read_case(&name, &bytes, wrapping),
    );
}

// ---------------------------------------------------------------------------------------------
// Generated JSON records with hostile values

/// JSON text (valid or not) for one value: huge and odd numbers, escapes, raw control
/// characters, long strings, wrong types, nesting past any recursion limit.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(vec![
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1e999999",
            "-1e999999",
            "18446744073709551616",
            "-9223372036854775809",
            "9223372036854775807",
            "4294967296",
            "-1",
            "0.5",
            "1E400",
            "\"\"",
            "\" \"",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\"\\udfff\\ud800\"",
            "\"\\uffff\"",
            "\"\\\"\"",
            "\"v18446744073709551616\"",
            "\"v0\"",
            "\"cs.\"",
            "\"a.b.c\"",
            "\"0000-00-00\"",
            "\"2024-02-30\"",
            "\"-262144-01-01\"",
            "\"9999-12-31T23:59:60Z\"",
            "\"Mon, 31 Feb 2007 25:61:61 GMT\"",
            "\"hep-th/9901001v3\"",
            "\"2501.99999v99999999999\"",
            "\"javascript:alert(1)\"",
            "\"https://\"",
            "NaN",
            "Infinity",
            "",
            "\"unterminated",
            "[",
            "{",
            "}",
            "]",
            "{\"\":}",
            "01",
            "1.",
            ".5",
            "+1",
            "0x10",
            "'single'",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,40}".prop_map(|text| serde_json::to_string(&text).unwrap()),
        // Raw control characters and invalid UTF-8 inside a string.
        vec(any::<u8>(), 0..24)
            .prop_map(|bytes| format!("\"{}\"", String::from_utf8_lossy(&bytes))),
        (0usize..70_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
        (0usize..400).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (0usize..400).prop_map(|n| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))),
        (0usize..300).prop_map(|n| "[".repeat(n)),
        (0usize..20_000).prop_map(|n| format!("[{}]", vec!["\"a.b\""; n].join(","))),
        (0usize..3000).prop_map(|n| {
            let items: Vec<String> = (0..n)
                .map(|i| format!("\"a.{}\"", letters(i as u64)))
                .collect();
            format!("[{}]", items.join(","))
        }),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
            vec(("\\PC{0,8}", inner), 0..6).prop_map(|pairs| {
                let fields: Vec<String> = pairs
                    .into_iter()
                    .map(|(key, value)| format!("{}:{value}", serde_json::to_string(&key).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// A class code made of letters, different for every `n`.
fn letters(mut n: u64) -> String {
    let mut out = String::new();
    loop {
        out.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

/// The keys of each JSON schema with good values; a case replaces some with hostile ones.
const SCHEMAS: &[(&str, &[(&str, &str)])] = &[
    (
        "arxiv-metadata",
        &[
            ("id", "\"1901.00001\""),
            ("title", "\"A title\""),
            ("abstract", "\"An abstract.\""),
            ("authors", "\"A. Author, B. Author and C. Author\""),
            ("categories", "\"cs.IR cs.LG\""),
            ("primary_category", "\"cs.IR\""),
            ("created", "\"2019-01-01\""),
            ("updated", "\"2019-02-01\""),
            (
                "versions",
                "[{\"version\":\"v1\",\"created\":\"Mon, 2 Apr 2007 19:18:42 GMT\"}]",
            ),
            ("update_date", "\"2008-11-13\""),
            ("doi", "\"10.1/x\""),
            ("journal-ref", "\"J. 1\""),
            ("comments", "\"3 pages\""),
        ],
    ),
    (
        "hf-flat",
        &[
            ("list_date", "\"2024-05-27\""),
            ("id", "\"2405.15738\""),
            ("title", "\"A title\""),
            ("summary", "\"A summary.\""),
            ("authors", "[\"A. Author\"]"),
            ("published_at", "\"2024-05-24T17:34:15.000Z\""),
            ("upvotes", "10"),
            ("github_repo", "\"https://github.com/a/b\""),
            ("github_stars", "3"),
            ("project_page", "\"https://a.b\""),
        ],
    ),
    (
        "export",
        &[
            ("arxiv_id", "\"1901.00001\""),
            ("version", "2"),
            ("title", "\"A good paper\""),
            ("abstract", "\"Fine.\""),
            ("authors", "[\"A. Author\"]"),
            ("categories", "[\"cs.IR\"]"),
            ("published", "\"2019-01-01\""),
            ("updated", "\"2019-02-01\""),
            ("listing_dates", "[\"2019-01-02\"]"),
            ("doi", "null"),
            ("journal_ref", "null"),
            ("comment", "null"),
            ("code_url", "null"),
            ("project_url", "null"),
            ("github_stars", "3"),
            ("external_upvotes", "7"),
            ("source", "\"hf-daily\""),
        ],
    ),
    (
        "hf-paper",
        &[
            ("id", "\"2405.15738\""),
            ("title", "\"A title\""),
            ("summary", "\"A summary.\""),
            ("authors", "[{\"name\":\"A. Author\"}]"),
            ("publishedAt", "\"2024-05-24T17:34:15.000Z\""),
            ("submittedOnDailyAt", "\"2024-05-27T00:00:00.000Z\""),
            ("upvotes", "10"),
            ("githubRepo", "\"https://github.com/a/b\""),
            ("githubStars", "3"),
            ("projectPage", "\"https://a.b\""),
        ],
    ),
];

#[derive(Debug, Clone)]
struct JsonCase {
    schema: usize,
    /// Replaced values: (key, new value or `None` to leave the key out).
    changes: Vec<(Index, Option<String>)>,
    /// Extra keys.
    extra: Vec<(String, String)>,
    /// How records are laid out: lines, a daily-list array, or entries in lines.
    layout: u8,
    records: usize,
}

fn json_case() -> impl Strategy<Value = JsonCase> {
    (
        0..SCHEMAS.len(),
        vec(
            (
                any::<Index>(),
                proptest::option::weighted(0.85, json_value()),
            ),
            1..5,
        ),
        vec(("\\PC{0,10}", json_value()), 0..2),
        0u8..3,
        1usize..4,
    )
        .prop_map(|(schema, changes, extra, layout, records)| JsonCase {
            schema,
            changes,
            extra,
            layout,
            records,
        })
}

fn json_text(case: &JsonCase) -> Vec<u8> {
    let (_, keys) = SCHEMAS[case.schema];
    let mut fields: Vec<(String, Option<String>)> = keys
        .iter()
        .map(|(key, value)| ((*key).to_owned(), Some((*value).to_owned())))
        .collect();
    for (at, value) in &case.changes {
        let at = at.index(fields.len());
        fields[at].1 = value.clone();
    }
    let mut parts: Vec<String> = fields
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| format!("\"{key}\":{value}")))
        .collect();
    for (key, value) in &case.extra {
        parts.push(format!("{}:{value}", serde_json::to_string(key).unwrap()));
    }
    let object = format!("{{{}}}", parts.join(","));
    let hf = SCHEMAS[case.schema].0 == "hf-paper";
    let record = if hf {
        format!("{{\"paper\":{object},\"publishedAt\":\"2024-05-24T17:34:15.000Z\"}}")
    } else {
        object
    };
    let records = vec![record; case.records];
    match case.layout {
        0 if hf => format!("[{}]", records.join(",\n")),
        _ => records.join("\n") + "\n",
    }
    .into_bytes()
}

#[test]
fn json_records_with_hostile_values() {
    hostile::run(
        "ingest: JSON with hostile values",
        600,
        (json_case(), file_name()),
        |(case, name)| {
            read_case(
                &name,
                &Bytes(json_text(&case)),
                Wrapping {
                    gzip: false,
                    bom: false,
                },
            )
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Generated XML documents from hostile parts

/// A piece of XML content: text, a reference, markup, or a nested element of the formats'
/// vocabulary, closed, left open or closed wrongly.
fn xml_content() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "\\PC{0,30}".prop_map(|text| text.replace('<', "&lt;").replace('&', "&amp;")),
        select(HOSTILE_TOKENS.to_vec())
            .prop_map(|token| String::from_utf8_lossy(token).into_owned()),
        select(vec![
            "&amp;",
            "&lt;",
            "&#0;",
            "&#x0;",
            "&#xFFFFFFFF;",
            "&#99999999999999999999;",
            "&#55296;",
            "&#xD800;",
            "&unknown;",
            "&",
            "&;",
            "&#;",
            "&#x;",
            "<![CDATA[x]]>",
            "<![CDATA[",
            "<!-- c -->",
            "<!--",
            "<?pi x?>",
            "<?xml version=\"1.0\"?>",
            "\u{0}",
            "\u{1b}",
            "<!DOCTYPE x [<!ENTITY a \"&a;\">]>",
        ])
        .prop_map(str::to_owned),
        (0usize..60_000).prop_map(|n| "a ".repeat(n)),
    ];
    let names = select(vec![
        "entry",
        "id",
        "title",
        "summary",
        "published",
        "updated",
        "author",
        "name",
        "category",
        "primary_category",
        "link",
        "comment",
        "journal_ref",
        "doi",
        "record",
        "header",
        "identifier",
        "datestamp",
        "metadata",
        "arXiv",
        "authors",
        "keyname",
        "forenames",
        "suffix",
        "created",
        "abstract",
        "categories",
        "comments",
        "journal-ref",
        "dc",
        "oai_dc:dc",
        "dc:creator",
        "dc:date",
        "dc:subject",
        "dc:description",
        "dc:identifier",
        "dc:title",
        "error",
        "resumptionToken",
        "arxiv:primary_category",
        "a:b:c",
        "x",
    ]);
    let attributes = vec(
        (
            select(vec![
                "term",
                "code",
                "status",
                "xmlns",
                "xmlns:a",
                "cursor",
                "completeListSize",
                "a:term",
            ]),
            prop_oneof![
                "\\PC{0,12}".prop_map(|value| value.replace(['"', '<', '&'], "")),
                select(vec![
                    "deleted",
                    "cs.IR",
                    "a.b.c",
                    "noRecordsMatch",
                    "badArgument",
                    "&#0;",
                    "18446744073709551616",
                    "&amp;&lt;"
                ])
                .prop_map(str::to_owned),
            ],
        ),
        0..3,
    );
    text.prop_recursive(6, 96, 8, move |inner| {
        (names.clone(), attributes.clone(), vec(inner, 0..8), 0u8..12).prop_map(
            |(name, attributes, children, closing)| {
                let attributes: String = attributes
                    .iter()
                    .map(|(key, value)| format!(" {key}=\"{value}\""))
                    .collect();
                let children = children.concat();
                match closing {
                    0 => format!("<{name}{attributes}/>"),
                    1 => format!("<{name}{attributes}>{children}"),
                    2 => format!("<{name}{attributes}>{children}</wrong>"),
                    3 => format!("<{name}{attributes}>{children}</{name}"),
                    _ => format!("<{name}{attributes}>{children}</{name}>"),
                }
            },
        )
    })
}

fn xml_document() -> impl Strategy<Value = Vec<u8>> {
    let root = select(vec![
        ("<feed xmlns=\"http://www.w3.org/2005/Atom\">", "</feed>"),
        ("<feed><entry>", "</entry></feed>"),
        ("<OAI-PMH><ListRecords>", "</ListRecords></OAI-PMH>"),
        (
            "<OAI-PMH><ListRecords><record><metadata><arXiv>",
            "</arXiv></metadata></record></ListRecords></OAI-PMH>",
        ),
        (
            "<OAI-PMH><GetRecord><record><metadata><oai_dc:dc>",
            "</oai_dc:dc></metadata></record></GetRecord></OAI-PMH>",
        ),
        ("<rss>", "</rss>"),
    ]);
    (root, vec(xml_content(), 0..10), any::<bool>()).prop_map(|((open, close), parts, closed)| {
        let mut document = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{open}{}",
            parts.concat()
        );
        if closed {
            document.push_str(close);
        }
        document.into_bytes()
    })
}

#[test]
fn xml_documents_built_from_hostile_parts() {
    hostile::run(
        "ingest: XML from hostile parts",
        500,
        (xml_document(), wrapping()),
        |(document, wrapping)| read_case("response.xml", &Bytes(document), wrapping),
    );
}

// ---------------------------------------------------------------------------------------------
// Endless streams: memory must not follow the length

/// A stream of `head`, then `units` pieces made by `unit`, then `tail`, made as it is read (so
/// the test holds none of it).
struct Endless {
    head: Vec<u8>,
    unit: fn(u64) -> Vec<u8>,
    units: u64,
    made: u64,
    tail: Vec<u8>,
    pending: Vec<u8>,
    at: usize,
    tail_sent: bool,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            self.pending.clear();
            self.at = 0;
            if !self.head.is_empty() {
                self.pending = std::mem::take(&mut self.head);
            } else if self.made < self.units {
                // A few thousand units at a time keeps the reads large.
                for _ in 0..4096 {
                    if self.made == self.units {
                        break;
                    }
                    self.pending.extend((self.unit)(self.made));
                    self.made += 1;
                }
            } else if !self.tail_sent {
                self.tail_sent = true;
                self.pending = std::mem::take(&mut self.tail);
            } else {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// An endless shape: what it is called, its start, its repeated unit and its end.
type Shape = (&'static str, &'static str, fn(u64) -> Vec<u8>, &'static str);

const SHAPES: &[Shape] = &[
    (
        "xml text",
        "<feed><entry><summary>",
        |_| b"abcdefgh ".to_vec(),
        "",
    ),
    (
        "xml attribute value",
        "<feed><entry><category term=\"",
        |_| b"abcdefgh".to_vec(),
        "",
    ),
    (
        "xml attributes",
        "<feed><entry><category ",
        |i| format!("a{i}=\"\" ").into_bytes(),
        "/>",
    ),
    ("xml comment", "<feed><!--", |_| b"abc ".to_vec(), ""),
    (
        "xml cdata",
        "<feed><entry><title><![CDATA[",
        |_| b"abc ".to_vec(),
        "",
    ),
    ("xml tag name", "<feed><", |_| b"abcdefgh".to_vec(), ""),
    (
        "xml doctype",
        "<!DOCTYPE feed [",
        |_| b"<!ENTITY a \"b\">".to_vec(),
        "",
    ),
    ("xml nesting", "<feed>", |_| b"<a>".to_vec(), ""),
    ("xml nested entries", "<feed>", |_| b"<entry>".to_vec(), ""),
    (
        "xml entities",
        "<feed><entry><title>",
        |_| b"&amp;".to_vec(),
        "",
    ),
    (
        "atom categories",
        "<feed><entry><title>t</title>",
        |i| format!("<category term=\"a.{}\"/>", letters(i)).into_bytes(),
        "</entry></feed>",
    ),
    (
        "atom authors",
        "<feed><entry><title>t</title>",
        |_| b"<author><name>A B</name></author>".to_vec(),
        "</entry></feed>",
    ),
    (
        "atom entries",
        "<feed>",
        |_| b"<entry><title>t</title><summary>s</summary></entry>".to_vec(),
        "</feed>",
    ),
    (
        "oai dc fields",
        "<OAI-PMH><ListRecords><record><metadata><oai_dc:dc><dc:title>t</dc:title>",
        |i| {
            // A subject now and then: matching one against the taxonomy is slow in a debug build.
            let subject = if i % 64 == 63 {
                "<dc:subject>Computer Science - Learning</dc:subject>"
            } else {
                ""
            };
            format!("<dc:date>2020-01-01</dc:date><dc:creator>A, B</dc:creator>{subject}")
                .into_bytes()
        },
        "</oai_dc:dc></metadata></record></ListRecords></OAI-PMH>",
    ),
    (
        "oai arXiv authors",
        "<OAI-PMH><ListRecords><record><metadata><arXiv><title>t</title><authors>",
        |_| b"<author><keyname>K</keyname><forenames>F</forenames></author>".to_vec(),
        "</authors></arXiv></metadata></record></ListRecords></OAI-PMH>",
    ),
    (
        "oai records",
        "<OAI-PMH><ListRecords>",
        |_| {
            b"<record><header status=\"deleted\"><identifier>x</identifier></header></record>"
                .to_vec()
        },
        "</ListRecords></OAI-PMH>",
    ),
    (
        "json line",
        "{\"id\":\"1\",\"title\":\"",
        |_| b"abcdefgh".to_vec(),
        "\"}\n",
    ),
    (
        "json categories",
        "{\"id\":\"1901.00001\",\"title\":\"t\",\"abstract\":\"a.\",\"categories\":[",
        |i| format!("\"a.{}\",", letters(i)).into_bytes(),
        "\"a.a\"]}\n",
    ),
    (
        "json authors",
        "{\"list_date\":\"2024-05-27\",\"id\":\"2405.15738\",\"title\":\"t\",\"authors\":[",
        |_| b"\"A B\",".to_vec(),
        "\"C\"]}\n",
    ),
    (
        "json lines",
        "",
        |_| b"{\"id\":\"1\",\"title\":\"t\",\"abstract\":\"a\"}\n".to_vec(),
        "",
    ),
    (
        "json array element",
        "[{\"paper\":{\"id\":\"",
        |_| b"abcdefgh".to_vec(),
        "\"}}]",
    ),
    (
        "json array elements",
        "[",
        |i| {
            if i % 16 == 15 {
                b"1,".to_vec()
            } else {
                b"\"a fairly long string element of the array\",".to_vec()
            }
        },
        "1]",
    ),
    ("json array nesting", "[", |_| b"[".to_vec(), ""),
    ("json array strings", "[\"", |_| b"\\\"\\\\".to_vec(), "\"]"),
    ("listing line", "", |_| b"word ".to_vec(), "\n."),
    ("listing lines", "", |_| b"A title\n".to_vec(), ""),
    ("whitespace", "", |_| b" \n\t\r".to_vec(), ""),
];

/// The most heap one endless stream may take, whatever its length: the largest buffers kept
/// are a JSON line or array element and quick-xml's token (16 MiB each), and parsing a JSON
/// string of 16 MiB with escapes takes working copies of it (found at 5 × its size for an
/// 8 MiB one).
const STREAM_HEAP: usize = 64 * MIB;

/// The same for a listing, whose lines are read up to 1 MiB.
const LISTING_STREAM_HEAP: usize = 8 * MIB;

/// Shapes of many small records rather than one endless token: memory is not what they test,
/// and in a debug build each record costs time, so the sweep keeps them short.
const SMALL_RECORDS: &[&str] = &[
    "json array elements",
    "json lines",
    "atom entries",
    "oai records",
    "listing lines",
];

fn heap_limit(shape: &Shape) -> usize {
    if shape.0.starts_with("listing") || shape.0 == "whitespace" {
        LISTING_STREAM_HEAP
    } else {
        STREAM_HEAP
    }
}

/// A length past what `shape` may hold in memory, so holding it all would fail the test.
fn past_its_limit(shape: &Shape) -> u64 {
    if SMALL_RECORDS.contains(&shape.0) {
        4 * MIB as u64
    } else {
        (heap_limit(shape) + 4 * MIB) as u64
    }
}

fn endless(shape: &Shape, bytes: u64) -> Endless {
    let (_, head, unit, tail) = *shape;
    let unit_len = unit(0).len().max(1) as u64;
    Endless {
        head: head.as_bytes().to_vec(),
        unit,
        units: bytes / unit_len,
        made: 0,
        tail: tail.as_bytes().to_vec(),
        pending: Vec::new(),
        at: 0,
        tail_sent: false,
    }
}

fn stream_case(shape: &Shape, bytes: u64, gzip: bool) -> Result<(), TestCaseError> {
    let describe = format!(
        "{} of {bytes} bytes{}",
        shape.0,
        if gzip { ", gzipped" } else { "" }
    );
    let stream = endless(shape, bytes);
    let outcome = if gzip {
        import(
            "stream.gz",
            flate2::read::GzEncoder::new(stream, Compression::fast()),
            &describe,
        )
    } else {
        import("stream", stream, &describe)
    };
    check(&outcome, bytes as usize + 4096)?;
    let limit = heap_limit(shape);
    ensure!(
        outcome.peak_heap <= limit,
        "{describe}: {} MiB of heap (at most {} MiB allowed); {outcome:?}",
        outcome.peak_heap / MIB,
        limit / MIB
    );
    Ok(())
}

#[test]
fn endless_streams_stay_in_bounded_memory() {
    // Lengths below, around and well past every buffer limit.
    let length = prop_oneof![
        0u64..(MIB as u64),
        (MIB as u64)..(16 * MIB as u64),
        (16 * MIB as u64)..(24 * MIB as u64),
        (65 * MIB as u64)..(80 * MIB as u64),
    ];
    hostile::run(
        "ingest: endless streams",
        10,
        (0..SHAPES.len(), length, prop::bool::weighted(0.2)),
        |(shape, bytes, gzip)| stream_case(&SHAPES[shape], bytes, gzip),
    );
}

/// Tests on fixed inputs, which take no share of a timed run's time (`scripts/hostile`).
mod fixed {
    use super::*;

    #[test]
    fn unmutated_samples_read_cleanly() {
        // The seeds are valid: if they were not, the mutations would test less than they seem to.
        for (label, bytes) in samples::seeds() {
            let outcome = import(
                "2024-05-27.json",
                std::io::Cursor::new(bytes.clone()),
                label,
            );
            assert!(outcome.result.is_ok(), "{label}: {:?}", outcome.result);
            assert!(outcome.records > 0, "{label}: no records");
            assert_eq!(outcome.rejected, 0, "{label}: rejections");
        }
    }

    #[test]
    fn every_endless_shape_past_every_limit() {
        // The random test above draws a few shapes per run in CI; this sweep gives each one a
        // length past what it may hold, every time.
        for shape in SHAPES {
            let started = Instant::now();
            if let Err(error) = stream_case(shape, past_its_limit(shape), false) {
                panic!("{error}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "hostile: sweep: {}: {:.1} s",
                shape.0,
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Cases found by the tests above, kept as ordinary tests.
mod regressions {
    use super::*;

    fn read_all(bytes: impl Read + Send + 'static) -> Outcome {
        import("regression", bytes, "a regression case")
    }

    fn shape(name: &str) -> &'static Shape {
        SHAPES.iter().find(|shape| shape.0 == name).unwrap()
    }

    #[test]
    fn endless_xml_text_ends_the_file_at_a_line_in_bounded_memory() {
        // quick-xml kept a whole run of text (or a tag, a comment) in memory.
        let outcome = read_all(endless(shape("xml text"), 64 * MIB as u64));
        let message = outcome.result.unwrap_err().to_string();
        assert!(
            message.contains("line 1") && message.contains("over 16777216 bytes"),
            "{message}"
        );
        assert!(
            outcome.peak_heap < 40 * MIB,
            "{} MiB",
            outcome.peak_heap / MIB
        );
    }

    #[test]
    fn endless_nesting_is_refused() {
        // quick-xml kept the name of every open element.
        let outcome = read_all(endless(shape("xml nesting"), 8 * MIB as u64));
        let message = outcome.result.unwrap_err().to_string();
        assert!(message.contains("nested more than 256 deep"), "{message}");
        assert!(
            outcome.peak_heap < 4 * MIB,
            "{} MiB",
            outcome.peak_heap / MIB
        );
    }

    #[test]
    fn an_atom_entry_of_endless_categories_and_authors_is_rejected_in_bounded_memory() {
        // Every <category> and <name> was kept, without bound, until the entry ended.
        for name in ["atom categories", "atom authors"] {
            let outcome = read_all(endless(shape(name), 24 * MIB as u64));
            assert!(outcome.result.is_ok(), "{name}: {:?}", outcome.result);
            assert_eq!((outcome.records, outcome.rejected), (0, 1), "{name}");
            assert!(
                outcome.peak_heap < 4 * MIB,
                "{name}: {} MiB",
                outcome.peak_heap / MIB
            );
        }
    }

    #[test]
    fn a_line_of_a_million_categories_is_rejected_in_linear_time() {
        // Categories were deduplicated by scanning all kept before: 10^12 steps for a million.
        let codes: Vec<String> = (0..1_000_000)
            .map(|i| format!("\"a.{}\"", letters(i)))
            .collect();
        let line = format!(
            "{{\"id\":\"1901.00001\",\"title\":\"t\",\"abstract\":\"a.\",\"categories\":[{}]}}\n",
            codes.join(",")
        );
        let started = Instant::now();
        let outcome = read_all(std::io::Cursor::new(line.into_bytes()));
        assert_eq!((outcome.records, outcome.rejected), (0, 1));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn an_empty_array_entry_is_called_invalid_not_oversized() {
        let outcome = read_all(std::io::Cursor::new(
            b"[,{\"paper\":{\"id\":\"2405.15738\",\"title\":\"t\"}}]".to_vec(),
        ));
        assert_eq!((outcome.records, outcome.rejected), (1, 1));
        let mut messages = Vec::new();
        read_stream(
            "x.json",
            std::io::Cursor::new(b"[,]".to_vec()),
            Arc::default(),
            &mut |item| {
                if let Item::Rejected(error) = item {
                    messages.push(error.to_string());
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert!(messages[0].contains("invalid JSON"), "{messages:?}");
    }

    #[test]
    fn a_tag_of_many_attributes_is_read_in_linear_time() {
        // quick-xml's duplicate check compared every attribute with all before it.
        let attributes: String = (0..200_000).map(|i| format!(" a{i}=\"\"")).collect();
        let feed = format!(
            "<feed><entry><title>t</title><summary>s.</summary><category{attributes} term=\"cs.IR\"/></entry></feed>"
        );
        let started = Instant::now();
        let outcome = read_all(std::io::Cursor::new(feed.into_bytes()));
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
