//! Small valid samples of every format the importer reads, cut from the real files in
//! `../shared/data` (the same ones the importer's own tests read), as seeds for the hostile-input
//! tests: mutations of valid records reach much deeper into a parser than random bytes do.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn shared(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative)
}

fn read(relative: &str) -> Vec<u8> {
    read_prefix(relative, u64::MAX)
}

/// The first `limit` bytes of a fixture, decompressed.
fn read_prefix(relative: &str, limit: u64) -> Vec<u8> {
    let path = shared(relative);
    let raw = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("{}: {error} (is shared/ there?)", path.display()));
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(limit)
            .read_to_end(&mut text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        text
    } else {
        raw.into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
    }
}

/// Shortens long strings and arrays, so that a sample is a few hundred bytes.
fn shrink(value: Value) -> Value {
    match value {
        Value::String(text) if text.chars().count() > 160 => {
            Value::String(text.chars().take(160).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().take(3).map(shrink).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, shrink(v))).collect()),
        other => other,
    }
}

fn first_json_lines(relative: &str, count: usize) -> Vec<u8> {
    let text = read_prefix(relative, 256 * 1024);
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').take(count) {
        let value: Value = serde_json::from_slice(line).unwrap_or_else(|error| panic!("{error}"));
        out.extend(serde_json::to_vec(&shrink(value)).unwrap_or_default());
        out.push(b'\n');
    }
    out
}

fn text_lines(relative: &str, count: usize, width: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(&read(relative)).into_owned();
    let mut out = String::new();
    for line in text.lines().take(count) {
        out.extend(line.chars().take(width));
        out.push('\n');
    }
    out.into_bytes()
}

/// The first `records` records of an OAI-PMH `ListRecords` response, closed properly.
fn first_records(relative: &str, records: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(&read(relative)).into_owned();
    let mut end = 0;
    for _ in 0..records {
        match text[end..].find("</record>") {
            Some(at) => end += at + "</record>".len(),
            None => break,
        }
    }
    format!("{}\n</ListRecords>\n</OAI-PMH>\n", &text[..end]).into_bytes()
}

/// Named samples of every format: Atom (current and legacy), OAI-PMH (`arXiv` and `oai_dc`,
/// `GetRecord` and `ListRecords`), the Hugging Face array, flat and entry lines, arXiv metadata
/// lines (with versions, as the snapshot dump has them), Paperboy's export and a listing page.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let hf_array: Value = serde_json::from_slice(&read("hf-daily-papers/raw/2024-05-27.json.gz"))
        .unwrap_or_else(|error| panic!("{error}"));
    let hf_entries: Vec<Value> = match hf_array {
        Value::Array(items) => items.into_iter().take(2).map(shrink).collect(),
        _ => panic!("the daily list is not an array"),
    };
    let hf_lines: Vec<u8> = hf_entries
        .iter()
        .flat_map(|entry| {
            let mut line = serde_json::to_vec(entry).unwrap_or_default();
            line.push(b'\n');
            line
        })
        .collect();
    let snapshot_line = br#"{"id":"0704.0001","submitter":"Pavel Nadolsky","authors":"C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan","title":"Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies","comments":"37 pages, 15 figures","journal-ref":"Phys.Rev.D76:013009,2007","doi":"10.1103/PhysRevD.76.013009","categories":"hep-ph","abstract":"  A fully differential calculation.\n","versions":[{"version":"v1","created":"Mon, 2 Apr 2007 19:18:42 GMT"},{"version":"v2","created":"Tue, 24 Jul 2007 20:10:27 GMT"}],"update_date":"2008-11-13"}
"#;
    let export_line = br#"{"arxiv_id":"1901.00001","version":2,"title":"A good paper","abstract":"Fine.","authors":["A. Author","B. Author"],"categories":["cs.IR","cs.LG"],"published":"2019-01-01","updated":"2019-02-01","listing_dates":["2019-01-02"],"doi":null,"journal_ref":null,"comment":null,"code_url":"https://github.com/a/b","project_url":null,"github_stars":3,"external_upvotes":7,"source":"hf-daily"}
"#;
    vec![
        (
            "atom",
            read("arxiv-api-fixtures/atom-api/query_id_list_1706.03762_2026-04-05.xml"),
        ),
        (
            "atom-legacy",
            read("arxiv-api-fixtures/atom-api/query_id_list_1601.00001_2020-09-04.xml"),
        ),
        (
            "atom-search",
            read("arxiv-api-fixtures/atom-api/query_cat-cs.RO_2025-10-17_2-entries.xml"),
        ),
        (
            "oai-arxiv",
            read("arxiv-api-fixtures/oai-pmh/getrecord_arXiv_1401.2122.xml"),
        ),
        (
            "oai-dc",
            read("arxiv-api-fixtures/oai-pmh/getrecord_oai_dc_1207.1019.xml"),
        ),
        (
            "oai-list",
            first_records(
                "arxiv-api-fixtures/oai-pmh/listrecords_arXiv_set-cs_2015-01-16_2015-01-18.xml",
                2,
            ),
        ),
        (
            "hf-array",
            serde_json::to_vec_pretty(&Value::Array(hf_entries)).unwrap_or_default(),
        ),
        ("hf-lines", hf_lines),
        (
            "hf-flat",
            first_json_lines("hf-daily-papers/papers_flat.jsonl.gz", 2),
        ),
        (
            "arxiv-metadata",
            first_json_lines("arxiv-metadata-cs-2019/papers.jsonl.gz", 2),
        ),
        ("arxiv-snapshot", snapshot_line.to_vec()),
        ("export", export_line.to_vec()),
        (
            "listing",
            text_lines("seed-listing/papers-listing.txt", 6, 300),
        ),
    ]
}
