//! The timed phase: `concurrency` workers draining a shared queue of bodies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, StatusCode, Url};
use tokio::time::{Instant, sleep_until};

use crate::bodies::Signed;

/// What happened to one batch of sends.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Wall time from the first send to the last response.
    pub elapsed: Duration,
    /// Requests answered 200.
    pub ok: u64,
    /// Indices (into the batch) of the bodies answered 200, ascending.
    pub acknowledged: Vec<usize>,
    /// Latency of every request that got a full HTTP response, whatever its
    /// status; transport failures have no meaningful latency and are left out.
    pub latencies: Vec<Duration>,
    /// Failures by HTTP status code or transport error kind.
    pub errors: BTreeMap<String, u64>,
    /// The first failure in full, to show what went wrong.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn fail(&mut self, kind: String, detail: String) {
        *self.errors.entry(kind).or_default() += 1;
        self.first_error.get_or_insert(detail);
    }

    fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.acknowledged.extend(other.acknowledged);
        self.latencies.extend(other.latencies);
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Sends every body once. Without `rate` it is a closed loop (each worker sends
/// its next body as soon as the previous one is answered) and latency runs from
/// the actual send. With `rate`, body `i` is due at `start + i / rate`; a worker
/// that picks it up late still measures from the due time, so queueing caused
/// by a slow server shows up in the latencies instead of silently lowering the
/// offered load (coordinated omission). `concurrency` caps requests in flight
/// in both modes.
pub async fn run(
    client: &Client,
    url: &Url,
    bodies: Arc<[Signed]>,
    concurrency: usize,
    rate: Option<f64>,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, bodies, next) = (
                client.clone(),
                url.clone(),
                Arc::clone(&bodies),
                Arc::clone(&next),
            );
            tokio::spawn(async move { worker(&client, &url, &bodies, &next, start, rate).await })
        })
        .collect();

    let mut total = Outcome::default();
    for worker in workers {
        match worker.await {
            Ok(outcome) => total.merge(outcome),
            // A worker cannot panic short of a bug here; count it rather than hide it.
            Err(e) => total.fail("worker-panic".to_owned(), e.to_string()),
        }
    }
    total.elapsed = start.elapsed();
    total.acknowledged.sort_unstable();
    total
}

async fn worker(
    client: &Client,
    url: &Url,
    bodies: &[Signed],
    next: &AtomicUsize,
    start: Instant,
    rate: Option<f64>,
) -> Outcome {
    let mut out = Outcome::default();
    loop {
        // Relaxed is enough: the counter only hands out distinct indices.
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(signed) = bodies.get(i) else { break };

        let began = match rate {
            Some(rate) => {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                // Timer resolution is about 1 ms, which is the error bar on
                // open-loop latencies.
                sleep_until(due).await;
                due
            }
            None => Instant::now(),
        };

        let response = client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("X-Hub-Signature-256", signed.signature.clone())
            .body(signed.body.clone())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                out.fail(transport_kind(&e).to_owned(), format!("request {i}: {e:#}"));
                continue;
            }
        };
        let status = response.status();
        // Latency includes reading the whole response, as a provider would wait for it.
        let body = response.bytes().await;
        let latency = began.elapsed();
        match body {
            Ok(_) if status == StatusCode::OK => {
                out.ok += 1;
                out.acknowledged.push(i);
                out.latencies.push(latency);
            }
            Ok(body) => {
                out.latencies.push(latency);
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                out.fail(
                    status.as_u16().to_string(),
                    format!("request {i}: {status}: {text}"),
                );
            }
            Err(e) => out.fail(
                transport_kind(&e).to_owned(),
                format!("request {i}: reading response: {e:#}"),
            ),
        }
    }
    out
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}
