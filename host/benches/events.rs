//! Event stream benchmark (issue 13). Run with
//! `cargo bench -p switchboard --bench events` (options: `-- --idle 10000
//! --rate 1000 --secs 10`).
//!
//! Starts the real server (`switchboard serve`, embedded SQLite) as a
//! child process, so its memory is its own, then:
//! 1. opens `--idle` WebSocket connections to `GET /v1/events` of 100
//!    other tenants (idle: nothing happens to those tenants) and leaves
//!    them open; prints the server's resident memory (VmRSS) before and
//!    after, and per connection;
//! 2. with those still open, one more subscriber follows the stream while
//!    signed WhatsApp webhooks arrive at `--rate` per second (open loop)
//!    for `--secs`; for every `message.created` it receives, the latency
//!    is its arrival minus the event's `created_at` (both this machine's
//!    clock, in ms; `created_at` is taken just before the commit). Prints
//!    p50, p99 and max, and last one JSON line.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod common;

const APP_SECRET: &str = "bench-app-secret";
const ADMIN: &str = "bench-admin-token-0123456789abcdef";

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let idle = arg("--idle", 10_000) as usize;
    let rate = arg("--rate", 1_000);
    let secs = arg("--secs", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(idle, rate, Duration::from_secs(secs)));
}

/// The child's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn run(idle: usize, rate: u64, duration: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("switchboard serve starts");
    // Killed however this run ends (a panic included).
    let server = Child(server);
    let base = format!("http://127.0.0.1:{port}");
    switchboard::outbound::install_tls_provider();
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    for _ in 0..300 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let key = common::tenant(&http, &base, ADMIN, "events-bench").await;
    let ch = common::channel(
        &http,
        &base,
        &key,
        json!({ "name": "WhatsApp", "adapter": "whatsapp-cloud", "config": {
            "app_secret": APP_SECRET, "verify_token": "v", "phone_number_id": "15550009999", "access_token": "t" } }),
    )
    .await;
    for i in 0..50 {
        common::post_webhook(&http, &base, &ch, APP_SECRET, &format!("warm-{i}"))
            .await
            .unwrap();
    }
    let (_, page) = get_json(&http, &format!("{base}/v1/events?limit=1000"), &key).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let ws_url = format!("ws://127.0.0.1:{port}/v1/events?after={cursor}");
    let open = |url: String, key: String| async move {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        tokio_tungstenite::connect_async(request)
            .await
            .map(|(ws, _)| ws)
    };

    // 1. Idle connections.
    let pid = server.0.id();
    let mut idle_keys = Vec::new();
    for t in 0..100 {
        idle_keys.push(common::tenant(&http, &base, ADMIN, &format!("idle-{t}")).await);
    }
    let idle_url = format!("ws://127.0.0.1:{port}/v1/events");
    let before = rss_kib(pid);
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(idle);
    let mut failed = 0;
    for chunk in 0..idle.div_ceil(100) {
        let n = 100.min(idle - chunk * 100);
        let opened = futures_util::future::join_all(
            (0..n).map(|i| open(idle_url.clone(), idle_keys[i % idle_keys.len()].clone())),
        )
        .await;
        for o in opened {
            match o {
                Ok(ws) => sockets.push(ws),
                Err(_) => failed += 1,
            }
        }
    }
    let opening = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "idle: {} connections open ({failed} failed) in {:.1} s; server RSS {:.1} MiB -> {:.1} MiB ({:.1} KiB per connection)",
        sockets.len(),
        opening.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / sockets.len().max(1) as f64
    );

    // 2. Fan-out latency with the idle connections still open.
    let mut follower = open(ws_url.clone(), key.clone())
        .await
        .expect("subscriber connects");
    let expected = (rate * duration.as_secs()) as usize;
    let receiver = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(expected);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while latencies.len() < expected {
            let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, follower.next()).await
            else {
                break;
            };
            if let Message::Text(t) = frame {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let e: Value = serde_json::from_str(&t).unwrap();
                if e["type"] == "message.created" {
                    latencies.push((now - e["created_at"].as_i64().unwrap()).max(0) as f64);
                }
            }
        }
        latencies
    });
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut senders = Vec::with_capacity(expected);
    for i in 0..expected {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let (http, base, ch) = (http.clone(), base.clone(), ch.clone());
        senders.push(tokio::spawn(async move {
            common::post_webhook(&http, &base, &ch, APP_SECRET, &format!("m-{i}")).await
        }));
    }
    let mut errors = 0;
    let mut first_error = None;
    for s in senders {
        if let Err(e) = s.await.unwrap_or_else(|e| Err(e.to_string())) {
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        println!("first webhook error: {e}");
    }
    let sent_in = start.elapsed();
    let mut latencies = receiver.await.unwrap();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let rss_end = rss_kib(pid);
    println!(
        "fan-out: {expected} webhooks at {rate}/s in {:.1} s ({errors} errors); {} events received; commit -> subscriber p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; server RSS {:.1} MiB",
        sent_in.as_secs_f64(),
        latencies.len(),
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        rss_end as f64 / 1024.0
    );
    println!(
        "{}",
        json!({
            "idle_connections": sockets.len(), "idle_failed": failed,
            "rss_before_mib": before as f64 / 1024.0, "rss_idle_mib": after as f64 / 1024.0,
            "rate": rate, "webhooks": expected, "errors": errors, "events": latencies.len(),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        })
    );
    drop(sockets);
    drop(server);
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(key).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
