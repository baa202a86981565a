//! Every route and every parameter of the site and the API driven with hostile values against a
//! live server: huge, negative and non-numeric numbers, overlong text, escapes of invalid UTF-8,
//! control characters, markup. For every request: an answer, never a 5xx, and the server alive
//! afterwards. Requests carry a signed-in administrator's session and form token (unless the
//! token is what is being attacked), so that they reach the handlers, not only the checks in
//! front of them. CI runs a bounded number of cases; `scripts/hostile MINUTES` runs it for
//! longer (see `support/hostile.rs` for the knobs).

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../paperboy-ingest/tests/support/hostile.rs"]
#[macro_use]
mod hostile;

use std::collections::BTreeSet;
use std::sync::Mutex;

use common::{DAYS, Session, start};
use proptest::prelude::*;
use reqwest::StatusCode;

/// A route: its method, its path (`{key}` and `{token}` filled from the parameter of that
/// name), its parameters, and whether they go in a JSON body.
struct Route {
    method: &'static str,
    path: &'static str,
    params: &'static [&'static str],
    json: bool,
}

const fn get(path: &'static str, params: &'static [&'static str]) -> Route {
    Route {
        method: "GET",
        path,
        params,
        json: false,
    }
}

/// A route of another method whose parameters go in the address (the API's `PUT` and `DELETE`).
const fn query(method: &'static str, path: &'static str, params: &'static [&'static str]) -> Route {
    Route {
        method,
        path,
        params,
        json: false,
    }
}

const fn post(path: &'static str, params: &'static [&'static str]) -> Route {
    Route {
        method: "POST",
        path,
        params,
        json: false,
    }
}

/// Every route the router has (`lib.rs`), each with every parameter it reads.
const ROUTES: &[Route] = &[
    get("/", &["date", "week", "month"]),
    get("/trending", &["window", "votes"]),
    get(
        "/search",
        &["q", "mode", "from", "until", "category", "page"],
    ),
    get("/similar", &["text"]),
    get("/papers/{key}", &["key"]),
    get("/papers/{key}/{number}", &["key", "number"]),
    get("/about", &[]),
    get("/static/style.css", &[]),
    get("/static/app.js", &[]),
    get("/healthz", &[]),
    get("/readyz", &[]),
    get("/metrics", &[]),
    get("/feeds/daily.atom", &["date", "token"]),
    get("/feeds/trending.atom", &["window", "votes"]),
    get("/feeds/search.atom", &["q"]),
    get("/api/openapi.json", &[]),
    get(
        "/api/daily_papers",
        &["date", "week", "month", "limit", "p", "sort"],
    ),
    get("/api/papers/search", &["q", "limit", "mode"]),
    get("/api/papers/{key}", &["key", "token"]),
    query("PUT", "/api/papers/{key}/upvote", &["key", "token"]),
    query("DELETE", "/api/papers/{key}/upvote", &["key", "token"]),
    query("PUT", "/api/papers/{key}/saved", &["key", "token"]),
    query("DELETE", "/api/papers/{key}/saved", &["key", "token"]),
    get("/api/papers/{key}/similar", &["key", "limit"]),
    Route {
        method: "POST",
        path: "/api/subscriptions",
        params: &["email", "topics", "categories", "frequency"],
        json: true,
    },
    get("/subscribe", &[]),
    post(
        "/subscribe",
        &["email", "topics", "categories", "frequency"],
    ),
    get("/subscriptions/confirm/{token}", &["token"]),
    post("/subscriptions/confirm/{token}", &["token"]),
    get("/subscription/{token}", &["token"]),
    post("/subscription/{token}", &["token"]),
    post(
        "/subscription/{token}/preferences",
        &["token", "topics", "categories", "frequency"],
    ),
    get("/signin", &["next"]),
    post("/signin", &["email", "next"]),
    get("/signin/{token}", &["token"]),
    post("/signin/{token}", &["token"]),
    post("/signout", &["form_token"]),
    post("/signout/everywhere", &["form_token"]),
    get("/me", &["digest"]),
    post(
        "/me/digest",
        &[
            "action",
            "email",
            "topics",
            "categories",
            "frequency",
            "form_token",
        ],
    ),
    get("/me/saved.bib", &[]),
    get("/me/saved.jsonl", &[]),
    post("/me/tokens", &["label", "scope", "form_token"]),
    get("/folders", &[]),
    post("/folders", &["name", "form_token"]),
    get("/folders/{id}", &["id"]),
    post("/folders/{id}/delete", &["id", "form_token"]),
    get("/folders/{id}/rate", &["id", "paper"]),
    post(
        "/ratings",
        &["folder", "paper", "rating", "next", "form_token"],
    ),
    get("/feeds/folders/{id}", &["id", "token"]),
    post("/me/tokens/{id}/revoke", &["id", "form_token"]),
    post(
        "/papers/{key}/upvote",
        &["key", "value", "next", "form_token"],
    ),
    post(
        "/papers/{key}/save",
        &["key", "value", "next", "form_token"],
    ),
    get("/admin", &[]),
    post(
        "/admin/papers/{key}/hidden",
        &["key", "value", "form_token"],
    ),
    post("/admin/users/hidden", &["email", "value", "form_token"]),
    post("/admin/invitations", &["email", "form_token"]),
    get("/no/such/page", &[]),
    get("/api/no/such/route", &[]),
];

/// Values for a parameter: each is sent percent-encoded (so escapes of invalid UTF-8 and
/// control characters arrive as such) or raw where the URL allows.
const VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "41",
    "100000",
    "4294967296",
    "1000000000000",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "99999999999999999999999999999999",
    "1e308",
    "NaN",
    "0x10",
    " 1",
    "1 ",
    "+1",
    "abc",
    "%",
    "%zz",
    "%FF%FE",
    "%C3",
    "%ED%A0%80",
    "%00",
    "%0D%0AX-Injected:%201",
    "%1B[2J",
    "..%2F..%2Fetc%2Fpasswd",
    "/etc/passwd",
    "//evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "' OR 1=1 --",
    "2026-08-20",
    "2026-02-30",
    "+262143-12-31",
    "262143-12",
    "-262144-01-01",
    "2026-W53",
    "2026-W99",
    "99999-W01",
    "2026-13",
    "day",
    "week",
    "month",
    "year",
    "hybrid",
    "semantic",
    "keyword",
    "cat:cs.LG",
    "\"unclosed",
    "hep-th/9901001",
    "hep-th%2F9901001",
    "2608.00001",
    "2608.00001v99999999999",
    "true",
    "false",
    "daily",
    "weekly",
    "a@example.org",
    "a+tag@example.org",
    "@",
    "a@b@c",
];

/// How a value is stretched or combined before it is sent.
#[derive(Debug, Clone)]
enum Shape {
    Once,
    /// Repeated up to 30 KB (the request head's limit is 64 KiB).
    Long(usize),
    /// The parameter given twice.
    Twice,
}

#[derive(Debug, Clone)]
struct Case {
    route: usize,
    param: usize,
    value: String,
    shape: Shape,
    /// Also send every other parameter of the route with a value of its own.
    others: Vec<usize>,
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(VALUES).prop_map(str::to_owned),
        // Arbitrary bytes, percent-encoded: anything a client could put in a URL.
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| {
            bytes.iter().map(|byte| format!("%{byte:02X}")).collect()
        }),
        1 => "[ -~]{0,80}".prop_map(|text| text.replace(['#', '&', ' '], "")),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        0..ROUTES.len(),
        any::<proptest::sample::Index>(),
        value_strategy(),
        prop_oneof![
            6 => Just(Shape::Once),
            1 => (1_usize..4_000).prop_map(Shape::Long),
            1 => Just(Shape::Twice),
        ],
        proptest::collection::vec(0..VALUES.len(), 0..8),
    )
        .prop_map(|(route, param, value, shape, others)| {
            let count = ROUTES[route].params.len().max(1);
            Case {
                route,
                param: param.index(count),
                value,
                shape,
                others,
            }
        })
}

/// The request for a case: path, query or form or JSON body.
fn request(
    client: &reqwest::Client,
    base: &str,
    session: &Session,
    case: &Case,
) -> reqwest::RequestBuilder {
    let route = &ROUTES[case.route];
    let attacked = route.params.get(case.param).copied();
    let value = match case.shape {
        Shape::Once | Shape::Twice => case.value.clone(),
        Shape::Long(times) => case
            .value
            .repeat(times.min(30_000 / case.value.len().max(1))),
    };
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (n, name) in route.params.iter().enumerate() {
        let own = if Some(*name) == attacked {
            value.clone()
        } else if *name == "form_token" && !route.path.starts_with("/signout") {
            // Valid, so the request reaches the handler (signing out would end the session
            // the other cases use).
            session.form_token.clone()
        } else if let Some(other) = case.others.get(n) {
            VALUES[*other].to_owned()
        } else {
            continue;
        };
        pairs.push((name, own));
        if Some(*name) == attacked && matches!(case.shape, Shape::Twice) {
            pairs.push((name, value.clone()));
        }
    }
    let mut path = route.path.to_owned();
    pairs.retain(|(name, value)| {
        let slot = format!("{{{name}}}");
        if path.contains(&slot) {
            // An empty segment would be another route; the key itself is what is attacked.
            let segment = if value.is_empty() { "x" } else { value };
            path = path.replace(&slot, &segment.replace(['/', '?'], "%2F"));
            false
        } else {
            true
        }
    });
    for slot in ["{key}", "{token}", "{number}", "{id}"] {
        path = path.replace(slot, "2608.00001");
    }
    // Values are sent as they are: they are already percent-encoded where they mean to be.
    let query: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", value.replace(['#', ' '], "+")))
        .collect();
    let cookie = (reqwest::header::COOKIE, session.cookie.clone());
    if route.method != "POST" {
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        return client
            .request(method, format!("{base}{path}?{}", query.join("&")))
            .header(cookie.0, cookie.1);
    }
    let builder = client
        .post(format!("{base}{path}"))
        .header(cookie.0, cookie.1);
    if route.json {
        let object: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(name, value)| {
                let value = if matches!(*name, "topics" | "categories") {
                    serde_json::json!([value])
                } else {
                    serde_json::json!(value)
                };
                ((*name).to_owned(), value)
            })
            .collect();
        builder.json(&object)
    } else {
        builder
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(query.join("&"))
    }
}

#[test]
fn every_route_and_parameter_answers_hostile_values_without_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let site = runtime.block_on(start(&[DAYS[0]]));
    let session = runtime.block_on(site.sign_in_admin("admin@example.org"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let covered = Mutex::new(BTreeSet::new());
    let statuses = Mutex::new(std::collections::BTreeMap::<u16, u64>::new());
    let cases = hostile::run("web routes", 256, case_strategy(), |case| {
        let answer = runtime.block_on(request(&client, &site.base, &session, &case).send());
        let route = &ROUTES[case.route];
        let Ok(answer) = answer else {
            return Err(TestCaseError::fail(format!(
                "{} {}: no answer: {answer:?}",
                route.method, route.path
            )));
        };
        let status = answer.status();
        ensure!(
            !status.is_server_error(),
            "{} {} answered {status} for {case:?}",
            route.method,
            route.path
        );
        covered.lock().unwrap().insert(case.route);
        *statuses.lock().unwrap().entry(status.as_u16()).or_insert(0) += 1;
        Ok(())
    });
    // Every route, every listed value for every parameter, once each, on top.
    let mut systematic = 0;
    for (route_number, route) in ROUTES.iter().enumerate() {
        for param in 0..route.params.len().max(1) {
            for value in VALUES {
                let case = Case {
                    route: route_number,
                    param,
                    value: (*value).to_owned(),
                    shape: Shape::Once,
                    others: Vec::new(),
                };
                let answer = runtime
                    .block_on(request(&client, &site.base, &session, &case).send())
                    .unwrap_or_else(|error| panic!("{case:?}: {error}"));
                *statuses
                    .lock()
                    .unwrap()
                    .entry(answer.status().as_u16())
                    .or_insert(0) += 1;
                assert!(
                    !answer.status().is_server_error(),
                    "{} {} answered {} for {case:?}",
                    route.method,
                    route.path,
                    answer.status()
                );
                systematic += 1;
            }
        }
    }
    let covered = covered.lock().unwrap().len();
    eprintln!(
        "hostile: web routes: {cases} generated + {systematic} listed requests, {covered}/{} routes hit by generated cases; answers by status: {:?}",
        ROUTES.len(),
        statuses.lock().unwrap()
    );
    let (status, _) = runtime.block_on(site.page("/healthz"));
    assert_eq!(status, StatusCode::OK, "the server is alive");
}
