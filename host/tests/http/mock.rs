//! Local stand-ins for the providers we cannot reach (Graph API, Twilio,
//! Telegram, an OpenAI-compatible endpoint): a real HTTP server on
//! 127.0.0.1 that records every request and answers with queued responses,
//! or a default built from the request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON request body")
    }
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

type Responder = dyn Fn(&Recorded, usize) -> (u16, String) + Send + Sync;

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    queued: Arc<Mutex<VecDeque<(u16, String)>>>,
    default: Arc<Responder>,
    delay: Arc<Mutex<Duration>>,
}

/// A running mock provider.
pub struct MockProvider {
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl MockProvider {
    /// Start a mock answering with `default(request, index)` unless a
    /// response was queued.
    pub async fn start(
        default: impl Fn(&Recorded, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> MockProvider {
        let shared = Shared {
            requests: Arc::default(),
            queued: Arc::default(),
            default: Arc::new(default),
            delay: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockProvider { base, shared, task }
    }

    /// The Graph API: every send accepted with a fresh `wamid.mock-N`, in
    /// the shape of Meta's documented success response.
    pub async fn graph() -> MockProvider {
        MockProvider::start(|r, n| {
            let to = r.json()["to"].as_str().unwrap_or_default().to_string();
            (
                200,
                serde_json::json!({
                    "messaging_product": "whatsapp",
                    "contacts": [{ "input": to, "wa_id": to }],
                    "messages": [{ "id": format!("wamid.mock-{n}") }]
                })
                .to_string(),
            )
        })
        .await
    }

    /// Answer the next request with this instead of the default.
    pub fn push(&self, status: u16, body: impl Into<String>) {
        self.shared
            .queued
            .lock()
            .unwrap()
            .push_back((status, body.into()));
    }

    /// Answer every request only after `delay` (a slow provider).
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Wait until at least `n` requests arrived (panics after 20 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} requests, got {}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let rec = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let index = {
        let mut all = shared.requests.lock().unwrap();
        all.push(rec.clone());
        all.len() - 1
    };
    let delay = *shared.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let queued = shared.queued.lock().unwrap().pop_front();
    let (status, body) = queued.unwrap_or_else(|| (shared.default)(&rec, index));
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
}
