//! `loadgen`: drives signed WhatsApp Cloud webhooks at a running Switchboard,
//! measures acknowledgement latency and throughput, then checks through the
//! public API that every acknowledged message was stored exactly once.
//!
//! Phases: setup (fresh tenant + channel) → pre-build signed bodies → timed
//! send → census → resend a sample (provider retries) → census again → report.

mod api;
mod bodies;
mod graph;
mod load;
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Parser;

/// How many already-acknowledged bodies are re-sent to imitate provider retries.
const RETRY_SAMPLE: usize = 200;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Webhook load generator and exactly-once checker for Switchboard"
)]
struct Cli {
    /// Base URL of the Switchboard server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Admin bearer token, used only to create the test tenant.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Number of distinct webhooks (messages) to send.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    requests: usize,
    /// Maximum requests in flight (one worker per slot, sharing one connection pool).
    #[arg(short = 'c', long, default_value_t = 64)]
    concurrency: usize,
    /// Target requests per second. When set, sends follow a fixed open-loop
    /// schedule and latency is measured from each request's scheduled time,
    /// so a stalled server is charged for the queueing it causes.
    #[arg(long)]
    rate: Option<f64>,
    /// Number of distinct senders (WhatsApp contacts) the messages are spread over.
    #[arg(long, default_value_t = 500)]
    contacts: usize,
    /// Free text copied into the output, e.g. "sqlite" or "postgres-native".
    #[arg(long, default_value = "")]
    label: String,
    /// Bind a static persona and count its replies at a local Graph API
    /// stand-in (start the server with `SWITCHBOARD_OUTBOUND_ALLOW=127.0.0.1:*`).
    #[arg(long)]
    replies: bool,
}

/// Exit codes: 0 all checks passed, 1 a check failed (errors, lost,
/// duplicated, retries), 2 the run itself could not be carried out.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line, without the
            // backtrace `Result`-returning `main` would print under RUST_BACKTRACE.
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The whole run; `Ok(passed)`.
async fn run(cli: Cli) -> Result<bool> {
    ensure!(cli.requests > 0, "--requests must be at least 1");
    ensure!(cli.concurrency > 0, "--concurrency must be at least 1");
    ensure!(cli.contacts > 0, "--contacts must be at least 1");
    if let Some(rate) = cli.rate {
        ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate must be a positive number"
        );
    }

    // One client for everything: its pool keeps up to `concurrency` keep-alive
    // connections, so the timed phase measures requests, not TCP handshakes
    // (after the first one per worker).
    // reqwest is built without a default TLS provider in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        // Loopback benchmarking must never be routed through an HTTP(S)_PROXY
        // from the environment.
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let api = api::Api::new(client.clone(), &cli.url)?;

    let run_id = hex::encode(api::random_bytes::<4>()?);
    let graph = if cli.replies {
        Some(graph::start().await?)
    } else {
        None
    };
    let setup = api::setup(
        &api,
        &cli.admin_token,
        &run_id,
        &cli.label,
        graph.as_ref().map(|(base, _)| base.as_str()),
    )
    .await?;
    eprintln!(
        "tenant {} ({}), channel {} (server says webhook_url = {})",
        setup.tenant_slug, setup.tenant_id, setup.channel_id, setup.webhook_url
    );

    // Everything that costs CPU on our side (JSON, HMAC) happens before the
    // clock starts; the timed loop only clones cheap handles.
    let built = bodies::build(
        &run_id,
        cli.requests,
        cli.contacts,
        &setup.app_secret,
        &setup.phone_number_id,
    )?;
    let webhook = api.url(&["webhooks", &setup.channel_id], &[])?;

    eprintln!(
        "sending {} webhooks, concurrency {}, {}",
        cli.requests,
        cli.concurrency,
        cli.rate.map_or_else(
            || "closed loop (as fast as acknowledged)".to_owned(),
            |r| format!("open loop at {r}/s")
        )
    );
    let all: Arc<[bodies::Signed]> = built.bodies.into();
    let started = std::time::Instant::now();
    let outcome = load::run(
        &client,
        &webhook,
        Arc::clone(&all),
        cli.concurrency,
        cli.rate,
    )
    .await;

    // Replies: wait until every acknowledged message was answered (or no
    // progress for 30 s), before the retry phase, so the rate is clean.
    let replies = match &graph {
        Some((_, received)) => {
            let want = outcome.ok;
            let acked_at = std::time::Instant::now();
            let mut last = (received.count(), std::time::Instant::now());
            while received.count() < want && last.1.elapsed() < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if received.count() != last.0 {
                    last = (received.count(), std::time::Instant::now());
                }
            }
            let times = received.times();
            let delivered = times.len() as u64;
            let done = times.iter().max().copied().unwrap_or(acked_at);
            Some(report::Replies {
                delivered,
                per_sec: delivered as f64 / done.duration_since(started).as_secs_f64().max(1e-9),
                drain_s: done.saturating_duration_since(acked_at).as_secs_f64(),
                duplicated: 0,
            })
        }
        None => None,
    };

    eprintln!("verifying through the API ...");
    let before = api::census(&api, &setup.api_key, &setup.channel_id).await?;

    // Provider retries: re-deliver a spread of bodies the server already
    // acknowledged. They were committed, so the stored set must not change.
    let retry_bodies: Vec<bodies::Signed> = spread(&outcome.acknowledged, RETRY_SAMPLE)
        .map(|i| all[i].clone())
        .collect();
    let retries_sent = retry_bodies.len();
    eprintln!("re-sending {retries_sent} acknowledged webhooks as provider retries ...");
    let retries = load::run(
        &client,
        &webhook,
        retry_bodies.into(),
        cli.concurrency.min(retries_sent.max(1)),
        None,
    )
    .await;
    let after = api::census(&api, &setup.api_key, &setup.channel_id).await?;

    let summary = report::Summary::new(
        &cli.label,
        cli.requests,
        cli.concurrency,
        cli.rate,
        &outcome,
        &before,
        &built.expected_ids,
    );
    let retries_ok = retries_sent > 0
        && retries.ok == retries_sent as u64
        && after.inbound == before.inbound
        && after.external_ids == before.external_ids;
    let summary = summary.with_retries(retries_ok);
    // Re-sent webhooks must not be answered again.
    let replies = replies.map(|mut r| {
        if let Some((_, received)) = &graph {
            r.duplicated = received.count().saturating_sub(outcome.ok);
        }
        r
    });
    let summary = summary.with_replies(replies);

    report::print_table(&report::Context {
        url: &cli.url,
        tenant_slug: &setup.tenant_slug,
        channel_id: &setup.channel_id,
        contacts: cli.contacts,
        outcome: &outcome,
        before: &before,
        after: &after,
        retries: &retries,
        retries_sent,
        summary: &summary,
    });
    println!("{}", serde_json::to_string(&summary)?);

    Ok(summary.passed())
}

/// Up to `k` items picked evenly across `items` (all of them if there are fewer).
fn spread(items: &[usize], k: usize) -> impl Iterator<Item = usize> + '_ {
    let k = k.min(items.len());
    (0..k).map(move |j| items[j * items.len() / k])
}
