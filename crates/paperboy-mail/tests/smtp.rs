//! Delivery through a real SMTP server (aiosmtpd from PyPI, installed into the target folder on
//! first use, started per test by `support/smtp_server.py`), read back from what the server received.

#[path = "support/smtp.rs"]
mod smtp;

use std::time::SystemTime;

use paperboy_mail::{Email, SendError, Sender, Transport};
use smtp::SmtpServer;

fn sender() -> Sender {
    let address = "digest@papers.example.org".parse().expect("valid");
    Sender::new("Paperboy", address).expect("valid sender")
}

fn email(to: &str, key: &str) -> Email {
    Email {
        to: to.parse().expect("valid address"),
        subject: "Trending today: 3 papers".into(),
        text: "Trending today\n\n1. Attention Is All You Need\n   https://papers.example.org/paper/1706.03762\n".into(),
        html: Some("<h1>Trending today</h1><ol><li><a href=\"https://papers.example.org/paper/1706.03762\">Attention Is All You Need</a></li></ol>".into()),
        unsubscribe: Some("https://papers.example.org/unsubscribe/Zm9vYmFy".into()),
        key: key.into(),
    }
}

#[tokio::test]
async fn delivers_over_smtp_with_every_header() {
    let server = SmtpServer::start();
    let outgoing = sender()
        .render(
            &email("ada@example.org", "digest:1:2026-11-28"),
            SystemTime::now(),
        )
        .expect("renders");
    Transport::smtp(&server.url())
        .expect("a valid URL")
        .send(&outgoing)
        .await
        .expect("accepted");

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    let (head, body) = message
        .split_once("\r\n\r\n")
        .expect("headers, then a body");
    for expected in [
        "From: Paperboy <digest@papers.example.org>",
        "To: ada@example.org",
        "Subject: Trending today: 3 papers",
        &format!("Message-ID: <{}>", outgoing.message_id),
        "List-Unsubscribe: <https://papers.example.org/unsubscribe/Zm9vYmFy>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative;",
        "Date: ",
    ] {
        assert!(head.contains(expected), "{expected:?} missing from\n{head}");
    }
    let text_part = body.find("Content-Type: text/plain").expect("a text part");
    let html_part = body.find("Content-Type: text/html").expect("an HTML part");
    assert!(
        text_part < html_part,
        "plain text first, as multipart/alternative wants"
    );
    assert!(body.contains("Attention Is All You Need"));
}

#[tokio::test]
async fn refusals_are_told_apart_and_never_quote_the_address() {
    let server = SmtpServer::start();
    let transport = Transport::smtp(&server.url()).expect("a valid URL");
    let render = |to: &str| {
        sender()
            .render(&email(to, &format!("digest:{to}")), SystemTime::now())
            .expect("renders")
    };

    let error = transport
        .send(&render("bounce.ada@example.org"))
        .await
        .expect_err("550");
    assert!(matches!(error, SendError::Recipient(_)), "{error:?}");
    assert!(
        !error.to_string().contains("bounce.ada@example.org"),
        "{error}"
    );
    assert!(error.to_string().contains("b…@example.org"), "{error}");

    let error = transport
        .send(&render("later@example.org"))
        .await
        .expect_err("451");
    assert!(matches!(error, SendError::Transient(_)), "{error:?}");

    transport
        .send(&render("ada@example.org"))
        .await
        .expect("an accepted address still goes through on the same transport");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_refused_sender_is_not_blamed_on_the_recipient() {
    let server = SmtpServer::start();
    let address = "refused@papers.example.org".parse().expect("valid");
    let sender = Sender::new("Paperboy", address).expect("valid sender");
    let outgoing = sender
        .render(
            &email("ada@example.org", "digest:refused"),
            SystemTime::now(),
        )
        .expect("renders");
    let error = Transport::smtp(&server.url())
        .expect("a valid URL")
        .send(&outgoing)
        .await
        .expect_err("554");
    assert!(matches!(error, SendError::Permanent(_)), "{error:?}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_is_a_transient_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    };
    let transport = Transport::smtp(&format!("smtp://127.0.0.1:{port}")).expect("a valid URL");
    let outgoing = sender()
        .render(&email("ada@example.org", "digest:down"), SystemTime::now())
        .expect("renders");
    let error = transport
        .send(&outgoing)
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, SendError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn bad_smtp_urls_are_refused_without_repeating_them() {
    for url in [
        "",
        "http://mail.example.org",
        "smtp://user:s3cret@[bad",
        // A password over plain SMTP to another machine.
        "smtp://user:s3cret@mail.example.org:587",
        "smtp://user:s3cret@mail.example.org:587?tls=opportunistic",
    ] {
        let error = Transport::smtp(url).expect_err(url).to_string();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(error.contains("smtps://"), "{error}");
    }
    for url in [
        "smtp://user:s3cret@mail.example.org:587?tls=required",
        "smtps://user:s3cret@mail.example.org",
        "smtp://user:s3cret@localhost:25",
        "smtp://mail.example.org:25",
    ] {
        assert!(Transport::smtp(url).is_ok(), "{url}");
    }
}

#[tokio::test]
async fn the_file_transport_writes_each_message_once_and_whole() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let transport = Transport::files(folder.path().join("mail"));
    let outgoing = sender()
        .render(&email("ada@example.org", "digest:files"), SystemTime::now())
        .expect("renders");
    transport.send(&outgoing).await.expect("written");
    transport.send(&outgoing).await.expect("written again");
    let names: Vec<String> = std::fs::read_dir(folder.path().join("mail"))
        .expect("the folder was made")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    assert_eq!(names, vec![format!("{}.eml", outgoing.message_id)]);
    let written = std::fs::read(folder.path().join("mail").join(&names[0])).expect("readable");
    assert_eq!(written, outgoing.bytes);
}
