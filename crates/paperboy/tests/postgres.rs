//! PostgreSQL end to end through the binary, on the throwaway server `scripts/test` starts
//! (`PAPERBOY_TEST_POSTGRES_URL`): moving a populated SQLite site with `paperboy store copy`
//! and serving it from PostgreSQL without embedding anything again, and the mistakes an
//! operator makes with a database URL, each one clear message and exit status 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::{
    Server, free_port, new_postgres_database, output, paperboy, postgres_server_url, shared,
};
use paperboy_core::subscription::Preferences;
use paperboy_store::{AccountStore, MailStore, PaperStore, SqliteStore, Store};
use serde_json::Value;
use sqlx::Connection;

const DAY: &str = "2026-08-20";
const PASSWORD: &str = "paperboy";

/// Runs `paperboy` with `args` on the database `url`; its exit status and stderr.
fn on_database(data: &std::path::Path, url: &str, args: &[&str]) -> (i32, String, String) {
    output(paperboy(data).arg("--database-url").arg(url).args(args))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_moves_to_postgres_with_its_papers_votes_and_subscribers() {
    // A populated SQLite site: a day of papers, indexed (so embedded), a reader's vote and a
    // confirmed subscriber.
    let data = tempfile::tempdir().unwrap();
    let (status, _, stderr) = output(
        paperboy(data.path())
            .arg("import")
            .arg(shared(&format!("hf-daily-papers/raw/{DAY}.json.gz"))),
    );
    assert_eq!(status, 0, "{stderr}");
    let sqlite = SqliteStore::open(&data.path().join("paperboy.sqlite3"))
        .await
        .unwrap();
    let papers = sqlite.papers_after(None, 100).await.unwrap();
    assert!(papers.len() >= 10, "{} papers", papers.len());
    let voted = papers[3].id;
    let now = Utc::now();
    let reader = sqlite
        .add_user(&"reader@example.org".parse().unwrap(), false, now)
        .await
        .unwrap();
    sqlite
        .set_vote(reader.id, voted, true, now)
        .await
        .unwrap()
        .unwrap();
    sqlite
        .add_confirmed_subscribers(
            &[(
                "subscriber@example.org".parse().unwrap(),
                Preferences::default(),
            )],
            now,
        )
        .await
        .unwrap();
    let sqlite_counts = sqlite.table_counts().await.unwrap();
    sqlite.close().await;

    let target = new_postgres_database("binary").await;
    let (status, _, stderr) = output(
        paperboy(data.path())
            .args(["store", "copy", "--to"])
            .arg(&target),
    );
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("every count equal"), "{stderr}");
    assert!(
        !stderr.contains(":paperboy@"),
        "the password was printed: {stderr}"
    );

    // A second copy into the same (now full) database is refused.
    let (status, _, stderr) = output(
        paperboy(data.path())
            .args(["store", "copy", "--to"])
            .arg(&target),
    );
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("already holds"), "{stderr}");

    let postgres = paperboy_store::open(&target).await.unwrap();
    let copied_counts = postgres.table_counts().await.unwrap();
    for (table, rows) in &sqlite_counts {
        if paperboy_store::copy::TABLES
            .iter()
            .any(|copied| copied.name == table)
        {
            let copied = copied_counts
                .iter()
                .find(|(name, _)| name == table)
                .map_or(0, |(_, rows)| *rows);
            assert_eq!(copied, *rows, "table {table}");
        }
    }
    let paper = postgres.paper(voted).await.unwrap().unwrap();
    assert_eq!(paper.local_upvotes, 1);
    let subscriber = postgres
        .subscriber_by_email(&"subscriber@example.org".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subscriber.email.as_str(), "subscriber@example.org");
    postgres.close().await;

    // A node on PostgreSQL with an empty data folder builds its index from the stored
    // embeddings: nothing is embedded again.
    let node = tempfile::tempdir().unwrap();
    let (status, stdout, stderr) = on_database(node.path(), &target, &["reindex"]);
    assert_eq!(status, 0, "{stderr}");
    let report = format!("{stdout}{stderr}");
    assert!(report.contains("(0 embedded now"), "{report}");

    // The site served from PostgreSQL lists the same papers, with the vote.
    let smtp = format!("smtp://127.0.0.1:{}", free_port());
    let served = Server::start_with(
        node.path(),
        &smtp,
        &["--no-harvest", "--database-url", &target],
    );
    let sqlite_served = Server::start(data.path(), &smtp);
    let client = reqwest::Client::new();
    let list = |base: String| {
        let client = client.clone();
        async move {
            let body: Value = client
                .get(format!("{base}/api/daily_papers?date={DAY}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body
        }
    };
    let from_postgres = list(served.base.clone()).await;
    let from_sqlite = list(sqlite_served.base.clone()).await;
    assert_eq!(from_postgres, from_sqlite);
    assert!(
        from_postgres
            .to_string()
            .contains(&paper.record.title.replace('"', "\\\""))
    );

    let search = |base: String| {
        let client = client.clone();
        let title = paper.record.title.clone();
        async move {
            let body: Value = client
                .get(format!("{base}/api/papers/search"))
                .query(&[("q", title.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body
        }
    };
    assert_eq!(
        search(served.base.clone()).await,
        search(sqlite_served.base.clone()).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn database_mistakes_are_one_clear_message_and_status_2() {
    let data = tempfile::tempdir().unwrap();
    let server = postgres_server_url();
    let (base, _) = server.rsplit_once('/').unwrap();

    // Nobody listens on the port.
    let unreachable = format!(
        "postgres://paperboy:s3cret-unused@127.0.0.1:{}/x",
        free_port()
    );
    let (status, _, stderr) = on_database(
        data.path(),
        &unreachable,
        &["papers", "list", "--limit", "1"],
    );
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(stderr.contains("paperboy:***@"), "{stderr}");
    assert!(
        !stderr.contains("s3cret-unused"),
        "the password was printed: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // A wrong password.
    let wrong = base.replace(&format!(":{PASSWORD}@"), ":not-the-password@") + "/postgres";
    let (status, _, stderr) = on_database(data.path(), &wrong, &["papers", "list", "--limit", "1"]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-the-password"),
        "the password was printed: {stderr}"
    );

    // A database a newer Paperboy migrated.
    let newer = new_postgres_database("binary").await;
    let (status, _, stderr) = on_database(data.path(), &newer, &["papers", "list", "--limit", "1"]);
    assert_eq!(status, 0, "{stderr}");
    let mut connection = sqlx::PgConnection::connect(&newer).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    let (status, _, stderr) = on_database(data.path(), &newer, &["papers", "list", "--limit", "1"]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("newer than this Paperboy knows"),
        "{stderr}"
    );

    // A copy into a database that holds papers.
    let full = new_postgres_database("binary").await;
    let (status, _, stderr) = output(
        paperboy(data.path())
            .arg("--database-url")
            .arg(&full)
            .arg("import")
            .arg("--no-index")
            .arg(shared(&format!("hf-daily-papers/raw/{DAY}.json.gz"))),
    );
    assert_eq!(status, 0, "{stderr}");
    let (status, _, stderr) = output(
        paperboy(data.path())
            .args(["store", "copy", "--to"])
            .arg(&full),
    );
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("already holds data (") && stderr.contains("papers: 15"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(":paperboy@"),
        "the password was printed: {stderr}"
    );
}
