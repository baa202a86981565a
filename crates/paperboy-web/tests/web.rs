//! The site and API served on a real port over real data: two days of the demo corpus (real
//! Hugging Face daily lists) plus one hostile record, indexed with the real model.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::openapi::OpenApi;
use common::{DAYS, start};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_and_every_error_has_its_shape() {
    let site = start(&DAYS).await;

    // The front page shows the latest day, with a link to the day before and none after.
    let response = site.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let front = response.text().await.unwrap();
    assert!(front.contains("2026-08-21"), "the latest day is shown");
    assert!(front.contains("EnvHarness: Awakening Static Worlds for Agent Learning"));
    assert!(front.contains(r#"href="/?date=2026-08-20""#));
    assert!(!front.contains(r#"rel="next""#));
    assert!(
        front.contains(r#"href="/feeds/daily.atom""#),
        "feeds are linked"
    );
    assert!(
        front.find("EnvHarness").unwrap() < front.find("FACET: Preserving").unwrap(),
        "the most upvoted paper of the day comes first"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");

    // The day before links forward again.
    let (status, before) = site.page("/?date=2026-08-20").await;
    assert_eq!(status, StatusCode::OK);
    assert!(before.contains("Zetta"));
    assert!(before.contains(r#"href="/?date=2026-08-21""#));
    let (status, empty_day) = site.page("/?date=2020-01-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty_day.contains("No papers were listed in this day."));
    let (status, bad_day) = site.page("/?date=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad_day.contains("is not a date"));
    // Week and month views hold both days.
    for view in ["/?week=2026-W34", "/?month=2026-08"] {
        let (status, page) = site.page(view).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert!(
            page.contains("Zetta") && page.contains("EnvHarness"),
            "{view}"
        );
    }
    let (status, _) = site.page("/?week=2026-W99").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = site.page("/?date=2026-08-21&month=2026-08").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Trending: upvotes discounted by age, in three windows.
    let (status, trending) = site.page("/trending").await;
    assert_eq!(status, StatusCode::OK);
    assert!(trending.find("EnvHarness").unwrap() < trending.find("FACET").unwrap());
    assert!(
        trending.find("Zetta").unwrap() < trending.find("FACET").unwrap(),
        "in the week, 92 votes from the day before still outrank 54 today"
    );
    let (status, day) = site.page("/trending?window=day").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !day.contains("Zetta"),
        "the day window holds only the latest day"
    );
    let (status, _) = site.page("/trending?window=decade").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Hostile text is shown as text, never as markup.
    let (_, search) = site.page("/search?q=alert+quoted+bold").await;
    assert!(
        search.contains(
            "&#60;script&#62;window.pwned=1&#60;/script&#62; <mark>alert</mark> &#38; &#34;"
        ),
        "{search}"
    );
    let hostile_href = search
        .split("href=\"")
        .find(|piece| piece.contains("&#60;script&#62;window.pwned"))
        .and_then(|piece| piece.split('"').next())
        .unwrap()
        .to_owned();
    let (status, hostile) = site.page(&hostile_href).await;
    assert_eq!(status, StatusCode::OK, "{hostile_href}");
    for page in [&search, &hostile] {
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img src=x"));
        assert!(!page.contains("Mallory </p>"));
        assert!(!page.to_lowercase().contains("href=\"javascript:"));
    }
    assert!(hostile.contains("&#60;img src=x onerror=alert(2)&#62;"));
    let (_, feed) = site.page("/feeds/search.atom?q=alert+quoted+bold").await;
    assert!(feed.contains(
        "<title>&lt;script&gt;window.pwned=1&lt;/script&gt; alert &amp; &quot;quoted&quot;"
    ));
    assert!(feed.contains("<name>Mallory &quot;&gt;&lt;img src=x onerror=window.pwned=2&gt;"));
    assert!(!feed.contains("<script") && !feed.contains("<img"));

    // Search marks the matched words and pages.
    let (status, search) = site.page("/search?q=terminal+task+synthesis").await;
    assert_eq!(status, StatusCode::OK);
    assert!(search.contains("<mark>Terminal</mark>"), "{search}");
    assert!(search.contains("/papers/2608.18580"));
    assert!(
        search.contains(r#"href="/feeds/search.atom?q=terminal%20task%20synthesis""#),
        "the search's feed is linked"
    );
    let (status, _) = site.page("/search?q=agents&mode=keyword&page=2").await;
    assert_eq!(status, StatusCode::OK);
    let (status, filtered) = site
        .page("/search?q=terminal+task+synthesis&from=2026-08-20&until=2026-08-20")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !filtered.contains("/papers/2608.18580"),
        "listed on the 21st only"
    );
    let (status, _) = site.page("/search?q=agents&from=someday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, bad_mode) = site.page("/search?q=agents&mode=psychic").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad_mode.contains("unknown search mode"));
    let (status, no_words) = site.page("/search?q=%21%21%21").await;
    assert_eq!(status, StatusCode::OK);
    assert!(no_words.contains("no words to look for"));
    let (status, form) = site.page("/search").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"<label for="q">"#));

    // A paper's page: abstract, links, BibTeX and similar papers.
    let (status, paper) = site.page("/papers/2608.18580").await;
    assert_eq!(status, StatusCode::OK);
    assert!(paper.contains("FACET: Preserving Source Intent"));
    assert!(paper.contains("https://arxiv.org/pdf/2608.18580"));
    assert!(paper.contains("eprint = {2608.18580}"));
    assert!(paper.contains("Similar papers"));
    assert!(paper.matches(r#"class="card""#).count() >= 5);
    let (status, versioned) = site.page("/papers/2608.18580v2").await;
    assert_eq!(status, StatusCode::OK, "a version is accepted");
    assert!(versioned.contains("FACET"));
    let (status, _) = site.page("/papers/2601.00001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = site.page("/papers/%3Cscript%3E").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Paste an abstract, find similar papers.
    let (status, similar) = site
        .page("/similar?text=coding+agents+fixing+bugs+in+scientific+software+repositories")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(similar.contains("SWE-bench Science"), "{similar}");

    let (status, about) = site.page("/about").await;
    assert_eq!(status, StatusCode::OK);
    assert!(about.contains("This instance holds 33 papers."));
    let css = site.get("/static/style.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    // Feeds: Atom with absolute links; a search feed for any query.
    for (path, expected) in [
        ("/feeds/daily.atom", "EnvHarness"),
        ("/feeds/trending.atom", "Zetta"),
        ("/feeds/search.atom?q=terminal+task+synthesis", "FACET"),
    ] {
        let response = site.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/atom+xml")
        );
        let feed = response.text().await.unwrap();
        assert!(
            feed.starts_with("<?xml")
                && feed.contains(r#"<feed xmlns="http://www.w3.org/2005/Atom">"#)
        );
        assert!(feed.contains(expected), "{path}");
        assert!(
            feed.contains(&format!("<id>{}/papers/", site.base)),
            "{path}"
        );
        assert_eq!(
            feed.matches("<entry>").count(),
            feed.matches("</entry>").count()
        );
    }
    let (status, _) = site.page("/feeds/search.atom").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, health) = site.page("/healthz").await;
    assert_eq!((status, health.as_str()), (StatusCode::OK, "ok\n"));
    let (status, missing) = site.page("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("There is no page at this address."));
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_get_metrics_request_ids_compression_and_validators() {
    let site = start(&DAYS).await;

    // Every answer carries a request id; a proxy's sane one is kept, a hostile one replaced.
    let first = site.get("/").await;
    let id = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!id.is_empty());
    let second = site.get("/").await;
    assert_ne!(second.headers()["x-request-id"].to_str().unwrap(), id);
    let kept = site
        .get_with("/healthz", &[("x-request-id", "proxy-42")])
        .await;
    assert_eq!(kept.headers()["x-request-id"], "proxy-42");
    let replaced = site
        .get_with("/healthz", &[("x-request-id", "bad id <x>!")])
        .await;
    assert_ne!(replaced.headers()["x-request-id"], "bad id <x>!");

    // Pages carry a weak ETag and are not sent again when the reader has them.
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let again = site.get_with("/", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.text().await.unwrap().is_empty());
    let changed = site
        .get_with("/", &[("if-none-match", "W/\"other\"")])
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let css = site.get("/static/style.css").await;
    assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
    let feed = site.get("/feeds/daily.atom").await;
    assert!(feed.headers().contains_key("etag"));
    assert_eq!(feed.headers()["cache-control"], "public, max-age=600");

    // Compressed for clients that ask.
    let compressed = site.get_with("/", &[("accept-encoding", "gzip")]).await;
    assert_eq!(compressed.headers()["content-encoding"], "gzip");
    let plain_length = site.get("/").await.bytes().await.unwrap().len();
    assert!(compressed.bytes().await.unwrap().len() < plain_length / 2);

    // Metrics, in the Prometheus text format.
    site.page("/search?q=agents").await;
    site.page("/papers/2601.00001").await;
    let response = site.get("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let metrics = response.text().await.unwrap();
    for line in [
        "paperboy_http_requests_total{route=\"/\",status=\"200\"} ",
        "paperboy_http_requests_total{route=\"/\",status=\"304\"} 1",
        "paperboy_http_requests_total{route=\"/search\",status=\"200\"} 1",
        "paperboy_http_requests_total{route=\"/papers/{key}\",status=\"404\"} 1",
        "paperboy_http_request_duration_seconds_count{route=\"/search\"} 1",
        "paperboy_http_request_duration_seconds_bucket{route=\"/search\",le=\"+Inf\"} 1",
        "paperboy_papers 33",
        "paperboy_index_papers 33",
        "paperboy_embedding_backlog 0",
        "paperboy_outbox_messages{state=\"queued\"} 0",
        // Five more answers for `/` came from the cache; the first `/`, the stylesheet, the
        // feed, the search and the paper were rendered (a 404 is not kept, metrics and health
        // are never cached).
        "paperboy_response_cache_hits_total 5",
        "paperboy_response_cache_misses_total 5",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(
        !metrics.contains("agents"),
        "search words stay out of metrics"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_requests_answer_as_documented_and_are_limited_per_client() {
    let site = start(&DAYS).await;
    let (_, document) = site.json("/api/openapi.json").await;
    let api = OpenApi(document);
    let route = "/api/subscriptions";
    let accepted = serde_json::json!({"email": "ada@example.org", "topics": ["graphs"]});

    let (status, _, body) = site.post_json(route, &accepted, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.check(route, 202, &body);
    // The same answer for an address already asked for, and for a new one.
    let (_, _, again) = site.post_json(route, &accepted, &[]).await;
    assert_eq!(again, body);

    for bad in [
        serde_json::json!({"email": "nobody"}),
        serde_json::json!({"email": "ada@example.org", "unknown": 1}),
        serde_json::json!({"email": "ada@example.org", "topics": "not a list"}),
        serde_json::json!({"email": "ada@example.org", "categories": ["<b>"]}),
    ] {
        let (status, _, error) = site.post_json(route, &bad, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        api.check(route, 400, &error);
    }
    let (status, _, error) = site
        .post_json(route, &accepted, &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    api.check(route, 403, &error);

    // Ten requests an hour per client, whatever the addresses and whether they were valid: four
    // so far (the two bodies that were not even JSON of the right shape are not counted); the
    // eleventh waits.
    for n in 0..6 {
        let other = serde_json::json!({"email": format!("reader{n}@example.org")});
        let (status, _, _) = site.post_json(route, &other, &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED, "request {n}");
    }
    let (status, headers, error) = site.post_json(route, &accepted, &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    api.check(route, 429, &error);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_as_its_openapi_document_says() {
    let site = start(&DAYS).await;
    let (status, document) = site.json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let api = OpenApi(document);
    // The check can fail: a paper missing fields, or with a number for its id, is refused.
    for wrong in [
        serde_json::json!({"id": "1"}),
        serde_json::json!({"code": "not_found", "message": "x", "extra": 1}),
    ] {
        let refused = std::panic::catch_unwind(|| api.check("/api/papers/{id}", 200, &wrong));
        let refused_error = std::panic::catch_unwind(|| api.check("/api/papers/{id}", 404, &wrong));
        assert!(refused.is_err() && refused_error.is_err(), "{wrong}");
    }

    // Daily papers, shaped like the Hugging Face API.
    let daily_route = "/api/daily_papers";
    let (status, daily) = site.json(daily_route).await;
    api.check(daily_route, status.as_u16(), &daily);
    let entries = daily.as_array().unwrap();
    assert_eq!(entries.len(), 17);
    assert_eq!(entries[0]["paper"]["id"], "2608.19880");
    assert_eq!(entries[0]["paper"]["upvotes"], 163);
    assert!(entries[0]["paper"]["authors"][0]["name"].is_string());
    assert_eq!(entries[0]["title"], entries[0]["paper"]["title"]);
    let (status, page) = site
        .json("/api/daily_papers?date=2026-08-20&limit=10&p=1")
        .await;
    api.check(daily_route, status.as_u16(), &page);
    assert_eq!(page.as_array().unwrap().len(), 5);
    let (status, week) = site.json("/api/daily_papers?week=2026-W34&limit=100").await;
    api.check(daily_route, status.as_u16(), &week);
    assert_eq!(week.as_array().unwrap().len(), 32);
    let (status, month) = site
        .json("/api/daily_papers?month=2026-08&limit=5&sort=trending")
        .await;
    api.check(daily_route, status.as_u16(), &month);
    assert_eq!(month[0]["paper"]["id"], "2608.19880");

    // Search, a paper, and its neighbours.
    let (status, hits) = site
        .json("/api/papers/search?q=terminal+task+synthesis&limit=3")
        .await;
    api.check("/api/papers/search", status.as_u16(), &hits);
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["id"], "2608.18580");
    assert!(hits[0]["score"].as_f64().unwrap() > 0.0);
    let (status, keyword) = site
        .json("/api/papers/search?q=terminal+task+synthesis&mode=keyword&limit=1")
        .await;
    api.check("/api/papers/search", status.as_u16(), &keyword);
    assert!(keyword[0]["semantic_score"].is_null());
    let (status, paper) = site.json("/api/papers/2608.18580").await;
    api.check("/api/papers/{id}", status.as_u16(), &paper);
    assert_eq!(paper["arxiv_id"], "2608.18580");
    assert_eq!(paper["listing_dates"][0], "2026-08-21");
    let (status, similar) = site.json("/api/papers/2608.18580/similar?limit=4").await;
    api.check("/api/papers/{id}/similar", status.as_u16(), &similar);
    let similar = similar.as_array().unwrap();
    assert_eq!(similar.len(), 4);
    assert!(similar.iter().all(|hit| hit["id"] != "2608.18580"));

    // Errors: one shape, the right status, each as documented.
    for (route, path, status) in [
        (
            "/api/papers/search",
            "/api/papers/search",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/papers/search",
            "/api/papers/search?q=x&limit=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/papers/search",
            "/api/papers/search?q=x&limit=many",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/papers/search",
            "/api/papers/search?q=x&mode=psychic",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/papers/search",
            "/api/papers/search?q=%3F%3F",
            StatusCode::BAD_REQUEST,
        ),
        (
            daily_route,
            "/api/daily_papers?date=2026-13-01",
            StatusCode::BAD_REQUEST,
        ),
        (
            daily_route,
            "/api/daily_papers?sort=random",
            StatusCode::BAD_REQUEST,
        ),
        (
            daily_route,
            "/api/daily_papers?week=2026-W34&month=2026-08",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/papers/{id}",
            "/api/papers/2601.00001",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/papers/{id}",
            "/api/papers/not-an-id",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/papers/{id}/similar",
            "/api/papers/2601.00001/similar",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/papers/{id}/similar",
            "/api/papers/2608.18580/similar?limit=101",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (actual, body) = site.json(path).await;
        assert_eq!(actual, status, "{path}: {body}");
        api.check(route, status.as_u16(), &body);
        assert!(body["message"].as_str().unwrap().len() > 5, "{path}");
    }
    let (status, body) = site.json("/api/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}
