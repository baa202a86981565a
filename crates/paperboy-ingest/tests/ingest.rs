//! Every importer on real data from `../shared/data`, and every kind of bad input.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use flate2::Compression;
use flate2::write::GzEncoder;
use paperboy_core::{PaperRecord, Source};
use paperboy_ingest::{FileError, Format, Item, RecordError, read_file, read_stream};

fn shared(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative)
}

/// What reading one file gave.
struct Read {
    records: Vec<PaperRecord>,
    rejected: Vec<RecordError>,
    outcome: Result<Format, FileError>,
}

impl Read {
    fn by_id(&self, id: &str) -> &PaperRecord {
        self.records
            .iter()
            .find(|record| {
                record
                    .arxiv_id
                    .as_ref()
                    .is_some_and(|known| known.as_str() == id)
            })
            .unwrap_or_else(|| panic!("{id} was not read"))
    }

    fn format(&self) -> Format {
        match &self.outcome {
            Ok(format) => *format,
            Err(error) => panic!("the file failed: {error}"),
        }
    }

    fn error(&self) -> String {
        match &self.outcome {
            Ok(format) => panic!("expected the file to fail, it read as {format}"),
            Err(error) => error.to_string(),
        }
    }

    fn rejections(&self) -> Vec<String> {
        self.rejected.iter().map(ToString::to_string).collect()
    }
}

fn collect(
    read: impl FnOnce(&mut dyn FnMut(Item) -> ControlFlow<()>) -> Result<Format, FileError>,
) -> Read {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let outcome = read(&mut |item| {
        match item {
            Item::Record { record, .. } => records.push(*record),
            Item::Rejected(error) => rejected.push(error),
        }
        ControlFlow::Continue(())
    });
    Read {
        records,
        rejected,
        outcome,
    }
}

fn read_path(path: &Path) -> Read {
    collect(|sink| read_file(path, Arc::default(), sink))
}

fn read_bytes(name: &str, bytes: impl Into<Vec<u8>>) -> Read {
    let bytes = bytes.into();
    collect(|sink| read_stream(name, std::io::Cursor::new(bytes), Arc::default(), sink))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Real data, field by field

#[test]
fn reads_a_current_arxiv_api_response() {
    let read = read_path(&shared(
        "arxiv-api-fixtures/atom-api/query_search_2026-04-05_3-entries.xml",
    ));
    assert_eq!(read.format(), Format::ArxivAtom);
    assert_eq!(read.records.len(), 3);
    let paper = read.by_id("2201.00978");
    assert_eq!(
        paper.title,
        "PyramidTNT: Improved Transformer-in-Transformer Baselines with Pyramid Architecture"
    );
    assert_eq!(paper.version, Some(1));
    assert_eq!(
        paper.authors,
        ["Kai Han", "Jianyuan Guo", "Yehui Tang", "Yunhe Wang"]
    );
    assert_eq!(paper.categories, ["cs.CV"]);
    assert_eq!(paper.published, Some(date("2022-01-04")));
    assert_eq!(
        paper.comment.as_deref(),
        Some("Tech Report. An extension of \"Transformer in Transformer\" (arXiv:2103.00112)")
    );
    assert!(
        paper
            .abstract_text
            .starts_with("Transformer networks have achieved great progress")
    );
    assert_eq!(paper.source, Source::ArxivApi);
}

#[test]
fn reads_a_legacy_arxiv_api_response_with_wrapped_text() {
    let read = read_path(&shared(
        "arxiv-api-fixtures/atom-api/query_cat-cs.RO_2025-10-17_2-entries.xml",
    ));
    assert_eq!(read.records.len(), 2);
    let paper = read.by_id("2510.14968");
    assert_eq!(
        paper.title,
        "RDD: Retrieval-Based Demonstration Decomposer for Planner Alignment in Long-Horizon Tasks"
    );
    assert_eq!(
        paper.categories,
        ["cs.RO", "cs.AI", "cs.CV", "cs.LG", "cs.SY", "eess.SY"]
    );
    assert!(paper.abstract_text.starts_with(
        "To tackle long-horizon tasks, recent hierarchical vision-language-action (VLAs)"
    ));
    assert!(!paper.abstract_text.contains('\n'));

    let read = read_path(&shared(
        "arxiv-api-fixtures/atom-api/query_id_list_1601.00001_2020-09-04.xml",
    ));
    let paper = read.by_id("1601.00001");
    assert_eq!(paper.doi.as_deref(), Some("10.1063/1.4944470"));
    assert_eq!(
        paper.journal_ref.as_deref(),
        Some("J. Chem. Phys. 144, 124107 (2016)")
    );
    assert_eq!(paper.categories, ["cond-mat.mes-hall"]);
    assert!(
        paper.abstract_text.contains("Landauer-B\\\"uttiker"),
        "LaTeX is kept as written"
    );
    assert!(paper.abstract_text.contains("$I$-$V$"));
}

#[test]
fn reads_oai_pmh_list_records_in_arxiv_format() {
    let read = read_path(&shared(
        "arxiv-api-fixtures/oai-pmh/listrecords_arXiv_set-cs_2015-01-16_2015-01-18.xml",
    ));
    assert_eq!(read.format(), Format::OaiPmh);
    assert_eq!(read.records.len(), 46);
    assert!(read.rejected.is_empty(), "{:?}", read.rejections());
    let paper = read.by_id("1101.4388");
    assert_eq!(
        paper.title,
        "Reproducing Kernel Banach Spaces with the l1 Norm"
    );
    assert_eq!(
        paper.authors,
        ["Guohui Song", "Haizhang Zhang", "Fred J. Hickernell"]
    );
    assert_eq!(paper.categories, ["stat.ML", "cs.LG", "math.FA"]);
    assert_eq!(paper.primary_category(), Some("stat.ML"));
    assert_eq!(paper.published, Some(date("2011-01-23")));
    assert_eq!(paper.updated, Some(date("2012-03-28")));
    assert_eq!(paper.doi.as_deref(), Some("10.1016/j.acha.2012.03.009"));
    assert_eq!(
        paper.journal_ref.as_deref(),
        Some("Appl. Comput. Harmon. Anal., 34:96-116, 2013")
    );
    assert_eq!(paper.source, Source::ArxivOai);
    assert_eq!(
        read.by_id("1111.1546").authors,
        ["Tobias Brunsch", "Heiko Röglin"]
    );

    let physics = read_path(&shared(
        "arxiv-api-fixtures/oai-pmh/listrecords_arXiv_set-physics_2015-01-16_2015-01-18.xml",
    ));
    assert_eq!(physics.records.len(), 150);
    for name in [
        "listrecords_arXiv_set-physics-hep-ex_from-2017-12-14.xml",
        "listrecords_arXiv_set-physics-hep-th_from-2017-12-14.xml",
    ] {
        let read = read_path(&shared(&format!("arxiv-api-fixtures/oai-pmh/{name}")));
        assert_eq!(read.records.len(), 3, "{name}");
        assert!(read.rejected.is_empty(), "{name}: {:?}", read.rejections());
    }
}

#[test]
fn reads_oai_pmh_get_record_in_both_metadata_formats() {
    let read = read_path(&shared(
        "arxiv-api-fixtures/oai-pmh/getrecord_arXiv_1507.03011.xml",
    ));
    let paper = read.by_id("1507.03011");
    assert_eq!(
        paper.authors,
        ["J. E. Young", "Rachel Kuzio de Naray", "Sharon X. Wang"]
    );
    assert_eq!(paper.categories, ["astro-ph.GA"]);
    assert_eq!(paper.comment.as_deref(), Some("13 pages, 7 figures"));
    assert_eq!(
        read_path(&shared(
            "arxiv-api-fixtures/oai-pmh/getrecord_arXiv_1401.2122.xml"
        ))
        .records
        .len(),
        1
    );

    let read = read_path(&shared(
        "arxiv-api-fixtures/oai-pmh/getrecord_oai_dc_1207.1019.xml",
    ));
    let paper = read.by_id("1207.1019");
    assert_eq!(
        paper.title,
        "PAC-Bayesian Majority Vote for Late Classifier Fusion"
    );
    assert_eq!(
        paper.authors,
        ["Emilie Morvant", "Amaury Habrard", "Stéphane Ayache"]
    );
    assert_eq!(paper.categories, ["stat.ML", "cs.CV", "cs.LG", "cs.MM"]);
    assert_eq!(paper.comment.as_deref(), Some("7 pages, Research report"));
    assert_eq!(paper.published, Some(date("2012-07-04")));
    assert!(paper.abstract_text.starts_with(
        "A lot of attention has been devoted to multimedia indexing over the past few years."
    ));
}

#[test]
fn reads_a_hugging_face_daily_list_with_upvotes_code_and_listing_date() {
    let read = read_path(&shared("hf-daily-papers/raw/2025-07-02.json.gz"));
    assert_eq!(read.format(), Format::HfDaily);
    assert_eq!(read.records.len(), 10);
    let glm = read.by_id("2507.01006");
    assert_eq!(glm.external_upvotes, 72);
    assert_eq!(glm.authors.len(), 77);
    assert_eq!(glm.authors[0], "Wenyi Hong");
    assert_eq!(
        glm.listing_dates.iter().copied().collect::<Vec<_>>(),
        [date("2025-07-02")]
    );
    assert_eq!(glm.published, Some(date("2025-07-01")));
    assert_eq!(glm.source, Source::HfDaily);
    let radial = read.by_id("2506.19852");
    assert_eq!(
        radial.code_url.as_deref(),
        Some("https://github.com/mit-han-lab/radial-attention/")
    );
    assert_eq!(radial.github_stars, Some(185));
    assert_eq!(
        radial.project_url.as_deref(),
        Some("https://hanlab.mit.edu/projects/radial-attention")
    );
    assert_eq!(
        read.by_id("2507.01001").project_url.as_deref(),
        Some("https://sciarena.allen.ai/")
    );
}

#[test]
fn the_listing_date_comes_from_the_entry_when_the_file_name_has_none() {
    let bytes = std::fs::read(shared("hf-daily-papers/raw/2025-07-02.json.gz")).unwrap();
    let read = read_bytes("daily.json.gz", bytes);
    let glm = read.by_id("2507.01006");
    // submittedOnDailyAt is 2025-07-02T03:07:41Z.
    assert_eq!(
        glm.listing_dates.iter().copied().collect::<Vec<_>>(),
        [date("2025-07-02")]
    );
}

#[test]
fn reads_every_hugging_face_daily_file() {
    let mut entries = 0;
    let mut ids = std::collections::BTreeSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(shared("hf-daily-papers/raw")).unwrap() {
        let read = read_path(&entry.unwrap().path());
        assert!(read.rejected.is_empty(), "{:?}", read.rejections());
        read.format();
        entries += read.records.len();
        ids.extend(
            read.records
                .iter()
                .map(|record| record.arxiv_id.clone().unwrap()),
        );
        files += 1;
    }
    assert_eq!(files, 558);
    assert_eq!(entries, 9_581);
    assert_eq!(ids.len(), 9_577);
}

#[test]
fn reads_the_flattened_hugging_face_file() {
    let read = read_path(&shared("hf-daily-papers/papers_flat.jsonl.gz"));
    assert_eq!(read.format(), Format::HfDailyFlat);
    assert_eq!(read.records.len(), 9_581);
    assert!(read.rejected.is_empty(), "{:?}", read.rejections());
}

#[test]
fn reads_the_arxiv_metadata_sample() {
    let read = read_path(&shared("arxiv-metadata-cs-2019/papers.jsonl.gz"));
    assert_eq!(read.format(), Format::ArxivMetadata);
    assert!(
        read.rejected.is_empty(),
        "{:?}",
        &read.rejections()[..read.rejected.len().min(5)]
    );
    assert_eq!(read.records.len(), 46_006);
    let paper = read.by_id("math/9801152");
    assert_eq!(paper.title, "On the classifiability of cellular automata");
    assert_eq!(paper.authors, ["John T. Baldwin", "Saharon Shelah"]);
    assert_eq!(paper.categories, ["math.LO", "cs.NE"]);
    assert_eq!(paper.published, Some(date("1998-01-14")));
    assert_eq!(paper.updated, None);
    assert!(
        paper
            .abstract_text
            .ends_with("relation of some of them to our discoveries.")
    );
    assert_eq!(paper.source, Source::ArxivMetadata);
    let old_style = read
        .records
        .iter()
        .filter(|r| r.arxiv_id.as_ref().unwrap().is_old_style())
        .count();
    assert_eq!(old_style, 1_563);
}

#[test]
fn reads_the_arxiv_snapshot_dump_shape() {
    let line = r#"{"id":"0704.0001","submitter":"Pavel Nadolsky","authors":"C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan","title":"Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies","comments":"37 pages, 15 figures","journal-ref":"Phys.Rev.D76:013009,2007","doi":"10.1103/PhysRevD.76.013009","categories":"hep-ph","abstract":"  A fully differential calculation.\n","versions":[{"version":"v1","created":"Mon, 2 Apr 2007 19:18:42 GMT"},{"version":"v2","created":"Tue, 24 Jul 2007 20:10:27 GMT"}],"update_date":"2008-11-13"}"#;
    let read = read_bytes("snapshot.json", line);
    assert!(read.rejected.is_empty(), "{:?}", read.rejections());
    let paper = read.by_id("0704.0001");
    assert_eq!(paper.version, Some(2));
    assert_eq!(paper.published, Some(date("2007-04-02")));
    assert_eq!(paper.updated, Some(date("2007-07-24")));
    assert_eq!(
        paper.authors,
        [
            "C. Bal\\'azs",
            "E. L. Berger",
            "P. M. Nadolsky",
            "C.-P. Yuan"
        ]
    );
    assert_eq!(
        paper.journal_ref.as_deref(),
        Some("Phys.Rev.D76:013009,2007")
    );
}

#[test]
fn reads_the_saved_listing_page() {
    let read = read_path(&shared("seed-listing/papers-listing.txt"));
    assert_eq!(read.format(), Format::Listing);
    assert!(read.rejected.is_empty(), "{:?}", read.rejections());
    assert_eq!(read.records.len(), 230);
    let first = &read.records[0];
    assert_eq!(first.title, "Entropy-Guided Attention for Private LLMs");
    assert!(
        first
            .abstract_text
            .starts_with("The pervasiveness of proprietary language models")
    );
    assert!(
        first.abstract_text.contains("{\\em entropy collapse}"),
        "LaTeX is kept"
    );
    assert!(first.arxiv_id.is_none());
    assert_eq!(first.source, Source::Listing);
    assert!(
        read.records
            .iter()
            .all(|record| !record.abstract_text.is_empty())
    );
}

#[test]
fn the_export_format_round_trips_every_field() {
    let mut records = read_path(&shared("hf-daily-papers/raw/2025-07-02.json.gz")).records;
    records.extend(
        read_path(&shared(
            "arxiv-api-fixtures/atom-api/query_id_list_1601.00001_2020-09-04.xml",
        ))
        .records,
    );
    records.extend(
        read_path(&shared("seed-listing/papers-listing.txt"))
            .records
            .into_iter()
            .take(3),
    );
    let mut exported = Vec::new();
    for record in &records {
        paperboy_ingest::export::write_record(&mut exported, record).unwrap();
    }
    let read = read_bytes("export.jsonl", exported.clone());
    assert_eq!(read.format(), Format::PaperboyExport);
    assert!(read.rejected.is_empty(), "{:?}", read.rejections());
    assert_eq!(read.records, records);
    let mut again = Vec::new();
    for record in &read.records {
        paperboy_ingest::export::write_record(&mut again, record).unwrap();
    }
    assert_eq!(again, exported);
}

// ---------------------------------------------------------------------------------------------
// Bad input: one clear message naming the record, the good records still read

const GOOD_LINE: &str = r#"{"id": "1901.00001", "title": "A good paper", "abstract": "Fine.", "authors": "A. Author", "categories": ["cs.IR"], "primary_category": "cs.IR", "created": "2019-01-01", "updated": null}"#;

fn jsonl(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

#[test]
fn a_truncated_gzip_keeps_the_records_before_the_cut() {
    let lines: Vec<String> = (1..=2_000)
        .map(|n| GOOD_LINE.replace("1901.00001", &format!("1901.{n:05}")))
        .collect();
    let compressed = gzip(jsonl(&lines.iter().map(String::as_str).collect::<Vec<_>>()).as_bytes());
    let cut = &compressed[..compressed.len() / 2];
    let read = read_bytes("papers.jsonl.gz", cut);
    assert!(read.records.len() > 100, "records before the cut are read");
    assert!(read.records.len() < 2_000);
    let error = read.error();
    assert!(error.contains("ends too early"), "{error}");
    assert!(error.contains("line"), "{error}");
}

#[test]
fn invalid_xml_keeps_the_entries_before_it_and_names_the_line() {
    let text = std::fs::read_to_string(shared(
        "arxiv-api-fixtures/atom-api/query_search_2026-04-05_3-entries.xml",
    ))
    .unwrap();
    let second_entry = text.match_indices("<entry>").nth(1).unwrap().0;
    let mut broken = text;
    broken.replace_range(second_entry..second_entry + 7, "<entry><oops a=>");
    let read = read_bytes("broken.xml", broken);
    assert_eq!(read.records.len(), 1);
    let error = read.error();
    assert!(error.starts_with("line "), "{error}");
    assert!(error.contains("invalid XML"), "{error}");
}

#[test]
fn invalid_json_lines_are_rejected_one_by_one() {
    let read = read_bytes(
        "papers.jsonl",
        jsonl(&[
            GOOD_LINE,
            "{\"id\": \"1901.00002\", \"title\": ",
            "not json at all",
            &GOOD_LINE.replace("00001", "00003"),
        ]),
    );
    assert_eq!(read.records.len(), 2);
    let rejections = read.rejections();
    assert_eq!(rejections.len(), 2);
    assert!(
        rejections[0].starts_with("record 2 (line 2): invalid JSON"),
        "{rejections:?}"
    );
    assert!(
        rejections[1].starts_with("record 3 (line 3): invalid JSON"),
        "{rejections:?}"
    );
    read.format();
}

#[test]
fn invalid_json_in_a_daily_list_rejects_only_that_entry() {
    let good = r#"{"paper": {"id": "2501.00001", "title": "T", "summary": "S", "authors": []}}"#;
    let read = read_bytes(
        "2025-01-01.json",
        format!(
            "[{good},\n {{\"paper\": oops}},\n {}]",
            good.replace("00001", "00003")
        ),
    );
    assert_eq!(read.records.len(), 2);
    let rejections = read.rejections();
    assert_eq!(rejections.len(), 1);
    assert!(
        rejections[0].starts_with("record 2 (line 2): invalid JSON: expected value"),
        "{rejections:?}"
    );
    assert_eq!(read.format(), Format::HfDaily);
}

#[test]
fn a_broken_daily_list_keeps_the_entries_before_the_break() {
    let good = r#"{"paper": {"id": "2501.00001", "title": "T", "summary": "S", "authors": []}}"#;
    let read = read_bytes("2025-01-01.json", format!("[{good}\n {good}]"));
    assert_eq!(read.records.len(), 1);
    assert_eq!(
        read.error(),
        "line 2: invalid JSON: expected ',' or ']' after an entry"
    );

    let read = read_bytes(
        "2025-01-01.json",
        format!("[{good},\n{{\"paper\": {{\"id\""),
    );
    assert_eq!(read.records.len(), 1);
    assert!(
        read.error().contains("the JSON ends too early"),
        "{}",
        read.error()
    );

    let read = read_bytes("2025-01-01.json", format!("[{good}] trailing"));
    assert_eq!(read.records.len(), 1);
    assert!(read.error().contains("text after the end of the array"));
}

#[test]
fn a_record_without_a_title_is_rejected_by_name() {
    let read = read_bytes(
        "papers.jsonl",
        jsonl(&[
            &GOOD_LINE.replace("\"A good paper\"", "\"  \""),
            &GOOD_LINE.replace("00001", "00002"),
        ]),
    );
    assert_eq!(read.records.len(), 1);
    assert_eq!(
        read.rejections(),
        ["record 1 (line 1) (1901.00001): the record has no title"]
    );

    let atom = std::fs::read_to_string(shared("arxiv-api-fixtures/atom-api/query_search_2026-04-05_3-entries.xml"))
        .unwrap()
        .replacen("<title>PyramidTNT: Improved Transformer-in-Transformer Baselines with Pyramid Architecture</title>", "", 1);
    let read = read_bytes("feed.xml", atom);
    assert_eq!(read.records.len(), 2);
    let rejections = read.rejections();
    assert!(
        rejections[0].starts_with(
            "record 1 (line 10) (http://arxiv.org/abs/2201.00978v1): the record has no title"
        ),
        "{rejections:?}"
    );
}

#[test]
fn an_impossible_date_is_rejected_by_name() {
    let read = read_bytes(
        "papers.jsonl",
        jsonl(&[&GOOD_LINE.replace("2019-01-01", "2019-02-30"), GOOD_LINE]),
    );
    assert_eq!(read.records.len(), 1);
    assert_eq!(
        read.rejections(),
        [
            "record 1 (line 1) (1901.00001): the published date '2019-02-30' is not a valid date (expected YYYY-MM-DD)"
        ]
    );
}

#[test]
fn a_ten_megabyte_abstract_is_rejected_in_every_format() {
    let huge = "word ".repeat(2 * 1024 * 1024);

    let read = read_bytes(
        "papers.jsonl",
        jsonl(&[
            &GOOD_LINE.replace("Fine.", &huge),
            &GOOD_LINE.replace("00001", "00002"),
        ]),
    );
    assert_eq!(read.records.len(), 1);
    let rejections = read.rejections();
    assert!(
        rejections[0].contains("(1901.00001): the abstract is 10485759 characters long"),
        "{rejections:?}"
    );

    let atom = std::fs::read_to_string(shared(
        "arxiv-api-fixtures/atom-api/query_search_2026-04-05_3-entries.xml",
    ))
    .unwrap();
    let start = atom.find("<summary>").unwrap() + "<summary>".len();
    let end = atom.find("</summary>").unwrap();
    let mut atom = atom;
    atom.replace_range(start..end, &huge);
    let read = read_bytes("feed.xml", atom);
    assert_eq!(read.records.len(), 2);
    let rejections = read.rejections();
    assert!(
        rejections[0].contains("the summary is 10485760 bytes long"),
        "{rejections:?}"
    );

    let listing = format!(
        "Title one\n{huge}\nTitle two\nA fine abstract that is long enough to count as one, since it ends with a full stop.\n"
    );
    let read = read_bytes("listing.txt", listing);
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].title, "Title two");
    let rejections = read.rejections();
    assert!(
        rejections[0].starts_with("record 1 (line 1): the line is 10485761 bytes long"),
        "{rejections:?}"
    );
}

#[test]
fn binary_garbage_is_not_read_as_a_listing() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let read = read_bytes("garbage.txt", garbage.clone());
    assert!(read.error().contains("binary data"), "{}", read.error());
    assert!(read.records.is_empty());
    let read = read_bytes("garbage.json.gz", gzip(&garbage));
    assert!(read.error().contains("binary data"));
}

#[test]
fn an_empty_file_says_so() {
    assert_eq!(read_bytes("empty.json", "").error(), "it is empty");
    assert_eq!(read_bytes("blank.txt", "\n \n").error(), "it is empty");
    assert_eq!(
        read_bytes("empty.json.gz", gzip(b"")).error(),
        "it is empty"
    );
}

#[test]
fn unknown_json_lines_and_xml_are_refused_with_what_was_found() {
    let error = read_bytes("x.jsonl", "{\"name\": \"x\", \"value\": 1}\n").error();
    assert!(
        error.contains("keys name, value are not a known paper format"),
        "{error}"
    );
    let error = read_bytes("x.xml", "<?xml version=\"1.0\"?><html><body/></html>").error();
    assert!(error.contains("root element is <html>"), "{error}");
}

#[test]
fn an_arxiv_api_error_entry_is_reported() {
    let feed = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id><title>Error</title><summary>incorrect id format for 1234</summary></entry></feed>"#;
    let read = read_bytes("error.xml", feed);
    assert!(read.records.is_empty());
    assert_eq!(
        read.rejections(),
        ["record 1 (line 2): the arXiv API reported an error: incorrect id format for 1234"]
    );
}

#[test]
fn oai_errors_end_the_file_but_no_records_match_is_an_empty_result() {
    let response = |code: &str| {
        format!(
            r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01T00:00:00Z</responseDate><error code="{code}">Something</error></OAI-PMH>"#
        )
    };
    let read = read_bytes("empty.xml", response("noRecordsMatch"));
    assert_eq!(read.format(), Format::OaiPmh);
    assert!(read.records.is_empty());
    assert!(read.error_if_any().is_none());
    let error = read_bytes("bad.xml", response("badArgument")).error();
    assert!(
        error.contains("the OAI-PMH server reported badArgument: Something"),
        "{error}"
    );
}

impl Read {
    fn error_if_any(&self) -> Option<String> {
        self.outcome.as_ref().err().map(ToString::to_string)
    }
}

#[test]
fn deleted_oai_records_are_passed_over() {
    let response = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header status="deleted"><identifier>oai:arXiv.org:1501.00001</identifier><datestamp>2015-01-01</datestamp></header></record></ListRecords></OAI-PMH>"#;
    let read = read_bytes("deleted.xml", response);
    assert!(read.records.is_empty());
    assert!(read.rejected.is_empty());
    read.format();
}

#[test]
fn a_listing_title_without_an_abstract_is_reported_and_pairing_resumes() {
    let listing = "First title\nSecond title\nAn abstract for the second paper, which ends like a sentence.\nDangling title\n";
    let read = read_bytes("listing.txt", listing);
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].title, "Second title");
    assert_eq!(
        read.rejections(),
        [
            "record 1 (line 1): a title line without an abstract line after it",
            "record 3 (line 4): the file ends with a title line without an abstract",
        ]
    );
}

#[test]
fn a_sink_can_stop_reading_early() {
    let mut seen = 0;
    let outcome = read_file(
        &shared("arxiv-metadata-cs-2019/papers.jsonl.gz"),
        Arc::default(),
        &mut |_| {
            seen += 1;
            if seen == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    );
    assert_eq!(seen, 10);
    assert_eq!(outcome.unwrap(), Format::ArxivMetadata);
}
