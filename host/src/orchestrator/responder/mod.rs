//! Responders: what writes the reply once the system prompt is built.
//!
//! A static responder answers with fixed text (no I/O). An OpenAI
//! responder calls any OpenAI-compatible chat-completions endpoint (OpenAI,
//! Azure-style proxies, vLLM, Ollama, ...). The endpoint is tenant
//! configured, so it goes through the operator's [`OutboundPolicy`]: any
//! public host is fine, private and loopback addresses only when the
//! operator allowed them — checked on the URL, on every resolved address
//! before sending, and again by the client's resolver at connect time so a
//! DNS answer that changes in between cannot reach the internal network.

mod config;
mod openai;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::domain::Turn;
use crate::outbound::OutboundPolicy;
pub use config::{ResponderConfig, StaticMedia};
use openai::{completions_url, error_message, parse_completion, request_body};

/// Largest response body read from an endpoint; a chat reply is far
/// smaller, and a hostile endpoint must not make the host buffer gigabytes.
const MAX_BODY_BYTES: usize = 1 << 20;

/// A responder's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    /// Token counts as the endpoint reported them (0 if it did not).
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// The model that answered, as the endpoint named it.
    pub model: Option<String>,
}

/// Why a responder produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    /// The outbound policy refused the endpoint.
    #[error("responder refused the target: {0}")]
    Refused(String),
    #[error("responder timed out")]
    Timeout,
    #[error("responder HTTP {status}: {message}")]
    Http {
        status: u16,
        message: String,
        retryable: bool,
    },
    #[error("responder unreachable: {0}")]
    Network(String),
    #[error("responder returned an unusable answer: {0}")]
    BadResponse(String),
}

impl ResponderError {
    /// Whether trying again later may succeed (the pipeline uses this to
    /// decide between a retry and a dead letter).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Network(_) => true,
            Self::Http { retryable, .. } => *retryable,
            Self::Refused(_) | Self::BadResponse(_) => false,
        }
    }
}

/// How often, and how patiently, a call is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (at least one is made).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles for each further one.
    pub base_delay: Duration,
    /// Cap on any single wait, including a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: uniformly random in
    /// `[0, min(max_delay, base_delay * 2^(attempt-1))]`, so many workers
    /// hitting the same rate limit do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        crate::outbound::backoff(self.base_delay, self.max_delay, attempt)
    }
}

/// Calls responders. One per process: the HTTP client pools connections.
pub struct Responder {
    client: reqwest::Client,
    policy: OutboundPolicy,
    retry: RetryPolicy,
}

// By hand: `reqwest::Client`'s own output is noise in a log line.
impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A responder with its own connection pool. Connect timeout 5 s, whole
    /// request 30 s: a chat model can take a while to write its answer.
    pub fn new(policy: OutboundPolicy, retry: RetryPolicy) -> Self {
        // Shared settings: rustls, no redirects or proxies, addresses
        // vetted at connect time, connect timeout, pooling.
        let client = crate::outbound::http_client_builder(&policy)
            .timeout(Duration::from_secs(30))
            .build()
            // Only fails if the TLS backend cannot initialise (the ring
            // provider is installed by `http_client_builder`).
            .expect("static HTTP client configuration");
        Responder {
            client,
            policy,
            retry,
        }
    }

    /// A reply to `message`, given the system prompt (already wrapped with
    /// the safety rules) and the conversation so far. `contact_name` fills
    /// `{{contact_name}}` (and `{{ contact_name }}`) in a static text,
    /// falling back to "there".
    pub async fn respond(
        &self,
        config: &ResponderConfig,
        system: &str,
        history: &[Turn],
        message: &str,
        contact_name: Option<&str>,
    ) -> Result<Reply, ResponderError> {
        match config {
            ResponderConfig::Static { text, .. } => Ok(Reply {
                text: fill_contact_name(text, contact_name),
                prompt_tokens: 0,
                completion_tokens: 0,
                model: None,
            }),
            ResponderConfig::Openai {
                base_url,
                model,
                api_key,
                temperature,
                max_tokens,
            } => {
                let url = completions_url(base_url);
                self.vet(&url).await?;
                let body = request_body(model, system, history, message, *temperature, *max_tokens);
                self.with_retries(&url, api_key, &body).await
            }
        }
    }

    /// Refuse the URL unless the policy allows it and every address it
    /// resolves to (the same check as every provider call).
    async fn vet(&self, url: &str) -> Result<(), ResponderError> {
        self.policy
            .check_before_send(url, None)
            .await
            .map_err(|e| ResponderError::Refused(e.to_string()))
    }

    async fn with_retries(
        &self,
        url: &str,
        api_key: &str,
        body: &Value,
    ) -> Result<Reply, ResponderError> {
        let attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let (err, retry_after) = match self.attempt(url, api_key, body).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            if !err.retryable() || attempt >= attempts {
                return Err(err);
            }
            let delay = match retry_after {
                Some(d) => d.min(self.retry.max_delay),
                None => self.retry.backoff(attempt),
            };
            // The URL and error only: the key is in a header and never logged.
            tracing::warn!(attempt, of = attempts, ?delay, url, error = %err, "responder call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One request. On failure, also the server's `Retry-After`, if any.
    async fn attempt(
        &self,
        url: &str,
        api_key: &str,
        body: &Value,
    ) -> Result<Reply, (ResponderError, Option<Duration>)> {
        let mut request = self.client.post(url).json(body);
        if !api_key.is_empty() {
            // `bearer_auth` marks the header sensitive, keeping it out of
            // reqwest's own debug output.
            request = request.bearer_auth(api_key);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| (transport_error(&e), None))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = read_capped(&mut response)
            .await
            .map_err(|e| (e, retry_after))?;
        if !status.is_success() {
            let code = status.as_u16();
            let err = ResponderError::Http {
                status: code,
                message: error_message(&bytes, status.canonical_reason()),
                retryable: matches!(code, 429 | 500 | 502 | 503 | 504),
            };
            return Err((err, retry_after));
        }
        parse_completion(&bytes).map_err(|e| (e, None))
    }
}

/// The body, refused when it is larger than [`MAX_BODY_BYTES`].
async fn read_capped(response: &mut reqwest::Response) -> Result<Vec<u8>, ResponderError> {
    let body = crate::outbound::read_capped(response, MAX_BODY_BYTES)
        .await
        .map_err(|e| transport_error(&e))?;
    if body.truncated {
        return Err(ResponderError::BadResponse(format!(
            "response body larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    Ok(body.bytes)
}

fn transport_error(e: &reqwest::Error) -> ResponderError {
    if e.is_timeout() {
        return ResponderError::Timeout;
    }
    // reqwest's top-level message is generic ("error sending request");
    // the cause (refused, reset, DNS) is in the source chain.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ResponderError::Network(message)
}

/// A static text with the contact's name filled in.
fn fill_contact_name(text: &str, contact_name: Option<&str>) -> String {
    let name = contact_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("there");
    text.replace("{{contact_name}}", name)
        .replace("{{ contact_name }}", name)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use parking_lot::Mutex;

    use serde_json::json;

    use super::config::*;
    use super::openai::*;
    use super::*;
    use crate::domain::Direction;
    use crate::outbound::VettingResolver;

    /// What the mock endpoint received.
    #[derive(Debug, Clone)]
    struct Received {
        headers: HeaderMap,
        body: Value,
    }

    /// A scripted answer: status, `Retry-After`, body.
    type Scripted = (StatusCode, Option<&'static str>, Value);

    #[derive(Default)]
    struct Mock {
        received: Mutex<Vec<Received>>,
        /// Answers in order; once empty, every request succeeds.
        script: Mutex<VecDeque<Scripted>>,
    }

    /// A success shaped like OpenAI's documented chat-completion object.
    fn completion(content: &str) -> Value {
        json!({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1_741_569_952,
            "model": "gpt-4o-mini",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content, "refusal": null },
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": { "prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49 },
            "system_fingerprint": "fp_44709d6fcb"
        })
    }

    async fn chat_completions(
        State(mock): State<Arc<Mock>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Response {
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        mock.received.lock().push(Received { headers, body });
        let next = mock.script.lock().pop_front();
        match next {
            Some((status, retry_after, body)) => {
                let mut response = (status, axum::Json(body)).into_response();
                if let Some(secs) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", secs.parse().unwrap());
                }
                response
            }
            None => axum::Json(completion("Hello from the mock!")).into_response(),
        }
    }

    /// A local OpenAI-compatible server; returns its base URL.
    async fn serve(script: Vec<Scripted>) -> (String, Arc<Mock>) {
        let mock = Arc::new(Mock {
            script: Mutex::new(script.into()),
            ..Mock::default()
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/v1"), mock)
    }

    fn quick_retries() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    fn local_responder() -> Responder {
        Responder::new(OutboundPolicy::parse("127.0.0.1:*"), quick_retries())
    }

    fn openai(base_url: &str) -> ResponderConfig {
        ResponderConfig::Openai {
            base_url: base_url.to_string(),
            model: "gpt-4o-mini".into(),
            api_key: "sk-test-123".into(),
            temperature: Some(0.5),
            max_tokens: None,
        }
    }

    fn turn(direction: Direction, text: &str) -> Turn {
        Turn {
            direction,
            text: text.into(),
        }
    }

    #[tokio::test]
    async fn sends_the_openai_wire_format_and_reads_the_reply() {
        let (base, mock) = serve(vec![]).await;
        let history = [
            turn(Direction::Inbound, "Hi"),
            turn(Direction::Outbound, "Hello! How can I help?"),
        ];
        // A trailing slash on the base URL is tolerated.
        let reply = local_responder()
            .respond(
                &openai(&format!("{base}/")),
                "SYSTEM PROMPT",
                &history,
                "Where is my order?",
                Some("Ann"),
            )
            .await
            .unwrap();
        assert_eq!(
            reply,
            Reply {
                text: "Hello from the mock!".into(),
                prompt_tokens: 42,
                completion_tokens: 7,
                model: Some("gpt-4o-mini".into()),
            }
        );

        let received = mock.received.lock().clone();
        assert_eq!(received.len(), 1);
        let Received { headers, body } = &received[0];
        assert_eq!(headers["authorization"], "Bearer sk-test-123");
        assert_eq!(headers["content-type"], "application/json");
        assert!(
            headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("switchboard/")
        );
        assert_eq!(
            body,
            &json!({
                "model": "gpt-4o-mini",
                "messages": [
                    { "role": "system", "content": "SYSTEM PROMPT" },
                    { "role": "user", "content": "Hi" },
                    { "role": "assistant", "content": "Hello! How can I help?" },
                    { "role": "user", "content": "Where is my order?" },
                ],
                "temperature": 0.5,
            })
        );
    }

    #[tokio::test]
    async fn a_full_url_is_used_as_is_and_an_empty_key_sends_no_auth() {
        let (base, mock) = serve(vec![]).await;
        let config = ResponderConfig::Openai {
            base_url: format!("{base}/chat/completions"),
            model: "llama3".into(),
            api_key: String::new(),
            temperature: None,
            max_tokens: Some(256),
        };
        local_responder()
            .respond(&config, "s", &[], "m", None)
            .await
            .unwrap();
        let received = mock.received.lock().clone();
        assert_eq!(received.len(), 1);
        assert!(!received[0].headers.contains_key("authorization"));
        assert_eq!(received[0].body["max_tokens"], 256);
        // Floats go out as written, not widened (0.699999988...).
        assert_eq!(
            request_body("m", "s", &[], "x", Some(0.7), None)["temperature"].to_string(),
            "0.7"
        );
        assert!(received[0].body.get("temperature").is_none());
    }

    #[tokio::test]
    async fn a_429_is_retried_after_retry_after() {
        let (base, mock) = serve(vec![(
            StatusCode::TOO_MANY_REQUESTS,
            Some("0"),
            json!({ "error": { "message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded" } }),
        )])
        .await;
        let reply = local_responder()
            .respond(&openai(&base), "s", &[], "m", None)
            .await
            .unwrap();
        assert_eq!(reply.text, "Hello from the mock!");
        assert_eq!(mock.received.lock().len(), 2);
    }

    #[tokio::test]
    async fn server_errors_give_up_after_max_attempts() {
        let error =
            json!({ "error": { "message": "The server had an error", "type": "server_error" } });
        let script = vec![(StatusCode::INTERNAL_SERVER_ERROR, None, error); 4];
        let (base, mock) = serve(script).await;
        let err = local_responder()
            .respond(&openai(&base), "s", &[], "m", None)
            .await
            .unwrap_err();
        assert_eq!(mock.received.lock().len(), 3);
        assert!(err.retryable());
        assert!(
            matches!(&err, ResponderError::Http { status: 500, message, .. } if message == "The server had an error"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (base, mock) = serve(vec![(
            StatusCode::BAD_REQUEST,
            None,
            json!({ "error": { "message": "Invalid model 'gpt-9'", "type": "invalid_request_error", "param": "model", "code": "model_not_found" } }),
        )])
        .await;
        let err = local_responder()
            .respond(&openai(&base), "s", &[], "m", None)
            .await
            .unwrap_err();
        assert_eq!(mock.received.lock().len(), 1);
        assert!(!err.retryable());
        assert_eq!(err.to_string(), "responder HTTP 400: Invalid model 'gpt-9'");
    }

    #[tokio::test]
    async fn an_answer_without_content_is_a_bad_response() {
        let (base, mock) = serve(vec![(
            StatusCode::OK,
            None,
            json!({ "choices": [{ "index": 0, "message": { "role": "assistant", "content": null } }] }),
        )])
        .await;
        let err = local_responder()
            .respond(&openai(&base), "s", &[], "m", None)
            .await
            .unwrap_err();
        assert!(matches!(err, ResponderError::BadResponse(_)), "{err:?}");
        assert!(!err.retryable());
        assert_eq!(mock.received.lock().len(), 1);
    }

    #[tokio::test]
    async fn loopback_is_refused_without_the_allow_list() {
        let (base, mock) = serve(vec![]).await;
        let responder = Responder::new(OutboundPolicy::default(), quick_retries());
        let localhost = base.replace("127.0.0.1", "localhost");
        for url in [base.as_str(), localhost.as_str(), "http://10.1.2.3/v1"] {
            let err = responder
                .respond(&openai(url), "s", &[], "m", None)
                .await
                .unwrap_err();
            assert!(matches!(err, ResponderError::Refused(_)), "{url}: {err:?}");
            assert!(!err.retryable());
        }
        assert!(mock.received.lock().is_empty());
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses_unless_the_host_is_allowed() {
        use reqwest::dns::Resolve as _;
        let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
        let strict = VettingResolver {
            policy: OutboundPolicy::default(),
        };
        assert!(strict.resolve(name()).await.is_err());
        let allowed = VettingResolver {
            policy: OutboundPolicy::parse("localhost:8080"),
        };
        let addrs: Vec<std::net::SocketAddr> = allowed.resolve(name()).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
    }

    #[tokio::test]
    async fn an_allowed_host_name_is_reached_through_the_resolver() {
        let (base, mock) = serve(vec![]).await;
        let responder = Responder::new(OutboundPolicy::parse("localhost:*"), quick_retries());
        let reply = responder
            .respond(
                &openai(&base.replace("127.0.0.1", "localhost")),
                "s",
                &[],
                "m",
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply.text, "Hello from the mock!");
        assert_eq!(mock.received.lock().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_retryable_network_error() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = local_responder()
            .respond(
                &openai(&format!("http://127.0.0.1:{port}/v1")),
                "s",
                &[],
                "m",
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ResponderError::Network(_)), "{err:?}");
        assert!(err.retryable());
    }

    #[tokio::test]
    async fn static_text_fills_in_the_contact_name() {
        // A policy that allows nothing: a static responder does no I/O.
        let responder = Responder::new(OutboundPolicy::default(), quick_retries());
        let config = ResponderConfig::Static {
            media: vec![],
            text: "Hi {{contact_name}}! {{ contact_name }}, we'll be right back.".into(),
        };
        let named = responder
            .respond(&config, "ignored", &[], "hello", Some("Ann"))
            .await
            .unwrap();
        assert_eq!(named.text, "Hi Ann! Ann, we'll be right back.");
        assert_eq!((named.prompt_tokens, named.completion_tokens), (0, 0));
        assert_eq!(named.model, None);
        for name in [None, Some("  ")] {
            let anonymous = responder
                .respond(&config, "ignored", &[], "hello", name)
                .await
                .unwrap();
            assert_eq!(anonymous.text, "Hi there! there, we'll be right back.");
        }
    }

    #[test]
    fn validate_rejects_bad_values() {
        let ok = openai("https://api.openai.com/v1");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            ResponderConfig::Static {
                text: "Hi".into(),
                media: vec![]
            }
            .validate(),
            Ok(())
        );

        let with = |f: fn(&mut ResponderConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c
        };
        let bad = [
            ResponderConfig::Static {
                text: "  ".into(),
                media: vec![],
            },
            ResponderConfig::Static {
                media: vec![],
                text: "x".repeat(4097),
            },
            with(|c| {
                if let ResponderConfig::Openai { base_url, .. } = c {
                    *base_url = "api.openai.com/v1".into();
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { base_url, .. } = c {
                    *base_url = "ftp://api.openai.com/v1".into();
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { base_url, .. } = c {
                    *base_url = "https://user:pw@api.openai.com/v1".into();
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { model, .. } = c {
                    *model = " ".into();
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { api_key, .. } = c {
                    *api_key = "sk-1\r\nX-Evil: 1".into();
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { temperature, .. } = c {
                    *temperature = Some(2.5);
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { temperature, .. } = c {
                    *temperature = Some(f32::NAN);
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { max_tokens, .. } = c {
                    *max_tokens = Some(0);
                }
            }),
            with(|c| {
                if let ResponderConfig::Openai { max_tokens, .. } = c {
                    *max_tokens = Some(32_769);
                }
            }),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        assert_eq!(
            ResponderConfig::Static {
                media: vec![],
                text: "é".repeat(4096)
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn config_json_round_trips_and_redaction_hides_the_key() {
        let config: ResponderConfig = serde_json::from_value(json!({
            "kind": "openai",
            "base_url": "https://api.openai.com/v1",
            "model": "gpt-4o-mini",
            "api_key": "sk-secret-value",
            "max_tokens": 300,
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            json!({
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "model": "gpt-4o-mini",
                "api_key": "sk-secret-value",
                "max_tokens": 300,
            })
        );
        assert_eq!(
            config.redacted(),
            json!({
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "model": "gpt-4o-mini",
                "api_key": "set",
                "max_tokens": 300,
            })
        );
        let keyless = ResponderConfig::Openai {
            base_url: "http://ollama:11434/v1".into(),
            model: "llama3".into(),
            api_key: String::new(),
            temperature: Some(0.2),
            max_tokens: None,
        };
        assert_eq!(keyless.redacted()["api_key"], "unset");
        let static_config = ResponderConfig::Static {
            text: "Hi".into(),
            media: vec![],
        };
        assert_eq!(
            static_config.redacted(),
            json!({ "kind": "static", "text": "Hi" })
        );
        assert_eq!(
            serde_json::from_value::<ResponderConfig>(static_config.redacted()).unwrap(),
            static_config
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let config = openai("https://api.openai.com/v1");
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-test-123"), "{debug}");
        assert!(debug.contains("api_key: \"set\""), "{debug}");
        assert!(debug.contains("gpt-4o-mini"));
    }

    #[test]
    fn backoff_stays_within_the_exponential_cap() {
        let policy = RetryPolicy::default();
        for attempt in 1..=10 {
            let cap = (Duration::from_millis(500) * 2u32.pow(attempt - 1)).min(policy.max_delay);
            assert!(policy.backoff(attempt) <= cap, "attempt {attempt}");
        }
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            error_message(
                br#"{"error":{"message":"bad key","type":"x","code":"y"}}"#,
                None
            ),
            "bad key"
        );
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#, None),
            "model not found"
        );
        assert_eq!(error_message(b"Bad Gateway", None), "Bad Gateway");
        assert_eq!(error_message(b"", Some("Bad Gateway")), "Bad Gateway");
        assert_eq!(error_message(&[b'x'; 1000], None).chars().count(), 301);
    }
}
