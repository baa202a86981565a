//! What one client, or many slow ones, must not be able to do to the site: take it down with a
//! parameter, hold its connections, flood a mailbox past the rate limits, or keep it from
//! stopping. Each test starts a real server on a real port.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{DAYS, Site, start, start_configured};
use paperboy_web::{ServerLimits, TrustedProxies};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(site: &Site) -> String {
    site.base.trim_start_matches("http://").to_owned()
}

/// Sends `request` raw and reads the answer until the server closes or `wait` passes.
async fn raw(site: &Site, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(address(site)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// `count` connections, each holding half a request head.
async fn hold_connections(site: &Site, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = TcpStream::connect(address(site)).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    held
}

fn short_timeouts() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        shutdown_deadline: Duration::from_secs(2),
        ..ServerLimits::default()
    }
}

#[tokio::test]
async fn search_pages_past_the_last_are_a_400_and_the_server_lives_on() {
    let site = start(&[DAYS[0]]).await;
    for page in [
        "41",
        "1000000000000",
        "18446744073709551615",
        "99999999999999999999999",
        "-1",
    ] {
        for mode in ["hybrid", "keyword", "semantic"] {
            let (status, _) = site
                .page(&format!(
                    "/search?q=attention&mode={mode}&page={page}&category=cs.LG"
                ))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "page={page} mode={mode}");
        }
    }
    let (status, body) = site.page("/search?q=attention&page=40").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !body.contains("Next page"),
        "nothing lies past the last page"
    );
    let (status, _) = site.page("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_daily_api_pages_only_as_deep_as_a_period_goes() {
    let site = start(&[DAYS[0]]).await;
    let (status, error) = site
        .json("/api/daily_papers?date=2026-08-20&limit=100&p=100")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "bad_request");
    let (status, _) = site
        .json("/api/daily_papers?date=2026-08-20&limit=100&p=18446744073709551615")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, papers) = site.json("/api/daily_papers?date=2026-08-20&p=0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(papers.as_array().unwrap().len(), 15);
    for period in [
        "month=262143-12",
        "month=+262143-12",
        "week=262143-W52",
        "date=+262143-12-31",
    ] {
        let (status, _) = site.json(&format!("/api/daily_papers?{period}")).await;
        assert!(
            [StatusCode::OK, StatusCode::BAD_REQUEST].contains(&status),
            "{period}: {status}"
        );
    }
}

#[tokio::test]
async fn three_hundred_slow_sockets_are_closed_within_the_timeouts_while_others_are_served() {
    let site = start_configured(&[DAYS[0]], None, |state| {
        // All come from 127.0.0.1: the per-client share is not what this test is about.
        state.with_limits(ServerLimits {
            max_connections_per_client: 1000,
            ..short_timeouts()
        })
    })
    .await;
    let opened = Instant::now();
    let mut sockets = Vec::new();
    for n in 0..300 {
        let mut stream = TcpStream::connect(address(&site)).await.unwrap();
        match n % 3 {
            // Nothing at all.
            0 => {}
            // Half a request head.
            1 => stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap(),
            // A head, then a body that never comes.
            _ => stream
                .write_all(
                    b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\
                      Content-Type: application/x-www-form-urlencoded\r\n\r\nemail=",
                )
                .await
                .unwrap(),
        }
        sockets.push(stream);
    }
    // Others are served meanwhile.
    let (status, _) = site.page("/").await;
    assert_eq!(status, StatusCode::OK);
    let mut closed = 0;
    for mut socket in sockets {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut rest));
        if read.await.is_ok() {
            closed += 1;
        }
    }
    let took = opened.elapsed();
    println!("{closed} of 300 slow sockets closed {took:.1?} after opening, with 2 s timeouts");
    assert_eq!(closed, 300);
    assert!(took < Duration::from_secs(12));
    let (status, _) = site.page("/").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let site = start_configured(&[DAYS[0]], None, |state| {
        state.with_limits(short_timeouts())
    })
    .await;
    let mut stream = TcpStream::connect(address(&site)).await.unwrap();
    // Ask for large answers many times over and never read them.
    let request = b"GET /feeds/daily.atom HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.write_all(&request)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The server gave up on the connection: reading finds its end (after what was buffered).
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut sink)).await;
    assert!(ended.is_ok(), "the connection was closed by the server");
}

#[tokio::test]
async fn shutdown_ends_within_its_deadline_with_a_slow_client_connected() {
    let site = start(&[DAYS[0]]).await;
    drop(site.page("/").await);
    // A second server on the same state-less demo: serve returns once the deadline passes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paperboy_web::serve(
        listener,
        site.state.clone().with_limits(ServerLimits {
            header_timeout: Duration::from_secs(60),
            shutdown_deadline: Duration::from_secs(2),
            ..ServerLimits::default()
        }),
        async {
            let _ = stopped.await;
        },
    ));
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(ended.is_ok(), "serve returned");
    println!("stopped {:.1?} after the signal", asked.elapsed());
    assert!(asked.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn one_client_cannot_take_every_connection() {
    let site = start_configured(&[DAYS[0]], None, |state| {
        state.with_limits(ServerLimits {
            max_connections_per_client: 8,
            ..ServerLimits::default()
        })
    })
    .await;
    let held = hold_connections(&site, 8).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = raw(
        &site,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after"));
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = raw(
        &site,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_for_a_free_slot() {
    let site = start_configured(&[DAYS[0]], None, |state| {
        state.with_limits(ServerLimits {
            max_connections: 4,
            ..ServerLimits::default()
        })
    })
    .await;
    let mut held = hold_connections(&site, 4).await;
    let waiting = tokio::spawn({
        let address = address(&site);
        async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the fifth waits while four are open"
    );
    held.pop();
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn bodies_over_the_limit_or_too_slow_are_refused() {
    let site = start_configured(&[DAYS[0]], None, |state| {
        state.with_limits(short_timeouts())
    })
    .await;
    let big = "x".repeat(70 * 1024);
    let (status, _, error) = site
        .post_json("/api/subscriptions", &json!({ "email": big }), &[])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["code"], "payload_too_large");
    let answer = raw(
        &site,
        b"POST /api/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "y".repeat(100_000)
    );
    let answer = raw(&site, head.as_bytes(), Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn an_http_1_1_request_without_a_host_gets_a_400() {
    let site = start(&[DAYS[0]]).await;
    let answer = raw(&site, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = raw(
        &site,
        b"GET /healthz HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        answer.contains(" 200 "),
        "HTTP/1.0 may leave Host out: {answer}"
    );
}

#[tokio::test]
async fn rate_limits_count_the_peer_unless_a_proxy_is_trusted() {
    let subscribe =
        |n: usize| json!({ "email": format!("reader{n}@example.org"), "topics": ["rl"] });
    // Anyone may send X-Forwarded-For; without a trusted proxy it changes nothing.
    let site = start(&[DAYS[0]]).await;
    let mut statuses = Vec::new();
    for n in 0..12 {
        let forged = format!("198.51.100.{n}");
        let (status, _, _) = site
            .post_json(
                "/api/subscriptions",
                &subscribe(n),
                &[("x-forwarded-for", &forged)],
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses[9], StatusCode::ACCEPTED, "{statuses:?}");
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");

    // Behind a trusted proxy, each client the proxy names has its own count.
    let proxied = start_configured(&[DAYS[0]], None, |state| {
        state.with_trusted_proxies("127.0.0.1/32".parse::<TrustedProxies>().unwrap())
    })
    .await;
    for n in 0..12 {
        // The leftmost entry is the client's own (forgeable); the proxy appended the right one.
        let chain = format!("6.6.6.6, 198.51.100.{n}");
        let (status, _, _) = proxied
            .post_json(
                "/api/subscriptions",
                &subscribe(n),
                &[("x-forwarded-for", &chain)],
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "client {n}");
    }
    for n in 0..11 {
        let (status, _, _) = proxied
            .post_json(
                "/api/subscriptions",
                &subscribe(100 + n),
                &[("x-forwarded-for", "6.6.6.6, 203.0.113.5")],
            )
            .await;
        let expected = if n < 10 {
            StatusCode::ACCEPTED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "request {n} of one proxied client");
    }
}

#[tokio::test]
async fn readiness_fails_when_the_store_does_while_liveness_holds() {
    let site = start(&[DAYS[0]]).await;
    let (status, body) = site.page("/readyz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready\n"));
    site.store.close().await;
    let (status, body) = site.page("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "failed\n", "no details for whoever asks");
    let (status, _) = site.page("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn browsers_are_told_to_keep_to_https_when_readers_reach_the_site_so() {
    let plain = start(&[DAYS[0]]).await;
    let response = plain.get("/").await;
    assert!(!response.headers().contains_key("strict-transport-security"));
    let secure = start_configured(&[DAYS[0]], Some("https://papers.example.org"), |state| {
        state
    })
    .await;
    let response = secure.get("/").await;
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn a_long_address_is_not_repeated_into_every_card() {
    let site = start(&[DAYS[0]]).await;
    let (status, short) = site.page("/?date=2026-08-20").await;
    assert_eq!(status, StatusCode::OK);
    let padding = "a".repeat(60_000);
    let (status, long) = site.page(&format!("/?date=2026-08-20&x={padding}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        long.len() < short.len() + 10_000,
        "{} bytes for a 60 KB address, {} for a short one",
        long.len(),
        short.len()
    );
}

#[tokio::test]
async fn searches_past_the_queue_are_answered_503_with_retry_after() {
    let site = start_configured(&[DAYS[0]], None, |state| state.with_max_queued_searches(0)).await;
    let mut asks = tokio::task::JoinSet::new();
    for n in 0..40 {
        let url = format!(
            "{}/api/papers/search?q=learning+{n}&mode=semantic",
            site.base
        );
        asks.spawn(async move { reqwest::get(url).await.unwrap() });
    }
    let mut refused = 0;
    while let Some(answer) = asks.join_next().await {
        let answer = answer.unwrap();
        match answer.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert!(answer.headers().contains_key("retry-after"));
                let error: serde_json::Value = answer.json().await.unwrap();
                assert_eq!(error["code"], "unavailable");
            }
            other => panic!("{other}"),
        }
    }
    assert!(refused > 0, "40 searches at once on a queue of none");
    let (status, _) = site.json("/api/papers/search?q=learning").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "served again once the queue drained"
    );
}

#[tokio::test]
async fn metrics_can_move_off_the_site() {
    let site = start_configured(&[DAYS[0]], None, |state| state.with_metrics_elsewhere()).await;
    let (status, _) = site.page("/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(paperboy_web::serve_metrics(
        listener,
        site.state.clone(),
        std::future::pending(),
    ));
    let metrics = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.unwrap().contains("paperboy_papers"));
}

#[tokio::test]
async fn old_style_arxiv_ids_are_linked_as_one_segment_and_answer_everywhere() {
    let site = start(&[DAYS[0]]).await;
    let old = paperboy_core::PaperDraft {
        arxiv_id: Some("hep-th/9901001".to_owned()),
        title: Some("Strings before the slash went out of style".to_owned()),
        abstract_text: Some("An old-style identifier.".to_owned()),
        authors: vec!["Ada Lovelace".to_owned()],
        categories: vec!["hep-th".to_owned()],
        published: Some("1999-01-04".to_owned()),
        listing_dates: vec!["2026-08-20".to_owned()],
        ..paperboy_core::PaperDraft::default()
    }
    .finish(paperboy_core::Source::ArxivApi)
    .unwrap();
    site.store.upsert_papers(vec![old]).await.unwrap();
    let (status, daily) = site.page("/?date=2026-08-20").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        daily.contains("href=\"/papers/hep-th%2F9901001\""),
        "linked as one segment"
    );
    let session = site.sign_in("reader@example.org").await;
    let (status, page) = site
        .page_as("/papers/hep-th%2F9901001", &session.cookie)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Strings before the slash"));
    assert!(page.contains("action=\"/papers/hep-th%2F9901001/upvote\""));
    // As arXiv writes it: sent on to the paper.
    let typed = site.get("/papers/hep-th/9901001").await;
    assert_eq!(typed.status(), StatusCode::OK);
    assert!(typed.url().path().ends_with("/papers/hep-th%2F9901001"));
    let (status, paper) = site.json("/api/papers/hep-th%2F9901001").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paper["id"], "hep-th/9901001");
    let (status, _) = site.vote(&session, "hep-th%2F9901001", true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(site.upvotes("hep-th/9901001").await.2, 1);
    let (status, _) = site.page("/papers/hep-th/99").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
