//! OAI-PMH fixtures: the real records of the recorded arXiv responses (or records written from
//! real arXiv metadata), split across pages joined by resumption tokens, served by a handler
//! that can be told to fail on chosen requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::server::{Reply, Request};

pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// The `<record>` elements of a recorded `ListRecords` response, as written there.
pub fn records_of(file: &str) -> Vec<String> {
    let path = shared_data().join("arxiv-api-fixtures/oai-pmh").join(file);
    let text = std::fs::read_to_string(&path).expect("a recorded OAI-PMH response");
    text.split("<record>")
        .skip(1)
        .map(|rest| {
            let end = rest.find("</record>").expect("a closed record");
            format!("<record>{}</record>", &rest[..end])
        })
        .collect()
}

/// The 196 real records of the recorded `cs` and `physics` harvests.
pub fn real_records() -> Vec<String> {
    let mut records = records_of("listrecords_arXiv_set-cs_2015-01-16_2015-01-18.xml");
    records.extend(records_of(
        "listrecords_arXiv_set-physics_2015-01-16_2015-01-18.xml",
    ));
    records
}

/// The arXiv id in a record's `<id>`.
pub fn id_of(record: &str) -> String {
    let start = record.find("<id>").expect("an id") + 4;
    let end = record[start..].find("</id>").expect("a closed id") + start;
    record[start..end].to_owned()
}

/// A `ListRecords` response holding `records`, with `token` for the next page (an empty
/// token element on the last page, as arXiv sends).
pub fn page(records: &[String], token: Option<&str>, cursor: usize, list_size: usize) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\n\
         <responseDate>2026-11-29T00:00:00Z</responseDate>\n\
         <request verb=\"ListRecords\">http://127.0.0.1/oai</request>\n<ListRecords>\n",
    );
    for record in records {
        xml.push_str(record);
        xml.push('\n');
    }
    xml.push_str(&format!(
        "<resumptionToken cursor=\"{cursor}\" completeListSize=\"{list_size}\">{}</resumptionToken>\n",
        token.unwrap_or("")
    ));
    xml.push_str("</ListRecords>\n</OAI-PMH>\n");
    xml.into_bytes()
}

/// An OAI-PMH error response.
pub fn error(code: &str, message: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\n\
         <responseDate>2026-11-29T00:00:00Z</responseDate>\n<request>http://127.0.0.1/oai</request>\n\
         <error code=\"{code}\">{message}</error>\n</OAI-PMH>\n"
    )
    .into_bytes()
}

/// What the server does instead of answering one request (counted from 0 over all requests).
#[derive(Debug, Clone)]
pub enum Fault {
    RetryAfter(u64),
    CutOff,
    Malformed,
    Status(u16),
}

/// A list split into pages; tokens are `page-N|SECRET`.
pub struct Harvestable {
    pages: Vec<Vec<String>>,
    total: usize,
    /// Faults by request number; a fault answers that request only.
    faults: Mutex<HashMap<usize, Fault>>,
    requests: AtomicUsize,
    /// Pages whose every request gets a broken page, until cleared.
    broken_pages: Mutex<Vec<usize>>,
    /// Tokens issued before this generation are refused as expired.
    pub expire_tokens_before: AtomicUsize,
    pub generation: AtomicUsize,
}

impl Harvestable {
    pub fn new(records: Vec<String>, per_page: usize) -> Harvestable {
        let total = records.len();
        Harvestable {
            pages: records.chunks(per_page).map(<[String]>::to_vec).collect(),
            total,
            faults: Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
            broken_pages: Mutex::new(Vec::new()),
            expire_tokens_before: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    pub fn fail_request(&self, request: usize, fault: Fault) {
        self.faults.lock().unwrap().insert(request, fault);
    }

    pub fn break_page(&self, page: usize) {
        self.broken_pages.lock().unwrap().push(page);
    }

    pub fn mend_pages(&self) {
        self.broken_pages.lock().unwrap().clear();
    }

    /// The page a request asks for: the first without a token, else the token's.
    fn page_asked(&self, request: &Request) -> Result<usize, Vec<u8>> {
        match request.param("resumptionToken") {
            None => Ok(0),
            Some(token) => {
                let parsed = token
                    .strip_prefix("page-")
                    .and_then(|rest| rest.split_once('|'))
                    .and_then(|(page, generation)| {
                        Some((
                            page.parse::<usize>().ok()?,
                            generation.parse::<usize>().ok()?,
                        ))
                    });
                match parsed {
                    Some((page, generation))
                        if page < self.pages.len()
                            && generation >= self.expire_tokens_before.load(Ordering::SeqCst) =>
                    {
                        Ok(page)
                    }
                    _ => Err(error(
                        "badResumptionToken",
                        "The token is unknown or expired",
                    )),
                }
            }
        }
    }

    pub fn answer(&self, request: &Request) -> Reply {
        let number = self.requests.fetch_add(1, Ordering::SeqCst);
        let fault = self.faults.lock().unwrap().remove(&number);
        let page = match self.page_asked(request) {
            Ok(page) => page,
            Err(body) => return Reply::ok(body),
        };
        if self.pages.is_empty() {
            return Reply::ok(error("noRecordsMatch", "No records match"));
        }
        let token = (page + 1 < self.pages.len()).then(|| {
            format!(
                "page-{}|{}",
                page + 1,
                self.generation.load(Ordering::SeqCst)
            )
        });
        let cursor: usize = self.pages[..page].iter().map(Vec::len).sum();
        let body = self::page(&self.pages[page], token.as_deref(), cursor, self.total);
        let broken = self.broken_pages.lock().unwrap().contains(&page);
        match fault {
            _ if broken => Reply::ok(body[..body.len() * 2 / 3].to_vec()),
            Some(Fault::RetryAfter(seconds)) => Reply::retry_after(seconds),
            Some(Fault::CutOff) => Reply::CutOff(body),
            Some(Fault::Malformed) => Reply::ok(body[..body.len() / 2].to_vec()),
            Some(Fault::Status(status)) => Reply::status(status, "failed"),
            None => Reply::ok(body),
        }
    }
}

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Real arXiv metadata (`arxiv-metadata-cs-2019`), the first `count` papers, written as OAI-PMH
/// `arXiv` records with datestamps spread over 2019-01-01..20.
pub fn metadata_records(count: usize) -> Vec<String> {
    use std::io::BufRead as _;
    let path = shared_data().join("arxiv-metadata-cs-2019/papers.jsonl.gz");
    let file = std::fs::File::open(&path).expect("the arXiv metadata");
    let lines = std::io::BufReader::new(flate2::read::GzDecoder::new(file)).lines();
    let mut records = Vec::with_capacity(count);
    for (index, line) in lines.enumerate().take(count) {
        let paper: serde_json::Value = serde_json::from_str(&line.expect("a line")).expect("JSON");
        let text = |key: &str| paper[key].as_str().unwrap_or_default().to_owned();
        let authors: String = text("authors")
            .split(", ")
            .map(|name| {
                let (forenames, keyname) = name.rsplit_once(' ').unwrap_or(("", name));
                format!(
                    "<author><keyname>{}</keyname><forenames>{}</forenames></author>",
                    escape(keyname),
                    escape(forenames)
                )
            })
            .collect();
        let categories: Vec<&str> = paper["categories"]
            .as_array()
            .map(|list| list.iter().filter_map(|c| c.as_str()).collect())
            .unwrap_or_default();
        records.push(format!(
            "<record><header><identifier>oai:arXiv.org:{id}</identifier><datestamp>2019-01-{day:02}</datestamp>\
             <setSpec>cs</setSpec></header><metadata><arXiv xmlns=\"http://arxiv.org/OAI/arXiv/\">\
             <id>{id}</id><created>{created}</created><authors>{authors}</authors><title>{title}</title>\
             <categories>{categories}</categories><abstract>{abstract_text}</abstract></arXiv></metadata></record>",
            id = escape(&text("id")),
            day = 1 + index % 20,
            created = escape(&text("created")),
            title = escape(&text("title")),
            categories = categories.join(" "),
            abstract_text = escape(&text("abstract")),
        ));
    }
    records
}
