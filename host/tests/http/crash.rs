//! The real binary killed with SIGKILL while it answers webhooks and sends
//! replies, then started again on the same data: every acknowledged
//! webhook is stored once, every one of them is answered (a reply repeats
//! at most once per delivery job in flight at the kill, the documented
//! limit), and no job is left leased once one lease has passed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, signature, unique, wa_text};
use crate::mock::MockProvider;
use crate::on_both;

const ADMIN_TOKEN: &str = "crash-test-admin-token";
/// Webhooks fired; the server is killed once half are acknowledged.
const WEBHOOKS: usize = 160;
/// At most this many jobs are in a process's hands at once (each worker
/// runs up to `batch` at a time), so at most this many replies may repeat:
/// a send the provider accepted whose record had not committed when the
/// process died.
fn in_flight_limit() -> usize {
    let c = switchboard::worker::WorkerConfig::default();
    c.workers * c.batch as usize
}

/// `switchboard serve` on `data` (and `database_url`), on a free port.
fn serve(data: &Path, database_url: Option<&str>) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(["--admin-token", ADMIN_TOKEN])
        .env("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.1:*")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        // Replicas on PostgreSQL share one master key, given explicitly:
        // the one the in-process test servers use.
        cmd.args(["--database-url", url])
            .env("SWITCHBOARD_MASTER_KEY", "07".repeat(32));
    }
    let mut child = cmd.spawn().expect("switchboard starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(a) = line.strip_prefix("switchboard listening on ") {
            break a.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// The dashboard's test message from sender `from`.
fn text_from(id: &str, from: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&wa_text(id, "is my order on its way?")).unwrap();
    let value = &mut v["entry"][0]["changes"][0]["value"];
    value["messages"][0]["from"] = json!(from);
    value["contacts"][0]["wa_id"] = json!(from);
    serde_json::to_vec(&v).unwrap()
}

async fn unfinished_jobs(pool: &sqlx::AnyPool, tenant: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE tenant_id = $1 AND status IN ('pending', 'leased')",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn a_killed_server_loses_nothing_and_recovers_within_a_lease(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match &backend {
        Backend::Sqlite => None,
        Backend::Postgres(url) => Some(url.clone()),
    };
    let (mut child, base) = serve(dir.path(), database_url.as_deref());
    let s = TestServer::attach(base, ADMIN_TOKEN.to_string());
    let graph = MockProvider::graph().await;
    // A provider that takes a moment, so sends are in flight at the kill.
    graph.set_delay(Duration::from_millis(30));
    let (tenant, key) = s.tenant("crash").await;
    let persona = s
        .persona(
            &key,
            json!({ "name": "p", "responder": { "kind": "static", "text": "On its way!" } }),
        )
        .await;
    let ch = s
        .whatsapp_channel_to(&key, &graph.base, &[], Some(&persona))
        .await;

    // Fire distinct webhooks (one sender each) from 8 clients; kill the
    // server with SIGKILL once half are acknowledged.
    let run = unique();
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<(String, String)>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let url = s.url(&format!("/webhooks/{ch}"));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (acked, next, url, run) = (acked.clone(), next.clone(), url.clone(), run.clone());
        let http = reqwest::Client::new();
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= WEBHOOKS {
                    return;
                }
                let id = format!("wamid.crash-{run}-{i}");
                let from = format!("1555{:07}", i);
                let body = text_from(&id, &from);
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature(APP_SECRET, &body))
                    .body(body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == 200) {
                    acked.lock().push((id, from));
                }
            }
        }));
    }
    while acked.lock().len() < WEBHOOKS / 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().clone();
    let sent_before_restart = graph.requests().len();

    // Start again on the same data and wait until every acknowledged
    // message has its reply and no job is unfinished.
    let (mut child, base) = serve(dir.path(), database_url.as_deref());
    let restarted = Instant::now();
    let s = TestServer::attach(base, ADMIN_TOKEN.to_string());
    sqlx::any::install_default_drivers();
    let pool_url = database_url
        .clone()
        .unwrap_or_else(|| switchboard::storage::default_url(dir.path()));
    let pool = sqlx::AnyPool::connect(&pool_url).await.unwrap();
    let replies_to = |graph: &MockProvider| -> HashMap<String, usize> {
        let mut n = HashMap::new();
        for r in graph.requests() {
            *n.entry(r.json()["to"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        n
    };
    let recovered = loop {
        let replies = replies_to(&graph);
        if acked.iter().all(|(_, from)| replies.contains_key(from))
            && unfinished_jobs(&pool, &tenant).await == 0
        {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "not recovered 60 s after the restart: {} of {} acknowledged messages answered, {} jobs unfinished",
            acked
                .iter()
                .filter(|(_, f)| replies.contains_key(f))
                .count(),
            acked.len(),
            unfinished_jobs(&pool, &tenant).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "crash test ({}): {} acknowledged, {} replies sent before the kill, all answered {:.1} s after the restart",
        if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        acked.len(),
        sent_before_restart,
        recovered.as_secs_f64(),
    );
    // One lease (20 s) plus claiming and sending.
    assert!(
        recovered < Duration::from_secs(40),
        "jobs of the killed process waited {recovered:?}"
    );

    // Every acknowledged webhook stored exactly once.
    let messages = s.all_messages(&key, &ch).await;
    let mut stored: HashMap<&str, usize> = HashMap::new();
    for m in messages.iter().filter(|m| m["direction"] == "inbound") {
        *stored
            .entry(m["external_id"].as_str().unwrap())
            .or_default() += 1;
    }
    for (id, _) in &acked {
        assert_eq!(stored.get(id.as_str()), Some(&1), "{id} stored once");
    }
    // Every acknowledged message answered; repeats only within the limit.
    let replies = replies_to(&graph);
    let repeats: usize = replies.values().map(|n| n - 1).sum();
    let limit = in_flight_limit();
    eprintln!("crash test: {repeats} replies repeated (limit {limit})");
    assert!(
        repeats <= limit,
        "{repeats} repeated replies (limit {limit})"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
on_both!(a_killed_server_loses_nothing_and_recovers_within_a_lease);
