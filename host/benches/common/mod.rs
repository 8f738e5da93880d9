//! What the benchmarks share: a tenant, a channel, and a signed WhatsApp
//! webhook, over the real HTTP API.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

/// POST one signed WhatsApp text (message id `wamid.{id}`) to channel `ch`.
pub async fn post_webhook(
    http: &reqwest::Client,
    base: &str,
    ch: &str,
    secret: &str,
    id: &str,
) -> Result<(), String> {
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550009999", "phone_number_id": "15550009999" },
            "contacts": [{ "profile": { "name": "Ann" }, "wa_id": "15550001111" }],
            "messages": [{ "from": "15550001111", "id": format!("wamid.{id}"), "timestamp": "1700000000",
                           "type": "text", "text": { "body": "hello from the quiet tenant" } }]
        } }] }]
    }))
    .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let r = http
        .post(format!("{base}/webhooks/{ch}"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    if status == 200 {
        Ok(())
    } else {
        Err(format!("{status}: {text}"))
    }
}

pub async fn tenant(http: &reqwest::Client, base: &str, admin: &str, slug: &str) -> String {
    let r = http
        .post(format!("{base}/v1/admin/tenants"))
        .bearer_auth(admin)
        .json(&json!({ "slug": slug, "name": slug }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["api_key"].as_str().unwrap().to_string()
}

pub async fn channel(http: &reqwest::Client, base: &str, key: &str, body: Value) -> String {
    let r = http
        .post(format!("{base}/v1/channels"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}
