//! What a reader does, in real headless chromium (Debian's, driven over WebDriver): the front
//! page, the day before, a search, a paper with its similar papers and BibTeX, on a desktop and
//! a phone; a reader signing in from a link, upvoting and saving in place; an invited reader of
//! a private site making a folder, rating papers and reading its feed with a token; and proof
//! that a hostile paper runs no script. Screenshots go to
//! `PAPERBOY_SCREENSHOTS_DIR` (docs/screenshots for the README), else the target folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::webdriver::Browser;
use common::{DAYS, LISTING, start, start_configured};
use paperboy_digest::membership::Membership;
use paperboy_web::AccessPolicy;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);
const QUERY: &str = "estimating mutual information with neural networks";
const MINE: &str = "MINE: Mutual Information Neural Estimation";

fn screenshot_dir() -> PathBuf {
    std::env::var_os("PAPERBOY_SCREENSHOTS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_browses_searches_opens_a_paper_and_copies_its_bibtex() {
    let site = start(&[DAYS[0], DAYS[1], LISTING]).await;
    let shots = screenshot_dir();
    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;

    // The front page: the latest day, then the day before.
    browser.open(&format!("{}/", site.base)).await;
    let heading = browser.find("h1").await.text().await;
    assert!(heading.contains("21 August 2026"), "{heading}");
    browser.screenshot(&shots.join("front-desktop.png")).await;
    browser.find("a[rel=prev]").await.follow().await;
    let heading = browser.find("h1").await.text().await;
    assert!(heading.contains("20 August 2026"), "{heading}");
    assert!(browser.url().await.ends_with("/?date=2026-08-20"));

    // Search from the box in the header.
    let search_box = browser.find("#site-q").await;
    search_box.type_text(QUERY).await;
    browser.find("form.search button").await.follow().await;
    browser.find(".card h3").await;
    let mut first_three = Vec::new();
    for title in browser.all(".card h3").await.iter().take(3) {
        first_three.push(title.text().await);
    }
    assert!(
        first_three.iter().any(|title| title == MINE),
        "{first_three:?}"
    );
    let marked = browser.all(".card mark").await;
    assert!(!marked.is_empty(), "matched words are marked");
    browser.screenshot(&shots.join("search-desktop.png")).await;
    let search_url = browser.url().await;

    // Open MINE: its similar papers and its BibTeX, copied with the button.
    let links = browser.all(".card h3 a").await;
    let mut opened = false;
    for link in &links {
        if link.text().await == MINE {
            link.follow().await;
            opened = true;
            break;
        }
    }
    assert!(opened);
    assert_eq!(browser.find("h1").await.text().await, MINE);
    let similar = browser.all(".similar .card").await;
    assert!(similar.len() >= 3, "{} similar papers", similar.len());
    let bibtex = browser.find("#bibtex").await.text().await;
    assert!(bibtex.starts_with("@misc{"), "{bibtex}");
    let copy = browser.find("button.copy").await;
    copy.click().await;
    let started = Instant::now();
    let copied = loop {
        if let Some(copied) = copy.attribute("data-copied").await {
            break copied;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the copy button did nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(copied.trim(), bibtex.trim());
    let label = copy.text().await;
    assert!(
        label == "Copied" || label.starts_with("Selected"),
        "{label}"
    );
    browser.screenshot(&shots.join("paper-desktop.png")).await;
    let paper_url = browser.url().await;

    // The same three pages on a phone.
    browser.resize(PHONE.0, PHONE.1).await;
    for (url, name) in [
        (format!("{}/", site.base), "front-phone.png"),
        (search_url, "search-phone.png"),
        (paper_url, "paper-phone.png"),
    ] {
        browser.open(&url).await;
        browser.find("main").await;
        let overflow = browser
            .script("return document.documentElement.scrollWidth > window.innerWidth + 1;")
            .await;
        assert_eq!(overflow, false, "{name}: the page is wider than the phone");
        browser.screenshot(&shots.join(name)).await;
    }
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_paper_runs_no_script_anywhere() {
    let site = start(&DAYS).await;
    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;
    browser
        .open(&format!("{}/search?q=alert+quoted+bold", site.base))
        .await;
    let title = browser.find(".card h3").await.text().await;
    assert!(
        title.starts_with("<script>window.pwned=1</script>"),
        "{title}"
    );
    browser.find(".card h3 a").await.follow().await;
    let heading = browser.find("h1").await.text().await;
    assert!(heading.contains("<script>"), "shown as text: {heading}");
    let authors = browser.find(".authors").await.text().await;
    assert!(authors.contains("<img src=x onerror="), "{authors}");
    assert!(browser.all("a[href^='javascript']").await.is_empty());
    for page in [
        "/",
        "/trending?window=month",
        "/search?q=window+pwned+alert",
    ] {
        browser.open(&format!("{}{page}", site.base)).await;
        browser.find("main").await;
        let pwned = browser
            .script("return typeof window.pwned === 'undefined' && document.images.length === 0;")
            .await;
        assert_eq!(pwned, true, "{page}: a script ran or an image was injected");
    }
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_signs_in_from_a_link_and_upvotes_and_saves_without_leaving_the_page() {
    let site = start(&DAYS).await;
    let paper = "2608.18580";
    let (before, ..) = site.upvotes(paper).await;
    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;

    // Anonymous, the upvote button leads to the sign-in page.
    browser.open(&format!("{}/papers/{paper}", site.base)).await;
    browser.find("a.upvote").await.follow().await;
    browser.find("form input[name=email]").await;
    assert!(browser.url().await.contains("/signin?next="));

    // The link from the mail: its page's button signs in and lands on /me.
    let link = site
        .sign_in_link("ada@example.org", chrono::Duration::minutes(15))
        .await;
    browser.open(&link).await;
    browser.find("main form button").await.follow().await;
    let heading = browser.find("h1").await.text().await;
    assert_eq!(heading, "Your papers");
    assert!(browser.url().await.ends_with("/me"));

    // Upvote and save on the paper's page: the buttons change in place, the page stays.
    browser.open(&format!("{}/papers/{paper}", site.base)).await;
    browser.script("window.stayed = true; return null;").await;
    let count = browser.find("button.upvote .count").await.text().await;
    assert_eq!(count, before.to_string());
    browser.find("button.upvote").await.click().await;
    browser
        .wait_until(
            "return document.querySelector('button.upvote')\
             .getAttribute('aria-pressed') === 'true';",
        )
        .await;
    let count = browser.find("button.upvote .count").await.text().await;
    assert_eq!(count, (before + 1).to_string());
    browser.find("button.save").await.click().await;
    browser
        .wait_until("return document.querySelector('button.save').textContent.includes('Saved');")
        .await;
    assert_eq!(browser.script("return window.stayed === true;").await, true);
    assert_eq!(site.upvotes(paper).await.0, before + 1);

    // Both marks hold after a reload, and the reading list has the paper.
    browser.open(&format!("{}/me", site.base)).await;
    let saved = browser
        .script("return document.querySelector('#saved-heading').parentElement.textContent;")
        .await;
    assert!(saved.as_str().unwrap().contains("Export"), "{saved}");
    browser.open(&format!("{}/papers/{paper}", site.base)).await;
    let pressed = browser
        .find("button.upvote")
        .await
        .attribute("aria-pressed")
        .await;
    assert_eq!(pressed.as_deref(), Some("true"));
    browser
        .screenshot(&screenshot_dir().join("paper-signed-in.png"))
        .await;

    // Taking the vote back returns the count to where it started.
    browser.find("button.upvote").await.click().await;
    browser
        .wait_until(
            "return document.querySelector('button.upvote')\
             .getAttribute('aria-pressed') === 'false';",
        )
        .await;
    assert_eq!(site.upvotes(paper).await.0, before);
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_reader_of_a_private_site_trains_a_folder_and_reads_its_feed_with_a_token() {
    let site = start_configured(&DAYS, None, |state| {
        state.with_access_policy(
            AccessPolicy::new(Membership::new(Default::default(), true)).private(),
        )
    })
    .await;
    let paper = "2608.18580";
    // Invited: an account made for the address, as /admin and `paperboy users invite` do.
    site.store
        .add_user(
            &"ada@example.org".parse().unwrap(),
            false,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;

    // A stranger's browser is sent to sign in, and told who the site is for.
    browser.open(&format!("{}/papers/{paper}", site.base)).await;
    assert!(browser.url().await.contains("/signin?next="));
    let notice = browser.find("main").await.text().await;
    assert!(
        notice.contains("This site is private, and by invitation"),
        "{notice}"
    );
    let link = site
        .sign_in_link("ada@example.org", chrono::Duration::minutes(15))
        .await;
    browser.open(&link).await;
    browser.find("main form button").await.follow().await;

    // A folder, and a paper rated relevant in it from the paper's page.
    browser.open(&format!("{}/folders", site.base)).await;
    browser
        .find("#folder-name")
        .await
        .type_text("coding agents")
        .await;
    browser.find("main form button").await.follow().await;
    assert_eq!(browser.find("h1").await.text().await, "coding agents");
    let folder_url = browser.url().await;
    browser.open(&format!("{}/papers/{paper}", site.base)).await;
    browser
        .find("form.rate-in-folder button[value=relevant]")
        .await
        .follow()
        .await;
    assert!(browser.url().await.ends_with(&format!("/papers/{paper}")));

    // Its recommendations; one rated not relevant leaves them, and the rest change.
    let titles = async || {
        let mut titles = Vec::new();
        let section = "section[aria-labelledby=recommended-heading] .card h3";
        for title in browser.all(section).await {
            titles.push(title.text().await);
        }
        titles
    };
    browser.open(&folder_url).await;
    let before = titles().await;
    assert_eq!(before.len(), 10, "{before:?}");
    browser
        .find("section[aria-labelledby=recommended-heading] .card button[value=not-relevant]")
        .await
        .follow()
        .await;
    let after = titles().await;
    assert!(!after.contains(&before[0]), "{after:?}");
    assert_ne!(after[..], before[1..]);
    let rejected = browser
        .find("section[aria-labelledby=not-relevant-heading] .card h3")
        .await
        .text()
        .await;
    assert_eq!(rejected, before[0]);
    browser
        .screenshot(&screenshot_dir().join("folder.png"))
        .await;

    // A read token from /me, shown once; a feed reader reads the folder's feed with it.
    browser.open(&format!("{}/me", site.base)).await;
    browser
        .find("#token-label")
        .await
        .type_text("feed reader")
        .await;
    browser.find("form.token-form button").await.follow().await;
    let token = browser
        .script("return document.querySelector('#token').value;")
        .await;
    let token = token.as_str().unwrap().to_owned();
    let folder = folder_url.rsplit('/').next().unwrap().to_owned();
    let feed = site
        .get(&format!("/feeds/folders/{folder}.atom?token={token}"))
        .await;
    assert_eq!(feed.status(), reqwest::StatusCode::OK);
    let feed = feed.text().await.unwrap();
    let first = after[0].replace('&', "&amp;").replace('<', "&lt;");
    assert!(feed.contains(&first), "{first} missing from:\n{feed}");
    let without = site.get(&format!("/feeds/folders/{folder}.atom")).await;
    assert_eq!(without.status(), reqwest::StatusCode::UNAUTHORIZED);
    browser.quit().await;
}
