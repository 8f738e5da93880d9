//! The HTTP side of a delivery: one client and policy for every provider
//! call, the call itself with its capped answer, and the acceptances whose
//! record failed (so they are recorded, not sent again).

use super::super::jobs::DeliveryConfig;
use crate::domain::{DeliveryStatus, HttpRequest, HttpResponse};
use crate::outbound::OutboundPolicy;

/// The HTTP client and policy deliveries share (one connection pool).
pub struct Sender {
    pub client: reqwest::Client,
    pub policy: OutboundPolicy,
    pub config: DeliveryConfig,
    /// Sends the provider accepted whose record failed (a full disk, a lost
    /// database connection), by message id: the job's retry records them
    /// instead of sending again. Held in memory, so a crash in between is
    /// within the documented limit of one repeat per job in flight.
    unrecorded: parking_lot::Mutex<std::collections::HashMap<String, Accepted>>,
}

/// A provider's acceptance of one part, not yet recorded.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub external_id: Option<String>,
    pub status: DeliveryStatus,
    /// The provider's HTTP status; `None` when the host delivered it (web chat).
    pub http_status: Option<u16>,
}

/// Most unrecorded acceptances kept (each is a few dozen bytes; past this
/// the database has been failing for a long time, and the oldest repeat).
const MAX_UNRECORDED: usize = 100_000;

impl Sender {
    pub fn new(policy: OutboundPolicy, config: DeliveryConfig) -> anyhow::Result<Sender> {
        let client = crate::outbound::http_client_builder(&policy)
            .timeout(config.request_timeout)
            .build()?;
        Ok(Sender {
            client,
            policy,
            config,
            unrecorded: Default::default(),
        })
    }

    /// Keep an acceptance whose record failed, so the job's retry records
    /// it (message `id`) instead of sending again.
    pub fn keep_unrecorded(&self, id: &str, accepted: Accepted) {
        let mut unrecorded = self.unrecorded.lock();
        if unrecorded.len() < MAX_UNRECORDED {
            unrecorded.insert(id.to_string(), accepted);
        }
    }

    /// An acceptance of message `id` kept by [`Sender::keep_unrecorded`].
    pub(super) fn take_unrecorded(&self, id: &str) -> Option<Accepted> {
        self.unrecorded.lock().remove(id)
    }
}

/// Largest provider response body read.
pub(super) const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The HTTP call itself; errors are transport failures (retryable).
pub(super) async fn send(
    client: &reqwest::Client,
    request: &HttpRequest,
) -> Result<HttpResponse, String> {
    let response = start(client, request).await?;
    // A longer answer is cut: the adapter reads ids and errors from its
    // start, and a provider does not get to make us hold more.
    read_response(response, MAX_RESPONSE_BYTES).await
}

/// Send a rendered request and return the provider's answer once its
/// headers arrived (the body is the caller's to read, capped).
pub(crate) async fn start(
    client: &reqwest::Client,
    request: &HttpRequest,
) -> Result<reqwest::Response, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("bad method {}", request.method))?;
    let mut builder = client.request(method, &request.url);
    for h in &request.headers {
        builder = builder.header(&h.name, &h.value);
    }
    builder
        .body(request.body.clone())
        .send()
        .await
        .map_err(|e: reqwest::Error| {
            if e.is_timeout() {
                "provider timed out".to_string()
            } else {
                format!("provider unreachable: {}", without_url(e))
            }
        })
}

/// A provider's answer with its body read up to `max` bytes.
pub(crate) async fn read_response(
    mut response: reqwest::Response,
    max: usize,
) -> Result<HttpResponse, String> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| crate::domain::Header {
            name: k.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect();
    let body = crate::outbound::read_capped(&mut response, max)
        .await
        .map_err(|e| format!("reading the provider's response: {}", without_url(e)))?;
    Ok(HttpResponse {
        status,
        headers,
        body: body.bytes,
    })
}

/// reqwest errors print the URL, which can carry a bot token (Telegram's
/// `/bot<token>/`): never let it reach logs or the API.
pub(crate) fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
