//! A small W3C WebDriver client for Debian's chromedriver and headless chromium: enough to
//! click, type, read text, run a script and take screenshots.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    endpoint: String,
    session: String,
    client: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver and a headless chromium window of `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "browser tests need Debian's chromium and chromium-driver: run scripts/test, \
             which installs them"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("{endpoint}/status"))
                .send()
                .await
                .ok()
                .map(|response| response.status().is_success());
            if ready == Some(true) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut browser = Browser {
            driver,
            endpoint,
            session: String::new(),
            client,
        };
        let created = browser
            .call(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--hide-scrollbars",
                                 format!("--window-size={width},{height}")],
                    },
                }}}),
            )
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        match self.try_call(method, path, body).await {
            Ok(value) => value,
            Err(reply) => panic!("{method} {path}: {reply}"),
        }
    }

    /// A WebDriver command's value, or chromedriver's whole error reply.
    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = if path == "/session" {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}/session/{}{path}", self.endpoint, self.session)
        };
        let request = match method {
            "GET" => self.client.get(&url),
            "DELETE" => self.client.delete(&url),
            _ => self.client.post(&url).json(&body),
        };
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let reply: Value = response.json().await.expect("chromedriver answers JSON");
        if status.is_success() {
            Ok(reply["value"].clone())
        } else {
            Err(reply)
        }
    }

    pub async fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// The elements matching a CSS selector, in document order.
    pub async fn all(&self, selector: &str) -> Vec<Element<'_>> {
        let found = self
            .call(
                "POST",
                "/elements",
                json!({ "using": "css selector", "value": selector }),
            )
            .await;
        found
            .as_array()
            .map(|elements| {
                elements
                    .iter()
                    .filter_map(|element| element[ELEMENT].as_str())
                    .map(|id| Element {
                        browser: self,
                        id: id.to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching a CSS selector, waiting up to 10 s for it to appear.
    pub async fn find(&self, selector: &str) -> Element<'_> {
        let started = Instant::now();
        loop {
            if let Some(element) = self.all(selector).await.into_iter().next() {
                return element;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no element matches {selector} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session, closing chromium.
    pub async fn quit(self) {
        self.call("DELETE", "", Value::Null).await;
    }

    pub async fn script(&self, source: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": source, "args": [] }),
        )
        .await
    }

    /// Waits up to 10 s for a script to return `true`. A script that fails (the page is being
    /// replaced, say) counts as not yet.
    pub async fn wait_until(&self, source: &str) {
        let started = Instant::now();
        let script = json!({ "script": source, "args": [] });
        while self.try_call("POST", "/execute/sync", script.clone()).await != Ok(Value::Bool(true))
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never true on {}: {source}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the whole page, saved to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let encoded = self.call("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("a screenshot folder");
        }
        std::fs::write(path, png).expect("saving a screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    pub async fn click(&self) {
        self.browser
            .call("POST", &format!("/element/{}/click", self.id), json!({}))
            .await;
    }

    /// Clicks a link or submit button and waits until the page it loads has replaced this
    /// one, so that what is found next belongs to the new page and not the one being left.
    pub async fn follow(&self) {
        self.browser
            .script("window.paperboyLeaving = true; return null;")
            .await;
        self.click().await;
        self.browser
            .wait_until(
                "return window.paperboyLeaving === undefined \
                 && document.readyState === 'complete';",
            )
            .await;
    }

    pub async fn type_text(&self, text: &str) {
        self.browser
            .call(
                "POST",
                &format!("/element/{}/value", self.id),
                json!({ "text": text }),
            )
            .await;
    }

    pub async fn text(&self) -> String {
        self.browser
            .call("GET", &format!("/element/{}/text", self.id), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .call(
                "GET",
                &format!("/element/{}/attribute/{name}", self.id),
                Value::Null,
            )
            .await
            .as_str()
            .map(str::to_owned)
    }
}
