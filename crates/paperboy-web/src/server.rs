//! The connection loop in front of the router: what axum's `serve` leaves out and a public site
//! needs. Every connection has deadlines (the request head, a stalled write, an idle keep-alive),
//! the number of open connections is capped (past it, new clients wait in the listen backlog
//! rather than exhaust file descriptors and memory), one client address may hold only a share of
//! them, and shutdown waits for requests in flight only up to a deadline.
//!
//! Request bodies have their own size and time limits in [`crate::limits`], since they are read
//! by the handlers, not here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::client::TrustedProxies;

/// The server's deadlines and caps; [`Default`] is what `paperboy serve` uses unless told.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// From a connection's first byte (or from the end of its last answer, on a kept-alive
    /// connection) to the end of the next request head. A client that sends nothing, or half a
    /// head, is disconnected after it.
    pub header_timeout: Duration,
    /// The whole request body must arrive within this (see [`crate::limits`]).
    pub body_timeout: Duration,
    /// A write that makes no progress for this long (a client that stopped reading) ends the
    /// connection.
    pub write_timeout: Duration,
    /// Connections open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
    /// Connections one client address may hold at once (trusted proxies are exempt); past it,
    /// its new connections are answered 503 and closed.
    pub max_connections_per_client: usize,
    /// After a shutdown signal, requests in flight get this long to finish.
    pub shutdown_deadline: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 1024,
            // Generous: a whole office behind one NAT address shares it.
            max_connections_per_client: 256,
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// The largest request head (request line and headers) read; a larger one gets 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// until the deadline and closes every connection.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    trusted: Arc<TrustedProxies>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(ClientConnections::default());
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let mut refusing = builder.clone();
    refusing.keep_alive(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // neither is the listener's end. Pause so a persistent error does not spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let ip = peer.ip();
        let held = (!trusted.contains(ip))
            .then(|| per_client.enter(ip, limits.max_connections_per_client));
        let connection: Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>> = match held {
            Some(None) => {
                tracing::warn!(client = %ip, "too many connections from one address: refused");
                Box::pin(graceful.watch(refusing.serve_connection(
                    io,
                    hyper::service::service_fn(|_: Request<Incoming>| async {
                        Ok::<_, Infallible>(too_many_connections())
                    }),
                )))
            }
            held => {
                let app = app.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let mut request = request.map(Body::new);
                    request.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(request)
                });
                let connection = graceful.watch(builder.serve_connection(io, service));
                Box::pin(async move {
                    let ended = connection.await;
                    drop(held);
                    ended
                })
            }
        };
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after the {:?} shutdown deadline were cut off",
            limits.shutdown_deadline
        );
    }
    Ok(())
}

fn too_many_connections() -> Response<Body> {
    let mut response = Response::new(Body::from(
        "Too many connections from your address; close some and try again.\n",
    ));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct ClientConnections {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientConnections {
    /// Counts a connection from `client`, or `None` when it already holds `max`.
    fn enter(self: &Arc<Self>, client: IpAddr, max: usize) -> Option<HeldConnection> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(client).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(HeldConnection {
            counts: Arc::clone(self),
            client,
        })
    }
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
struct HeldConnection {
    counts: Arc<ClientConnections>,
    client: IpAddr,
}

impl Drop for HeldConnection {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// A stream whose writes fail once one has made no progress for the limit: a client that stops
/// reading cannot hold its connection (and the answer buffered for it) forever.
#[derive(Debug)]
struct WriteDeadline {
    stream: TcpStream,
    limit: Duration,
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        WriteDeadline {
            stream,
            limit,
            stalled_since: None,
        }
    }

    /// Passes a write's outcome on, starting the deadline when it is pending and failing it
    /// when the deadline passed.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.stalled_since = None;
            return outcome;
        }
        let limit = self.limit;
        let deadline = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.watch(cx, outcome)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.watch(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_flush(cx);
        this.watch(cx, outcome)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let outcome = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.watch(cx, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_share_and_gets_it_back() {
        let counts = Arc::new(ClientConnections::default());
        let client = IpAddr::from([192, 0, 2, 7]);
        let held: Vec<_> = (0..3).filter_map(|_| counts.enter(client, 3)).collect();
        assert_eq!(held.len(), 3);
        assert!(counts.enter(client, 3).is_none(), "a fourth is refused");
        assert!(counts.enter(IpAddr::from([192, 0, 2, 8]), 3).is_some());
        drop(held);
        assert!(
            counts.enter(client, 3).is_some(),
            "closed ones are given back"
        );
    }
}
