//! Event webhooks (issue 13): a local receiver gets the tenant's events of
//! the subscribed types, as `GET /v1/events` shows them, signed the
//! Standard Webhooks way. Signatures are checked here with hmac/sha2/base64
//! directly (never the product's signing code), on the bytes the receiver
//! got. Retries, manual replay, secret rotation, deletion, disabling,
//! tenant isolation and the outbound policy on the URL.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, unique, wa_text};
use crate::mock::{MockProvider, Recorded};
use crate::on_both;

/// A receiver answering 200 unless a response was queued.
async fn receiver() -> MockProvider {
    MockProvider::start(|_, _| (200, "{}".into())).await
}

/// An endpoint for `types` at the receiver; returns (id, secret).
async fn endpoint(s: &TestServer, key: &str, url: &str, types: &[&str]) -> (String, String) {
    let (status, v) = s
        .post_json(
            key,
            "/v1/webhook-endpoints",
            &json!({ "url": url, "types": types }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["url"], url);
    assert_eq!(v["types"], json!(types));
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let raw = B64.decode(&secret["whsec_".len()..]).unwrap();
    assert!(raw.len() >= 24, "{} random bytes", raw.len());
    (v["id"].as_str().unwrap().to_string(), secret)
}

/// An inbound WhatsApp message on `channel` (a conversation, a message and
/// a contact event for its tenant).
async fn inbound(s: &TestServer, channel: &str, text: &str) {
    let r = s
        .post_signed(
            channel,
            &wa_text(&format!("wamid.wh-{}", unique()), text),
            APP_SECRET,
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// The signatures in a `webhook-signature` header that verify with
/// `secret` over what the receiver got, per the Standard Webhooks spec.
fn verifying(secret: &str, request: &Recorded) -> usize {
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .filter(|s| *s == expected)
        .count()
}

/// Checks every delivery must pass: headers, a fresh timestamp, the body
/// is the event with that id.
fn well_formed(request: &Recorded) -> Value {
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let ts: i64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 120, "timestamp {ts}, now {now}");
    let body = request.json();
    assert_eq!(
        body["id"].as_str(),
        request.header("webhook-id"),
        "webhook-id is the event id"
    );
    body
}

async fn attempts(s: &TestServer, key: &str, endpoint: &str, n: usize) -> Vec<Value> {
    let v = s
        .eventually(
            key,
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
            |v| v["data"].as_array().is_some_and(|d| d.len() >= n),
        )
        .await;
    v["data"].as_array().unwrap().clone()
}

async fn audited(s: &TestServer, key: &str, action: &str, target: &str) -> bool {
    let (_, audit) = s.get(key, &format!("/v1/audit?action={action}")).await;
    audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["target"] == target)
}

async fn delivers_subscribed_events_signed(backend: Backend) {
    let s = TestServer::start(backend).await;
    let hooks = receiver().await;
    let (_, key) = s.tenant("hooks").await;
    let ch = s.whatsapp_channel(&key).await;
    let url = format!("{}/hooks/a", hooks.base);
    let (id, secret) = endpoint(&s, &key, &url, &["message.created"]).await;

    inbound(&s, &ch, "first").await;
    inbound(&s, &ch, "second").await;
    let got = hooks.wait_for(2).await;
    // Other types (conversation.created, contact.updated) were written too
    // but not subscribed to: nothing else arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = hooks.requests();
    assert_eq!(got_all.len(), 2, "{got_all:?}");
    let (_, events) = s.get(&key, "/v1/events?types=message.created").await;
    let events = events["data"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    let (_, every) = s.get(&key, "/v1/events").await;
    assert!(every["data"].as_array().unwrap().len() > 2, "{every}");
    let mut bodies: Vec<Value> = got.iter().map(well_formed).collect();
    bodies.sort_by_key(|b| b["id"].as_str().unwrap().to_string());
    // Exactly as `GET /v1/events` shows them.
    assert_eq!(bodies, events);
    assert_eq!(bodies[0]["data"]["text"], "first");
    for r in &got {
        assert_eq!(r.path, "/hooks/a");
        assert_eq!(verifying(&secret, r), 1, "{r:?}");
        assert_eq!(r.header("webhook-signature").unwrap().split(' ').count(), 1);
    }

    // The secret is shown once; the endpoint and its attempts are listed.
    let (status, shown) = s.get(&key, &format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["status"], "active");
    assert!(shown.get("secret").is_none(), "{shown}");
    let (_, list) = s.get(&key, "/v1/webhook-endpoints").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    let tried = attempts(&s, &key, &id, 2).await;
    assert!(
        tried
            .iter()
            .all(|a| a["status_code"] == 200 && a["succeeded"] == true && a["attempt"] == 1),
        "{tried:?}"
    );
    assert!(audited(&s, &key, "webhook_endpoint.create", &id).await);
    s.stop().await;
}
on_both!(delivers_subscribed_events_signed);

async fn retries_and_manual_replay(backend: Backend) {
    let s = TestServer::start(backend).await;
    let hooks = receiver().await;
    hooks.push(500, "{}");
    let (_, key) = s.tenant("hooks").await;
    let ch = s.whatsapp_channel(&key).await;
    let (id, secret) = endpoint(&s, &key, &hooks.base, &["message.created"]).await;

    inbound(&s, &ch, "retry me").await;
    let got = hooks.wait_for(2).await;
    assert_eq!(got[0].body, got[1].body, "the same event twice");
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    for r in &got {
        well_formed(r);
        assert_eq!(verifying(&secret, r), 1);
    }
    // Newest first: the success, then the 500.
    let tried = attempts(&s, &key, &id, 2).await;
    assert_eq!(tried.len(), 2, "{tried:?}");
    assert_eq!(tried[0]["status_code"], 200, "{tried:?}");
    assert_eq!(tried[0]["attempt"], 2);
    assert_eq!(tried[0]["succeeded"], true);
    assert_eq!(tried[1]["status_code"], 500);
    assert_eq!(tried[1]["attempt"], 1);
    assert_eq!(tried[1]["succeeded"], false);
    assert!(tried[1]["error"].as_str().unwrap().contains("500"));
    let event_id = got[0].header("webhook-id").unwrap();
    assert!(tried.iter().all(|a| a["event_id"] == event_id));
    // Paged.
    let (_, page) = s
        .get(
            &key,
            &format!("/v1/webhook-endpoints/{id}/deliveries?limit=1"),
        )
        .await;
    assert_eq!(page["data"][0]["id"], tried[0]["id"]);
    let next = page["next_cursor"].as_str().unwrap();
    let (_, page) = s
        .get(
            &key,
            &format!("/v1/webhook-endpoints/{id}/deliveries?limit=1&cursor={next}"),
        )
        .await;
    assert_eq!(page["data"][0]["id"], tried[1]["id"]);

    // A manual replay of the failed attempt sends the event once more.
    let failed = tried[1]["id"].as_str().unwrap();
    let (status, v) = s
        .post_json(
            &key,
            &format!("/v1/webhook-endpoints/{id}/deliveries/{failed}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let got = hooks.wait_for(3).await;
    assert_eq!(got[2].body, got[0].body);
    assert_eq!(got[2].header("webhook-id"), Some(event_id));
    assert_eq!(verifying(&secret, &got[2]), 1);
    let tried = attempts(&s, &key, &id, 3).await;
    assert_eq!(tried.len(), 3);
    assert_eq!(tried[0]["attempt"], 3, "replays count on: {tried:?}");
    assert_eq!(tried[0]["status_code"], 200);

    // Another tenant sees none of it.
    let (_, other) = s.tenant("other").await;
    for path in [
        format!("/v1/webhook-endpoints/{id}"),
        format!("/v1/webhook-endpoints/{id}/deliveries"),
    ] {
        assert_eq!(s.get(&other, &path).await.0, 404, "{path}");
    }
    for path in [
        format!("/v1/webhook-endpoints/{id}/deliveries/{failed}/retry"),
        format!("/v1/webhook-endpoints/{id}/rotate-secret"),
    ] {
        assert_eq!(
            s.post_json(&other, &path, &json!({})).await.0,
            404,
            "{path}"
        );
    }
    assert_eq!(
        s.delete(&other, &format!("/v1/webhook-endpoints/{id}"))
            .await
            .0,
        404
    );
    let (_, list) = s.get(&other, "/v1/webhook-endpoints").await;
    assert_eq!(list["data"], json!([]));
    // Still there for its own tenant, and nothing more was sent.
    assert_eq!(
        s.get(&key, &format!("/v1/webhook-endpoints/{id}")).await.0,
        200
    );
    assert_eq!(hooks.requests().len(), 3);
    s.stop().await;
}
on_both!(retries_and_manual_replay);

async fn rotation_signs_with_both_and_delete_stops(backend: Backend) {
    let s = TestServer::start(backend).await;
    let hooks = receiver().await;
    let (_, key) = s.tenant("hooks").await;
    let ch = s.whatsapp_channel(&key).await;
    let (id, old) = endpoint(&s, &key, &hooks.base, &["message.created"]).await;

    inbound(&s, &ch, "before").await;
    let got = hooks.wait_for(1).await;
    assert_eq!(verifying(&old, &got[0]), 1);

    let (status, v) = s
        .post_json(
            &key,
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let new = v["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let day_ms = 24 * 3600 * 1000;
    let until = v["previous_secret_expires_at"].as_i64().unwrap();
    assert!(
        until > switchboard::storage::now_ms() + day_ms - 60_000,
        "{v}"
    );
    assert!(audited(&s, &key, "webhook_endpoint.rotate_secret", &id).await);

    inbound(&s, &ch, "during rotation").await;
    let got = hooks.wait_for(2).await;
    let r = &got[1];
    well_formed(r);
    assert_eq!(r.json()["data"]["text"], "during rotation");
    let header = r.header("webhook-signature").unwrap();
    assert_eq!(header.split(' ').count(), 2, "{header}");
    assert_eq!(verifying(&old, r), 1, "old secret still valid");
    assert_eq!(verifying(&new, r), 1, "new secret valid");

    // Deleted: nothing more is sent, and it is gone.
    let (status, _) = s.delete(&key, &format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(status, 204);
    assert!(audited(&s, &key, "webhook_endpoint.delete", &id).await);
    inbound(&s, &ch, "after delete").await;
    s.eventually(&key, "/v1/events?types=message.created", |v| {
        v["data"].as_array().unwrap().len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(hooks.requests().len(), 2, "{:?}", hooks.requests());
    assert_eq!(
        s.get(&key, &format!("/v1/webhook-endpoints/{id}")).await.0,
        404
    );
    s.stop().await;
}
on_both!(rotation_signs_with_both_and_delete_stops);

async fn failing_endpoint_is_disabled(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.workers.delivery.webhook_retry_window = Duration::from_millis(1500);
    })
    .await;
    let hooks = MockProvider::start(|_, _| (503, "{}".into())).await;
    let (_, key) = s.tenant("hooks").await;
    let ch = s.whatsapp_channel(&key).await;
    let (id, secret) = endpoint(&s, &key, &hooks.base, &["message.created"]).await;

    inbound(&s, &ch, "nobody home").await;
    s.eventually(&key, &format!("/v1/webhook-endpoints/{id}"), |v| {
        v["status"] == "disabled"
    })
    .await;
    assert!(audited(&s, &key, "webhook_endpoint.disable", &id).await);
    let got = hooks.requests();
    assert!(got.len() >= 2, "retried before giving up: {got:?}");
    assert!(got.iter().all(|r| verifying(&secret, r) == 1));
    let tried = attempts(&s, &key, &id, got.len()).await;
    assert!(tried.iter().all(|a| a["status_code"] == 503), "{tried:?}");

    // A disabled endpoint gets nothing more.
    let before = hooks.requests().len();
    inbound(&s, &ch, "still nobody").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(hooks.requests().len(), before);
    s.stop().await;
}
on_both!(failing_endpoint_is_disabled);

async fn refuses_bad_types_and_urls(backend: Backend) {
    let s = TestServer::start(backend.clone()).await;
    let (_, key) = s.tenant("hooks").await;
    let post = |body: Value| {
        let s = &s;
        let key = key.clone();
        async move { s.post_json(&key, "/v1/webhook-endpoints", &body).await }
    };
    let (status, v) =
        post(json!({ "url": "https://example.com/hooks", "types": ["message.deleted"] })).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("message.deleted"),
        "{v}"
    );
    let (status, v) = post(json!({ "url": "https://example.com/hooks", "types": [] })).await;
    assert_eq!(status, 422, "{v}");
    for url in [
        "not a url",
        "ftp://example.com/x",
        "http://example.com/plain",
    ] {
        let (status, v) = post(json!({ "url": url, "types": ["message.created"] })).await;
        assert_eq!(status, 422, "{url}: {v}");
        assert_eq!(v["error"]["code"], "invalid_url", "{v}");
    }
    let (_, list) = s.get(&key, "/v1/webhook-endpoints").await;
    assert_eq!(list["data"], json!([]));
    s.stop().await;

    // An operator who does not allow private targets: loopback, private
    // and metadata addresses are refused, with the reason.
    let s = TestServer::start_with(backend, |c| {
        c.outbound = switchboard::outbound::OutboundPolicy::parse("");
    })
    .await;
    let (_, key) = s.tenant("hooks").await;
    for url in [
        "http://127.0.0.1:9/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.0.0.7/hooks",
        "https://169.254.169.254/latest",
    ] {
        let (status, v) = s
            .post_json(
                &key,
                "/v1/webhook-endpoints",
                &json!({ "url": url, "types": ["message.created"] }),
            )
            .await;
        assert_eq!(status, 422, "{url}: {v}");
        assert_eq!(v["error"]["code"], "invalid_url", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("outbound policy") || message.contains("https"),
            "{message}"
        );
    }
    let (status, v) = s
        .post_json(
            &key,
            "/v1/webhook-endpoints",
            &json!({ "url": "https://127.0.0.1/hooks", "types": ["message.created"] }),
        )
        .await;
    assert!(
        v["error"]["message"].as_str().unwrap().contains("private"),
        "{status} {v}"
    );
    s.stop().await;
}
on_both!(refuses_bad_types_and_urls);

/// Two replicas on one PostgreSQL database (SQLite is one process) both
/// run a dispatcher and workers: every event still reaches the endpoint
/// exactly once (the receiver always answers 200, so nothing is retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_deliver_each_event_once() {
    let Some(backend) = Backend::postgres() else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES_URL unset: PostgreSQL run skipped");
        return;
    };
    let a = TestServer::start(backend.clone()).await;
    let url = a.database_url(&backend);
    let b = TestServer::start_with(backend, |c| c.database_url = Some(url)).await;
    let hooks = receiver().await;
    let (_, key) = a.tenant("hooks").await;
    let ch = a.whatsapp_channel(&key).await;
    let (id, secret) = endpoint(&a, &key, &hooks.base, &["message.created"]).await;
    let n = 12;
    for i in 0..n {
        let s = if i % 2 == 0 { &a } else { &b };
        inbound(s, &ch, &format!("message {i}")).await;
    }
    let got = hooks.wait_for(n).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got_all = hooks.requests();
    assert_eq!(got_all.len(), n, "{got_all:?}");
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "each event once");
    assert!(got.iter().all(|r| verifying(&secret, r) == 1));
    let mut texts: Vec<String> = got
        .iter()
        .map(|r| r.json()["data"]["text"].as_str().unwrap().to_string())
        .collect();
    texts.sort();
    let mut sent: Vec<String> = (0..n).map(|i| format!("message {i}")).collect();
    sent.sort();
    assert_eq!(texts, sent);
    assert_eq!(attempts(&b, &key, &id, n).await.len(), n);
    a.stop().await;
    b.stop().await;
}

async fn openapi_documents_webhook_endpoints(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, doc) = s.get("", "/openapi.json").await;
    let paths = &doc["paths"];
    for (p, method) in [
        ("/v1/webhook-endpoints", "post"),
        ("/v1/webhook-endpoints", "get"),
        ("/v1/webhook-endpoints/{id}", "get"),
        ("/v1/webhook-endpoints/{id}", "delete"),
        ("/v1/webhook-endpoints/{id}/rotate-secret", "post"),
        ("/v1/webhook-endpoints/{id}/deliveries", "get"),
        (
            "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
            "post",
        ),
    ] {
        assert!(
            paths[p].get(method).is_some(),
            "{method} {p} missing from the document"
        );
    }
    assert!(
        doc["components"]["schemas"]["WebhookEndpointBody"]["properties"]
            .get("types")
            .is_some()
    );
    s.stop().await;
}
on_both!(openapi_documents_webhook_endpoints);
