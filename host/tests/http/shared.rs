//! Shared provider endpoints: one Meta app serving several tenants' numbers.

use serde_json::{Value, json};

use crate::harness::{APP_SECRET, Backend, TestServer, fixture, signature, unique};
use crate::on_both;

/// A text message change for phone-number id `pnid` with message id `id`.
fn change_for(pnid: &str, id: &str, text: &str) -> Value {
    let mut change =
        fixture("meta_dashboard_test_text_message.json")["entry"][0]["changes"][0].clone();
    change["value"]["metadata"]["phone_number_id"] = json!(pnid);
    change["value"]["messages"][0]["id"] = json!(id);
    change["value"]["messages"][0]["text"]["body"] = json!(text);
    change
}

/// A status change for `pnid` (the number that sent message `id`).
fn status_for(pnid: &str, id: &str) -> Value {
    let mut change = fixture("pywa_status_delivered.json")["entry"][0]["changes"][0].clone();
    change["value"]["metadata"]["phone_number_id"] = json!(pnid);
    change["value"]["statuses"][0]["id"] = json!(id);
    change
}

fn numbers() -> (String, String, String) {
    let n = || format!("8{}", u64::from_str_radix(&unique(), 16).unwrap());
    (n(), n(), n())
}

async fn post_shared(s: &TestServer, body: &Value, secret: &str) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    s.http
        .post(s.url("/webhooks/shared/whatsapp-cloud"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature(secret, &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn batch_spanning_numbers_is_split_per_tenant(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("shared-a").await;
    let (_, key_b) = s.tenant("shared-b").await;
    let (pa, pb, unknown) = numbers();
    let ch_a = s.whatsapp_channel_for(&key_a, &pa).await;
    let ch_b = s.whatsapp_channel_for(&key_b, &pb).await;
    // Entry 1: a message to A's number and one to B's in two changes; entry
    // 2: a message to a number nobody has, and a status for B's number.
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [
            { "id": "waba", "changes": [change_for(&pa, "wamid.for-a", "hello A"), change_for(&pb, "wamid.for-b", "hello B")] },
            { "id": "waba", "changes": [change_for(&unknown, "wamid.for-nobody", "lost?"), status_for(&pb, "wamid.sent-by-b")] },
        ]
    });
    let r = post_shared(&s, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channels"], 2, "{v}");
    assert_eq!(v["unknown_keys"], json!([unknown]));

    let a = s.all_messages(&key_a, &ch_a).await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["external_id"], "wamid.for-a");
    assert_eq!(a[0]["text"], "hello A");
    let b = s.all_messages(&key_b, &ch_b).await;
    let mut ids: Vec<&str> = b
        .iter()
        .map(|m| m["external_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec!["wamid.for-b", "wamid.sent-by-b"],
        "B gets its message and its status, nothing of A's"
    );
    // A's key cannot see B's conversations either.
    let (_, convs) = s
        .get(&key_a, &format!("/v1/conversations?channel_id={ch_b}"))
        .await;
    assert!(convs["data"].as_array().unwrap().is_empty());

    // The provider retries the same batch: nothing new anywhere.
    assert_eq!(post_shared(&s, &body, APP_SECRET).await.status(), 200);
    assert_eq!(s.all_messages(&key_a, &ch_a).await.len(), 1);
    assert_eq!(s.all_messages(&key_b, &ch_b).await.len(), 2);
    s.stop().await;
}
on_both!(batch_spanning_numbers_is_split_per_tenant);

async fn forged_or_unknown_shared_webhooks_store_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("shared-f").await;
    let (pa, _, unknown) = numbers();
    let ch = s.whatsapp_channel_for(&key, &pa).await;
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&pa, "wamid.forged", "x")] }] });
    assert_eq!(
        post_shared(&s, &body, "not-the-app-secret").await.status(),
        401
    );
    assert!(s.all_messages(&key, &ch).await.is_empty());
    // Only unknown numbers: acknowledged so Meta stops retrying, nothing stored.
    let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "w", "changes": [change_for(&unknown, "wamid.nobody", "x")] }] });
    let r = post_shared(&s, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["channels"], 0);
    assert!(s.all_messages(&key, &ch).await.is_empty());
    // Adapters without a shared endpoint, and unknown adapters, are 404.
    assert_eq!(
        s.http
            .post(s.url("/webhooks/shared/telegram"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        s.http
            .post(s.url("/webhooks/shared/nope"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    s.stop().await;
}
on_both!(forged_or_unknown_shared_webhooks_store_nothing);

async fn a_number_routes_to_one_tenant_only(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key_a) = s.tenant("owner-n").await;
    let (_, key_b) = s.tenant("squatter-n").await;
    let (pa, _, _) = numbers();
    s.whatsapp_channel_for(&key_a, &pa).await;
    let body = json!({ "name": "dup", "adapter": "whatsapp-cloud", "config": { "app_secret": APP_SECRET, "phone_number_id": pa } });
    let r = s
        .http
        .post(s.url("/v1/channels"))
        .bearer_auth(&key_b)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "conflict");
    s.stop().await;
}
on_both!(a_number_routes_to_one_tenant_only);
