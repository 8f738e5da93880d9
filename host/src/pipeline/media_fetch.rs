//! Inbound media (`GET /v1/messages/{id}/media/{n}`): the channel's adapter
//! says which provider requests fetch an attachment (`media-request`, a
//! few steps: a lookup such as a media id to its URL, then the download);
//! the host performs each through the outbound policy with the vetted
//! client and streams the download to the caller, up to a size cap.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

use super::Pipeline;
use super::delivery::sender::{read_response, start, without_url};
use crate::domain::{Attachment, Direction, GuestError, HttpResponse, MediaStep};
use crate::outbound::OutboundPolicy;
use crate::runtime::PluginError;
use crate::storage::StorageError;

/// Largest download streamed unless the operator sets another.
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 16 << 20;
/// Most provider requests one fetch makes (lookups and redirects included).
pub const MAX_STEPS: usize = 3;
/// Largest lookup answer read (a JSON document or a redirect).
const LOOKUP_MAX_BYTES: usize = 64 << 10;

/// The HTTP client and policy media fetches use.
pub struct MediaClient {
    client: reqwest::Client,
    policy: OutboundPolicy,
    /// Largest download streamed to a caller.
    pub max_bytes: u64,
}

impl std::fmt::Debug for MediaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaClient")
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl MediaClient {
    pub fn new(policy: OutboundPolicy, max_bytes: u64) -> anyhow::Result<MediaClient> {
        // No overall timeout (a large file may take a while), but a
        // provider that stops sending is given up on.
        let client = crate::outbound::http_client_builder(&policy)
            .read_timeout(Duration::from_secs(30))
            .build()?;
        Ok(MediaClient {
            client,
            policy,
            max_bytes,
        })
    }

    /// The operator's outbound policy (also what outbound media URLs are
    /// checked against).
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }
}

/// Why media could not be fetched. Messages name the provider's status or
/// the adapter's reason, never a URL (a Telegram URL carries the token).
#[derive(Debug, thiserror::Error)]
pub enum MediaFetchError {
    /// No such inbound message of the tenant, or no attachment `n`.
    #[error("media not found")]
    NotFound,
    /// The message's channel is disabled.
    #[error("the channel is disabled; enable it to fetch media")]
    ChannelDisabled,
    /// The adapter cannot fetch this attachment.
    #[error("{0}")]
    Unsupported(String),
    /// The provider, the adapter or the outbound policy refused a step.
    #[error("{0}")]
    Upstream(String),
    /// The download is larger than the cap.
    #[error("the media is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Storage(StorageError),
}

/// A download on its way: the provider's type and length, and its body.
pub struct Download {
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    response: reqwest::Response,
    max_bytes: u64,
}

impl Download {
    /// The body as a stream that fails (cutting the answer short) past the
    /// cap, for a provider that did not announce its length.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures_util::stream::unfold(
            (self.response, 0u64, self.max_bytes),
            |(mut response, seen, max)| async move {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let seen = seen + chunk.len() as u64;
                        if seen > max {
                            let e = std::io::Error::other(format!("media larger than {max} bytes"));
                            return Some((Err(e), (response, u64::MAX, max)));
                        }
                        Some((Ok(chunk), (response, seen, max)))
                    }
                    Ok(None) => None,
                    Err(_) if seen == u64::MAX => None,
                    Err(e) => Some((
                        Err(std::io::Error::other(without_url(e))),
                        (response, u64::MAX, max),
                    )),
                }
            },
        )
    }
}

/// Start fetching attachment `n` of `tenant`'s inbound message `message_id`.
pub async fn fetch(
    p: &Pipeline,
    http: &MediaClient,
    tenant: &str,
    message_id: &str,
    n: usize,
) -> Result<Download, MediaFetchError> {
    let cipher = p
        .secrets
        .cipher(tenant)
        .await
        .map_err(|e| MediaFetchError::Storage(e.into()))?;
    let message =
        p.db.get_message(&cipher, message_id)
            .await
            .map_err(|e| match e {
                StorageError::NotFound(_) => MediaFetchError::NotFound,
                e => MediaFetchError::Storage(e),
            })?;
    // Outbound media is at the URL the tenant gave; only what a customer
    // sent is fetched with the channel's credentials.
    if Direction::parse(&message.direction) != Some(Direction::Inbound) {
        return Err(MediaFetchError::NotFound);
    }
    let attachment: Attachment = message
        .attachments
        .get(n)
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .ok_or(MediaFetchError::NotFound)?;
    let binding = p
        .tenant_channel(tenant, &message.channel_id)
        .await
        .map_err(|e| match e {
            super::WebhookError::ChannelDisabled => MediaFetchError::ChannelDisabled,
            // A deleted channel's credentials are gone.
            super::WebhookError::UnknownChannel | super::WebhookError::ChannelDeleted => {
                MediaFetchError::NotFound
            }
            other => MediaFetchError::Upstream(format!("channel unavailable: {}", other.code())),
        })?;
    let hosts = p
        .plugins()
        .adapter_info(&binding)
        .await
        .map(|i| i.outbound_hosts)
        .unwrap_or_default();
    let mut previous: Option<HttpResponse> = None;
    for _ in 0..MAX_STEPS {
        let (att, prev) = (attachment.clone(), previous.take());
        let step = p
            .runtime
            .run(
                &binding.adapter,
                binding.adapter_call(p.kv.clone()),
                move |inst| inst.media_request(&att, prev.as_ref()),
            )
            .await
            .and_then(|r| r)
            .map_err(refused_by_adapter)?;
        let (request, download) = match step {
            MediaStep::Fetch(r) => (r, false),
            MediaStep::Download(r) => (r, true),
        };
        http.policy
            .check_before_send(&request.url, Some(&hosts))
            .await
            .map_err(|e| MediaFetchError::Upstream(format!("outbound policy: {e}")))?;
        let response = start(&http.client, &request)
            .await
            .map_err(MediaFetchError::Upstream)?;
        let status = response.status().as_u16();
        // A redirect of a download goes back to the adapter like a lookup.
        if download && !(300..400).contains(&status) {
            if !(200..300).contains(&status) {
                return Err(MediaFetchError::Upstream(format!(
                    "the provider answered the download with {status}"
                )));
            }
            let content_length = response.content_length();
            if content_length.is_some_and(|len| len > http.max_bytes) {
                return Err(MediaFetchError::TooLarge {
                    limit: http.max_bytes,
                });
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Ok(Download {
                content_type,
                content_length,
                response,
                max_bytes: http.max_bytes,
            });
        }
        previous = Some(
            read_response(response, LOOKUP_MAX_BYTES)
                .await
                .map_err(MediaFetchError::Upstream)?,
        );
    }
    Err(MediaFetchError::Upstream(format!(
        "the adapter did not reach a download in {MAX_STEPS} requests"
    )))
}

fn refused_by_adapter(e: PluginError) -> MediaFetchError {
    match e {
        PluginError::Guest(GuestError::Unsupported(m)) => MediaFetchError::Unsupported(m),
        PluginError::Guest(GuestError::Provider(pe)) => MediaFetchError::Upstream(format!(
            "the provider refused the media request ({}): {}",
            pe.code.as_deref().unwrap_or("-"),
            pe.message
        )),
        PluginError::Guest(g) => MediaFetchError::Upstream(format!("the adapter: {g}")),
        other => MediaFetchError::Upstream(format!("the adapter failed: {}", other.code())),
    }
}
