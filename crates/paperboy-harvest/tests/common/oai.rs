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

/// A list split into pages; tokens are `page-N|GENERATION` (and `|FROM|UNTIL` when dated).
pub struct Harvestable {
    records: Vec<String>,
    per_page: usize,
    /// Whether requests get the records of their `from`..`until` only (as a real server
    /// answers), rather than the whole list whatever they ask.
    dated: bool,
    /// Faults by request number; a fault answers that request only.
    faults: Mutex<HashMap<usize, Fault>>,
    requests: AtomicUsize,
    /// From this request on, every request is answered 500 (a server that went down).
    down_from: AtomicUsize,
    /// Pages whose every request gets a broken page, until cleared.
    broken_pages: Mutex<Vec<usize>>,
    /// Tokens issued before this generation are refused as expired.
    pub expire_tokens_before: AtomicUsize,
    pub generation: AtomicUsize,
}

/// The day of a record's datestamp.
pub fn datestamp_of(record: &str) -> &str {
    let start = record.find("<datestamp>").expect("a datestamp") + "<datestamp>".len();
    &record[start..start + 10]
}

impl Harvestable {
    pub fn new(records: Vec<String>, per_page: usize) -> Harvestable {
        Harvestable {
            records,
            per_page,
            dated: false,
            faults: Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
            down_from: AtomicUsize::new(usize::MAX),
            broken_pages: Mutex::new(Vec::new()),
            expire_tokens_before: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// A list that answers each request with the records whose datestamps are in its
    /// `from`..`until`, and `ListIdentifiers` with the first page's headers and the count.
    pub fn dated(records: Vec<String>, per_page: usize) -> Harvestable {
        Harvestable {
            dated: true,
            ..Harvestable::new(records, per_page)
        }
    }

    /// The pages of the whole list.
    pub fn pages(&self) -> usize {
        self.records.len().div_ceil(self.per_page)
    }

    pub fn fail_request(&self, request: usize, fault: Fault) {
        self.faults.lock().unwrap().insert(request, fault);
    }

    /// Answers every request from the `request`th on (counted from 0) with a 500.
    pub fn go_down_at(&self, request: usize) {
        self.down_from.store(request, Ordering::SeqCst);
    }

    pub fn come_back(&self) {
        self.down_from.store(usize::MAX, Ordering::SeqCst);
    }

    pub fn break_page(&self, page: usize) {
        self.broken_pages.lock().unwrap().push(page);
    }

    pub fn mend_pages(&self) {
        self.broken_pages.lock().unwrap().clear();
    }

    /// The records a request for `from`..`until` gets.
    fn selection(&self, from: &str, until: &str) -> Vec<&String> {
        self.records
            .iter()
            .filter(|record| {
                let day = datestamp_of(record);
                (from.is_empty() || day >= from) && (until.is_empty() || day <= until)
            })
            .collect()
    }

    /// The page a request asks for and the range it asks about: the first page of the
    /// request's own range without a token, else the token's.
    fn page_asked(&self, request: &Request) -> Result<(usize, String, String), Vec<u8>> {
        let expired = || error("badResumptionToken", "The token is unknown or expired");
        match request.param("resumptionToken") {
            None => Ok((
                0,
                request.param("from").unwrap_or_default().to_owned(),
                request.param("until").unwrap_or_default().to_owned(),
            )),
            Some(token) => {
                let mut parts = token.split('|');
                let page = parts
                    .next()
                    .and_then(|page| page.strip_prefix("page-"))
                    .and_then(|page| page.parse::<usize>().ok());
                let generation = parts.next().and_then(|g| g.parse::<usize>().ok());
                let (from, until) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                match (page, generation) {
                    (Some(page), Some(generation))
                        if generation >= self.expire_tokens_before.load(Ordering::SeqCst) =>
                    {
                        Ok((page, from.to_owned(), until.to_owned()))
                    }
                    _ => Err(expired()),
                }
            }
        }
    }

    pub fn answer(&self, request: &Request) -> Reply {
        let number = self.requests.fetch_add(1, Ordering::SeqCst);
        let fault = self.faults.lock().unwrap().remove(&number);
        if number >= self.down_from.load(Ordering::SeqCst) {
            return Reply::status(500, "down");
        }
        let (page, from, until) = match self.page_asked(request) {
            Ok(asked) => asked,
            Err(body) => return Reply::ok(body),
        };
        let (from, until) = if self.dated {
            (from, until)
        } else {
            (String::new(), String::new())
        };
        let selected = self.selection(&from, &until);
        if selected.is_empty() {
            return Reply::ok(error("noRecordsMatch", "No records match"));
        }
        let pages: Vec<&[&String]> = selected.chunks(self.per_page).collect();
        if self.dated && request.param("verb") == Some("ListIdentifiers") {
            let headers: Vec<String> = pages[0]
                .iter()
                .map(|record| {
                    let start = record.find("<header>").expect("a header");
                    let end = record.find("</header>").expect("a closed header");
                    record[start..end + "</header>".len()].to_owned()
                })
                .collect();
            let token = (pages.len() > 1).then_some("identifiers-1");
            return Reply::ok(self::page(&headers, token, 0, selected.len()));
        }
        if page >= pages.len() {
            return Reply::ok(error(
                "badResumptionToken",
                "The token is unknown or expired",
            ));
        }
        let token = (page + 1 < pages.len()).then(|| {
            let token = format!(
                "page-{}|{}",
                page + 1,
                self.generation.load(Ordering::SeqCst)
            );
            if self.dated {
                format!("{token}|{from}|{until}")
            } else {
                token
            }
        });
        let cursor: usize = pages[..page].iter().map(|page| page.len()).sum();
        let records: Vec<String> = pages[page].iter().map(|record| (*record).clone()).collect();
        let body = self::page(&records, token.as_deref(), cursor, selected.len());
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
