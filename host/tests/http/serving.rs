//! How the server holds up against slow clients and scrapers: header and
//! body read timeouts, `/metrics` behind a token and without a count
//! query per scrape.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::server::ReadTimeouts;

use crate::harness::{APP_SECRET, Backend, TestServer, wa_text};
use crate::on_both;

async fn short_timeouts(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.read_timeouts = ReadTimeouts {
            header: Duration::from_millis(300),
            body: Duration::from_millis(300),
        };
    })
    .await
}

/// Send `bytes` on a fresh connection, then read until the server closes
/// it; `None` if it is still open after 10 s (the test's own bound, far
/// above the server's timeouts).
fn send_and_wait_for_close(base: &str, bytes: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(String::from_utf8_lossy(&out).into_owned())
        }
        Err(_) => None,
    }
}

async fn a_partial_request_head_is_cut_off(backend: Backend) {
    let s = short_timeouts(backend).await;
    let base = s.base.clone();
    let answer = tokio::task::spawn_blocking(move || {
        send_and_wait_for_close(
            &base,
            b"POST /webhooks/ch_x HTTP/1.1\r\nHost: a\r\nContent-",
        )
    })
    .await
    .unwrap();
    let answer = answer.expect("the connection was closed by the server");
    assert!(!answer.contains("200 OK"), "{answer}");
    // Nothing at all, or a few bytes, is cut off too.
    for bytes in [&b""[..], b"GE"] {
        let base = s.base.clone();
        let answer = tokio::task::spawn_blocking(move || send_and_wait_for_close(&base, bytes))
            .await
            .unwrap();
        assert!(answer.is_some(), "{bytes:?}: still open");
    }
    // Complete requests are still served.
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}
on_both!(a_partial_request_head_is_cut_off);

async fn a_body_that_does_not_arrive_is_a_408(backend: Backend) {
    let s = short_timeouts(backend).await;
    let base = s.base.clone();
    let answer = tokio::task::spawn_blocking(move || {
        send_and_wait_for_close(
            &base,
            b"POST /webhooks/ch_x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"entry\":",
        )
    })
    .await
    .unwrap()
    .expect("the connection was closed by the server");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: Value = serde_json::from_str(body).expect("a JSON error");
    assert_eq!(v["error"]["code"], "request_timeout", "{v}");
    s.stop().await;
}
on_both!(a_body_that_does_not_arrive_is_a_408);

async fn metrics_need_the_token_when_one_is_set(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.scrape.token = Some("metrics-token-for-the-scraper".into());
    })
    .await;
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unauthorized", "{v}");
    for wrong in [s.admin_token.as_str(), "metrics-token-for-the-scrape"] {
        let r = s
            .http
            .get(s.url("/metrics"))
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = s
        .http
        .get(s.url("/metrics"))
        .bearer_auth("metrics-token-for-the-scraper")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("switchboard_outbox_depth"));
    s.stop().await;
}
on_both!(metrics_need_the_token_when_one_is_set);

fn outbox_depth(text: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix("switchboard_outbox_depth "))
        .expect("the gauge")
        .trim()
        .parse()
        .unwrap()
}

/// The outbox depth is counted at most once per refresh interval, however
/// often `/metrics` is scraped. (SQLite only: on the shared PostgreSQL
/// database other tests move the depth too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_reuse_the_counted_outbox_depth() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        // No workers: a queued job stays queued.
        c.workers.workers = 0;
        c.scrape.db_refresh = Duration::from_secs(3600);
    })
    .await;
    let scrape = || async {
        let r = s.http.get(s.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        outbox_depth(&r.text().await.unwrap())
    };
    let first = scrape().await;
    let (_, key) = s.tenant("scrape").await;
    // A persona, so the message becomes a reply job (never delivered: no
    // workers).
    let persona = s
        .persona(
            &key,
            json!({ "name": "static", "responder": { "kind": "static", "text": "hello" } }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, "http://127.0.0.1:9", &[], Some(&persona))
        .await;
    let r = s
        .post_signed(&ch, &wa_text("wamid.scrape", "hi"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 200);
    // The database has one more job; the scrape still shows the counted
    // value.
    assert_eq!(s.db().outbox_depth().await.unwrap(), first + 1);
    for _ in 0..20 {
        assert_eq!(scrape().await, first);
    }
    s.stop().await;
}

/// A client that sends `POST /v1/messages` with an `Idempotency-Key` and
/// hangs up at once: the key does not stay "in progress", and retrying it
/// queues the message once. (End to end only: this handler is usually done
/// before the hang-up is noticed, so the cancellation itself is covered by
/// `server::send`'s and `storage::sends`' unit tests.)
async fn a_disconnected_send_does_not_hold_its_idempotency_key(backend: Backend) {
    let s = TestServer::start(backend).await;
    let graph = crate::mock::MockProvider::graph().await;
    let (_, key) = s.tenant("gone").await;
    let ch = s.whatsapp_channel_to(&key, &graph.base, &[], None).await;
    // The user writes first, so a free-form text is inside the window.
    let r = s
        .post_signed(&ch, &wa_text("wamid.gone", "hello"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 200);
    let body = json!({ "channel_id": ch, "to": "16315551181", "text": "Your order has shipped." })
        .to_string();
    let raw = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: hung-up\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let addr = s.base.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(raw.as_bytes()).unwrap();
        // Hang up without reading the answer.
        c.shutdown(std::net::Shutdown::Both).unwrap();
    })
    .await
    .unwrap();

    // Retrying: "in progress" while the first request finishes on its own
    // task, then its answer. Up to 30 s, well under the 60 s lease that
    // would free an abandoned key: a loaded CI machine (the whole suite on
    // two cores) has taken over 10 s to finish that first request.
    let mut answer = None;
    for _ in 0..600 {
        let r = s
            .http
            .post(s.url("/v1/messages"))
            .bearer_auth(&key)
            .header("idempotency-key", "hung-up")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if r.status() != 409 {
            answer = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = answer.expect("the key stayed in progress");
    assert_eq!(answer.status(), 202);
    let outbound: Vec<Value> = s
        .all_messages(&key, &ch)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    s.stop().await;
}
on_both!(a_disconnected_send_does_not_hold_its_idempotency_key);
