//! Noisy-neighbour benchmark (issue 10). Run with
//! `cargo bench -p switchboard --bench noisy_neighbour` (add `-- --secs 10`
//! for shorter phases).
//!
//! One in-process server on embedded SQLite, two tenants:
//! - **A** uploads a hostile adapter and floods its own channel at
//!   concurrency 32: in the `fuel` phase every call burns its whole fuel
//!   budget, in the `sleep` phase every call sleeps until its deadline;
//! - **B** sends 50 signed WhatsApp webhooks per second on an open-loop
//!   schedule (latency counted from each request's scheduled time).
//!
//! Phases, one after another in the same run: B alone, B under A's fuel
//! flood, B under A's sleep flood, B alone again. Prints B's p50/p99 and
//! errors per phase, the ratios to B alone, and last one JSON line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{channel, post_webhook, tenant};
use serde_json::json;
use switchboard::server::{ServerConfig, start};

mod common;

const APP_SECRET: &str = "bench-app-secret";
const B_RATE: f64 = 50.0;
const A_CONCURRENCY: usize = 32;

fn main() {
    let secs: u64 = std::env::args()
        .skip_while(|a| a != "--secs")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(Duration::from_secs(secs)));
}

struct Phase {
    name: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    sent: usize,
    errors: usize,
    a_requests: u64,
    a_statuses: Vec<(u16, u64)>,
}

async fn run(phase_len: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_token = Some("bench-admin-token-0123456789abcdef".into());
    config.workers.workers = 0;
    let server = start(config, false).await.expect("server starts");
    let base = format!("http://{}", server.addr);
    switchboard::outbound::install_tls_provider();
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let admin = server.admin_token.clone();

    let key_a = tenant(&http, &base, &admin, "noisy").await;
    let key_b = tenant(&http, &base, &admin, "quiet").await;
    let hostile = std::fs::read(switchboard_artifacts::test_guests::HOSTILE).unwrap();
    let r = http
        .post(format!("{base}/v1/plugins?name=hostile&version=1.0.0"))
        .bearer_auth(&key_a)
        .body(hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let a_fuel = channel(
        &http,
        &base,
        &key_a,
        json!({ "name": "burn", "adapter": "hostile", "config": { "mode": "loop" } }),
    )
    .await;
    let a_sleep = channel(
        &http,
        &base,
        &key_a,
        json!({ "name": "sleep", "adapter": "hostile", "config": { "mode": "ok", "sleep-in": "parse" } }),
    )
    .await;
    let b = channel(
        &http,
        &base,
        &key_b,
        json!({ "name": "WhatsApp", "adapter": "whatsapp-cloud", "config": {
            "app_secret": APP_SECRET, "verify_token": "v", "phone_number_id": "15550009999", "access_token": "t" } }),
    )
    .await;
    // Warm up B's path (first-party plugin loaded, SQLite pages cached).
    for i in 0..50 {
        post_webhook(&http, &base, &b, APP_SECRET, &format!("warm-{i}"))
            .await
            .unwrap();
    }

    let mut phases = Vec::new();
    for (name, flood) in [
        ("B alone", None),
        ("B under A's fuel flood", Some(&a_fuel)),
        ("B under A's sleep flood", Some(&a_sleep)),
        ("B alone (again)", None),
    ] {
        phases.push(phase(&http, &base, &b, flood, name, phase_len).await);
    }

    let alone = phases[0].p99_ms.max(phases[3].p99_ms);
    println!();
    println!(
        "{:<26} {:>9} {:>9} {:>7} {:>7} {:>10}  A's answers",
        "phase", "p50 ms", "p99 ms", "sent", "errors", "p99/alone"
    );
    for p in &phases {
        println!(
            "{:<26} {:>9.2} {:>9.2} {:>7} {:>7} {:>10.2}  {} requests {:?}",
            p.name,
            p.p50_ms,
            p.p99_ms,
            p.sent,
            p.errors,
            p.p99_ms / alone,
            p.a_requests,
            p.a_statuses
        );
    }
    let json = json!({
        "bench": "noisy_neighbour",
        "phase_secs": phase_len.as_secs(),
        "b_rate": B_RATE,
        "a_concurrency": A_CONCURRENCY,
        "phases": phases.iter().map(|p| json!({
            "name": p.name, "p50_ms": p.p50_ms, "p99_ms": p.p99_ms,
            "sent": p.sent, "errors": p.errors, "p99_ratio": p.p99_ms / alone,
            "a_requests": p.a_requests, "a_statuses": p.a_statuses,
        })).collect::<Vec<_>>(),
    });
    println!("{json}");
    server.shutdown().await.unwrap();
}

async fn phase(
    http: &reqwest::Client,
    base: &str,
    b: &str,
    flood: Option<&String>,
    name: &'static str,
    len: Duration,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let a_requests = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(parking_lot::Mutex::new(std::collections::BTreeMap::new()));
    let mut flooders = Vec::new();
    if let Some(channel) = flood {
        for _ in 0..A_CONCURRENCY {
            let (http, url, stop, n, statuses) = (
                http.clone(),
                format!("{base}/webhooks/{channel}"),
                stop.clone(),
                a_requests.clone(),
                statuses.clone(),
            );
            flooders.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let status = match http.post(&url).body("{}").send().await {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            let retry = r
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok());
                            let _ = r.bytes().await;
                            // A well-behaved provider honours Retry-After; a
                            // hostile one might not, so wait at most briefly.
                            if let Some(s) = retry {
                                tokio::time::sleep(Duration::from_millis((s * 1000).min(100)))
                                    .await;
                            }
                            s
                        }
                        Err(_) => 0,
                    };
                    n.fetch_add(1, Ordering::Relaxed);
                    *statuses.lock().entry(status).or_insert(0u64) += 1;
                }
            }));
        }
        // Let the flood reach its steady state first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        a_requests.store(0, Ordering::Relaxed);
        statuses.lock().clear();
    }

    let interval = Duration::from_secs_f64(1.0 / B_RATE);
    let count = (len.as_secs_f64() * B_RATE) as usize;
    let start = Instant::now();
    let mut senders = Vec::with_capacity(count);
    for i in 0..count {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, base, b) = (http.clone(), base.to_string(), b.to_string());
        let id = format!("{}-{i}-{}", name.len(), start.elapsed().as_nanos());
        senders.push(tokio::spawn(async move {
            let ok = post_webhook(&http, &base, &b, APP_SECRET, &id)
                .await
                .is_ok();
            (scheduled.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut errors = 0;
    for s in senders {
        let (latency, ok) = s.await.unwrap();
        latencies.push(latency);
        if !ok {
            errors += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = f.await;
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    let phase = Phase {
        name,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        sent: count,
        errors,
        a_requests: a_requests.load(Ordering::Relaxed),
        a_statuses: statuses.lock().iter().map(|(k, v)| (*k, *v)).collect(),
    };
    eprintln!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms, {} errors",
        phase.p50_ms, phase.p99_ms, phase.errors
    );
    phase
}
