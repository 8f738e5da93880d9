//! `--replies`: a local stand-in for the Graph API's send endpoint, so the
//! run can count the persona replies Switchboard delivers (and catch any
//! delivered twice). Answers like Meta: `{"messages": [{"id": "wamid…"}]}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Json;
use axum::extract::State;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// What the stand-in received.
#[derive(Default)]
pub struct Received {
    count: AtomicU64,
    /// When each send arrived.
    times: Mutex<Vec<Instant>>,
}

impl Received {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn times(&self) -> Vec<Instant> {
        self.times.lock().clone()
    }
}

/// Start the stand-in on 127.0.0.1; returns its base URL (with the API
/// version path the channel's `api_base_url` takes) and the counters.
pub async fn start() -> Result<(String, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let app = axum::Router::new()
        .route("/v21.0/{pnid}/messages", axum::routing::post(send))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the Graph API stand-in")?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}/v21.0"), received))
}

async fn send(State(r): State<Arc<Received>>, Json(body): Json<Value>) -> Json<Value> {
    let n = r.count.fetch_add(1, Ordering::Relaxed);
    r.times.lock().push(Instant::now());
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
        "messages": [{ "id": format!("wamid.load-{n}") }]
    }))
}
