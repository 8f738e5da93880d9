//! First-party guardrails in the inbound pipeline: PII is redacted before
//! storage, consent keywords are recorded, HELP is answered not processed.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, VERIFY_TOKEN, fixture};
use crate::on_both;

/// The dashboard's test message with another id and text.
fn message(id: &str, text: &str) -> Vec<u8> {
    let mut v = fixture("meta_dashboard_test_text_message.json");
    v["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!(id);
    v["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = json!(text);
    serde_json::to_vec(&v).unwrap()
}

async fn channel_with_guardrails(
    s: &TestServer,
    key: &str,
    guardrails: &[&str],
) -> reqwest::Response {
    let pnid = format!(
        "7{}",
        u64::from_str_radix(&crate::harness::unique(), 16).unwrap()
    );
    let body = json!({
        "name": "guarded",
        "adapter": "whatsapp-cloud",
        "config": { "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "phone_number_id": pnid },
        "guardrails": guardrails,
    });
    s.http
        .post(s.url("/v1/channels"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn inbound_guardrails_redact_and_record_consent(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (tenant, key) = s.tenant("guarded").await;
    let r = channel_with_guardrails(&s, &key, &["pii-redact", "consent"]).await;
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let created = r.json::<Value>().await.unwrap();
    // Consent runs first wherever it was listed: nothing before it may
    // rewrite or block a STOP.
    assert_eq!(
        created["channel"]["guardrails"],
        serde_json::json!(["consent", "pii-redact"])
    );
    let ch = created["id"].as_str().unwrap().to_string();

    assert_eq!(
        s.post_signed(
            &ch,
            &message("wamid.pii", "mail me at ann@example.com"),
            APP_SECRET
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        s.post_signed(&ch, &message("wamid.stop", "  Stop "), APP_SECRET)
            .await
            .status(),
        200
    );
    assert_eq!(
        s.post_signed(&ch, &message("wamid.help", "HELP"), APP_SECRET)
            .await
            .status(),
        200
    );
    assert_eq!(
        s.post_signed(&ch, &message("wamid.plain", "stop please"), APP_SECRET)
            .await
            .status(),
        200
    );

    let msgs = s.all_messages(&key, &ch).await;
    let by_id = |id: &str| {
        msgs.iter()
            .find(|m| m["external_id"] == id)
            .unwrap_or_else(|| panic!("{id} stored"))
            .clone()
    };
    assert_eq!(
        by_id("wamid.pii")["text"],
        "mail me at [EMAIL]",
        "redacted before storage"
    );
    assert_eq!(
        by_id("wamid.help")["status"],
        "blocked",
        "HELP is answered by the guardrail, not processed"
    );
    assert_eq!(
        by_id("wamid.plain")["status"],
        "received",
        "'stop please' is not a keyword"
    );
    let audit = s.db().audit_entries(&tenant, 50).await.unwrap();
    let opt_out: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "consent.opt_out")
        .collect();
    assert_eq!(opt_out.len(), 1, "{audit:?}");
    assert_eq!(opt_out[0].detail["source"], "keyword");
    assert_eq!(opt_out[0].detail["message_id"], by_id("wamid.stop")["id"]);
    s.stop().await;
}
on_both!(inbound_guardrails_redact_and_record_consent);

async fn bindings_must_match_their_world(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("worlds").await;
    // A guardrail where an adapter belongs, and an adapter as a guardrail.
    let body = json!({ "name": "x", "adapter": "consent", "config": {} });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "wrong_world"
    );
    let r = channel_with_guardrails(&s, &key, &["telegram"]).await;
    assert_eq!(r.status(), 422);
    let r = channel_with_guardrails(&s, &key, &["no-such-guardrail"]).await;
    assert_eq!(r.status(), 404);
    s.stop().await;
}
on_both!(bindings_must_match_their_world);
