//! A reader's account end to end: `paperboy serve` with a real SMTP server (aiosmtpd); the
//! reader asks for a sign-in link, follows the one the mail server received, upvotes a paper
//! and sees its count and the trending page change, saves it, exports the reading list, and
//! signs out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// The site's tests read pages the same way.
#[path = "../../paperboy-web/tests/common/html.rs"]
mod html;

#[path = "../../paperboy-mail/tests/support/smtp.rs"]
mod smtp;

use std::time::Duration;

use common::{Server, data_folder, digest_run, header, link_after, output, wait_for};
use html::input_value;
use reqwest::StatusCode;
use serde_json::Value;
use smtp::SmtpServer;

/// The papers a page lists, in order, by the keys of their links.
fn paper_keys(page: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for piece in page.split(r#"href="/papers/"#).skip(1) {
        let key = piece.split('"').next().unwrap().to_owned();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// The count a paper's upvote button shows on a page.
fn shown_upvotes(page: &str, key: &str) -> u64 {
    let form = page
        .split(&format!(r#"action="/papers/{key}/upvote""#))
        .nth(1)
        .unwrap_or_else(|| panic!("no upvote form for {key}"));
    let count = form.split(r#"<span class="count">"#).nth(1).unwrap();
    count.split('<').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_from_the_mail_upvote_save_export_and_sign_out() {
    let data = data_folder();
    let smtp = SmtpServer::start();
    let server = Server::start(data.path(), &smtp.url());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = browser.get(format!("{}{path}", server.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let post = |path: &str, cookie: &str, form: &[(&str, &str)]| {
        browser
            .post(format!("{}{path}", server.base))
            .header("cookie", cookie)
            .form(form)
            .send()
    };

    // Asking for a link: the same answer for anyone, and the mail arrives.
    let (status, form) = {
        let response = get("/signin?next=%2Ftrending", None).await.unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(input_value(&form, "next"), "/trending");
    let response = browser
        .post(format!("{}/signin", server.base))
        .form(&[("email", " Ada@Example.org "), ("next", "/trending")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Check your inbox"));
    wait_for("the sign-in mail", Duration::from_secs(20), || {
        smtp.count() == 1
    });
    let mail = &smtp.parsed()[0];
    assert_eq!(mail["recipients"][0], "ada@example.org");
    assert_eq!(header(mail, "Subject"), "Sign in to Paperboy");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("15 minutes"), "{text}");
    let link = link_after(text, &format!("{}/signin/", server.base)).to_owned();
    assert!(
        mail["html"]
            .as_str()
            .unwrap()
            .contains(&link.replace('&', "&amp;"))
    );

    // The link's page has the button; pressing it signs in and goes where the reader was.
    let path = link.strip_prefix(&server.base).unwrap();
    let response = get(path, None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());
    let response = browser.post(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/trending");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("paperboy_session="));
    let response = browser.post(&link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE, "a link works once");

    // The week's trending list, signed in: its last paper gets an upvote.
    let trending = get("/trending", Some(&cookie)).await.unwrap();
    let trending = trending.text().await.unwrap();
    let keys = paper_keys(&trending);
    assert!(keys.len() > 10, "{keys:?}");
    let paper = keys.last().unwrap().clone();
    let before = shown_upvotes(&trending, &paper);
    let form_token = input_value(&trending, "form_token");
    let response = post(
        &format!("/papers/{paper}/upvote"),
        &cookie,
        &[
            ("form_token", &form_token),
            ("value", "true"),
            ("next", "/trending"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/trending");
    let page = get(&format!("/papers/{paper}"), Some(&cookie))
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    assert_eq!(shown_upvotes(&page, &paper), before + 1);
    assert!(page.contains(r#"aria-pressed="true""#));
    let trending = get("/trending", Some(&cookie)).await.unwrap();
    let after = paper_keys(&trending.text().await.unwrap());
    let position = |keys: &[String]| keys.iter().position(|key| *key == paper).unwrap();
    assert!(
        position(&after) < position(&keys),
        "a fresh vote lifts {paper} from {} to {}",
        position(&keys),
        position(&after)
    );

    // Saved: on the reading list, and in both exports.
    let response = post(
        &format!("/papers/{paper}/save"),
        &cookie,
        &[("form_token", &form_token), ("value", "true")],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let me = get("/me", Some(&cookie)).await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me = me.text().await.unwrap();
    let reading_list = me.split(r#"id="saved-heading""#).nth(1).unwrap();
    assert!(reading_list.contains(&format!("/papers/{paper}")));
    let for_you = me.split(r#"id="for-you-heading""#).nth(1).unwrap();
    let for_you = for_you.split("</section>").next().unwrap();
    assert!(!paper_keys(for_you).is_empty(), "papers like the saved one");
    assert!(
        !paper_keys(for_you).contains(&paper),
        "not the saved one itself"
    );
    let bibtex = get("/me/saved.bib", Some(&cookie)).await.unwrap();
    assert_eq!(bibtex.status(), StatusCode::OK);
    let bibtex = bibtex.text().await.unwrap();
    assert!(
        bibtex.starts_with('@') && bibtex.contains(&paper),
        "{bibtex}"
    );
    let lines = get("/me/saved.jsonl", Some(&cookie)).await.unwrap();
    let lines = lines.text().await.unwrap();
    let records: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["arxiv_id"], paper.as_str());

    // The digest, subscribed to from /me without a confirmation mail, has papers picked for
    // the reader: like the day's top paper, which they save too.
    let day = get("/trending?window=day", Some(&cookie)).await.unwrap();
    let top = paper_keys(&day.text().await.unwrap())[0].clone();
    let response = post(
        &format!("/papers/{top}/save"),
        &cookie,
        &[("form_token", &form_token), ("value", "true")],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = post(
        "/me/digest",
        &cookie,
        &[
            ("form_token", &form_token),
            ("action", "save"),
            ("frequency", "daily"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _, stderr) = output(&mut digest_run(data.path(), &smtp.url(), "2026-08-21"));
    assert_eq!(status, 0, "{stderr}");
    wait_for("the digest", Duration::from_secs(20), || smtp.count() == 2);
    let digest = &smtp.parsed()[1];
    assert_eq!(digest["recipients"][0], "ada@example.org");
    let text = digest["text"].as_str().unwrap();
    // The reader has no topics: the section runs to the footer.
    let for_you = text
        .split("NEW FOR YOU")
        .nth(1)
        .and_then(|rest| rest.split("\n--\n").next())
        .unwrap_or_else(|| panic!("no section for the reader in:\n{text}"));
    let picked: Vec<&str> = for_you
        .split("/papers/")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(!picked.is_empty(), "{for_you}");
    assert!(
        !picked.contains(&paper.as_str()) && !picked.contains(&top.as_str()),
        "what the reader saved is left out: {picked:?}"
    );

    // Signed out: the cookie is cleared and the session is gone.
    let response = post("/signout", &cookie, &[("form_token", &form_token)])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = get("/me", Some(&cookie)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/signin")
    );
}
