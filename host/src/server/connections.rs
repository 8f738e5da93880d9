//! Accepting connections: hyper's HTTP/1 server with read timeouts, so a
//! client that opens a connection and then sends its request slowly (or
//! never) holds a socket for a bounded time, not forever.
//!
//! `axum::serve` offers no header timeout, hence this loop: accept, serve
//! each connection with a header-read timeout, and on shutdown stop
//! accepting and let in-flight requests finish.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use super::ApiError;

/// How long a client may take to send a request's head, and then its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    /// From the connection's start (or the previous response) to the end of
    /// the request's headers; the connection is closed when it passes.
    pub header: Duration,
    /// From the end of the headers to the end of the body; a 408 when it
    /// passes.
    pub body: Duration,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        ReadTimeouts {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then wait for the
/// open connections' in-flight requests.
///
/// hyper's own HTTP/1 connection, not hyper-util's `auto` one: `auto` first
/// reads the bytes that tell HTTP/1 from HTTP/2 without any timeout, so a
/// client that connects and sends nothing would never be cut off. Here the
/// header timer starts as soon as the connection waits for a request head
/// (also between keep-alive requests, so it bounds idle connections too).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // Every connection task holds a receiver of `closed`; shutdown waits
    // until all are dropped. `stop` tells them to finish gracefully.
    let (stop, stopping) = watch::channel(false);
    let (closed, open) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning (as `axum::serve` does).
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // With upgrades, so a WebSocket route works as under `axum::serve`.
        // The peer's address, for handlers that limit per address
        // (`ConnectInfo<SocketAddr>`, as under `axum::serve`).
        let app = app
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            });
        let conn = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
            .with_upgrades();
        let mut stopping = stopping.clone();
        let open = open.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                // `stop` only ever changes to true (or is dropped).
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            // Client errors (resets, header timeouts) end one connection.
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    closed.closed().await;
    Ok(())
}

/// The body-read limits for [`read_body_within`].
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub timeout: Duration,
    /// The largest body any route accepts; routes apply their own, smaller
    /// limits after this.
    pub max_bytes: usize,
}

/// Middleware: read the whole request body within the timeout (408
/// `request_timeout` otherwise), so a slow sender cannot hold a handler,
/// and a webhook's or an API call's body is complete before the handler
/// runs.
pub async fn read_body_within(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limits.timeout, collect(body, limits.max_bytes)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(Collect::TooLarge)) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {} bytes", limits.max_bytes),
        )
        .into_response(),
        Ok(Err(Collect::Broken)) => {
            ApiError::bad_request("the request body could not be read").into_response()
        }
        Err(_) => {
            let mut r = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body was not received within {} ms",
                    limits.timeout.as_millis()
                ),
            )
            .into_response();
            // The rest of the body may still be coming: do not read it.
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            r
        }
    }
}

enum Collect {
    TooLarge,
    Broken,
}

/// The body's data, at most `max` bytes.
async fn collect(mut body: Body, max: usize) -> Result<axum::body::Bytes, Collect> {
    if body.size_hint().lower() > max as u64 {
        return Err(Collect::TooLarge);
    }
    let mut buf = Vec::new();
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(buf.into()),
            Some(Err(_)) => return Err(Collect::Broken),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > max {
                        return Err(Collect::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}
