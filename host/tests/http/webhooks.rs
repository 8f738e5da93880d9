//! The webhook pipeline over HTTP: handshake, signatures, storage,
//! idempotency, batches, statuses, errors.

use serde_json::{Value, json};

use crate::harness::{
    APP_SECRET, Backend, TestServer, VERIFY_TOKEN, fixture, fixture_body, signature,
};
use crate::on_both;

async fn handshake(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("hs").await;
    let ch = s.whatsapp_channel(&key).await;
    let ok = s.http.get(s.url(&format!("/webhooks/{ch}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"))).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    // The challenge is echoed, but never as HTML on the platform's origin.
    let html = s.http.get(s.url(&format!("/webhooks/{ch}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=%3Cscript%3Ealert(1)%3C%2Fscript%3E"))).send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert_eq!(html.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(html.headers()["x-content-type-options"], "nosniff");
    assert_eq!(html.text().await.unwrap(), "<script>alert(1)</script>");
    let bad = s
        .http
        .get(s.url(&format!(
            "/webhooks/{ch}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    s.stop().await;
}
on_both!(handshake);

async fn signed_message_is_stored_once(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("store").await;
    let ch = s.whatsapp_channel(&key).await;
    let body = fixture_body("meta_dashboard_test_text_message.json");
    let r = s.post_signed(&ch, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    // The provider retries: 200 again, nothing new.
    let r = s.post_signed(&ch, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["received"]["duplicates"], 1);
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["external_id"], "ABGGFlA5Fpa");
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["text"], "this is a text message");
    assert_eq!(m["channel_id"], ch.as_str());
    let (status, contact) = s
        .get(
            &key,
            &format!("/v1/contacts/{}", m["contact_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(contact["display_name"], "test user name");
    assert_eq!(contact["phone"], "16315551181");
    assert_eq!(contact["identities"][0]["address"], "16315551181");
    s.stop().await;
}
on_both!(signed_message_is_stored_once);

async fn forged_signatures_store_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("forged").await;
    let ch = s.whatsapp_channel(&key).await;
    let body = fixture_body("meta_dashboard_test_text_message.json");
    // Wrong secret, missing header, body altered after signing.
    assert_eq!(
        s.post_signed(&ch, &body, "not-the-secret").await.status(),
        401
    );
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}")))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_signature");
    let mut altered = body.clone();
    let sig = signature(APP_SECRET, &body);
    altered.extend_from_slice(b" ");
    let r = s
        .http
        .post(s.url(&format!("/webhooks/{ch}")))
        .header("x-hub-signature-256", sig)
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(s.all_messages(&key, &ch).await.is_empty());
    s.stop().await;
}
on_both!(forged_signatures_store_nothing);

async fn batched_payload_stores_every_message(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("batch").await;
    let ch = s.whatsapp_channel(&key).await;
    // Two entries, each with changes from different fixtures, plus a second
    // message in one change.
    let mut a = fixture("pywa_message_text.json");
    let b = fixture("courier_wac_image.json");
    // courier's fixtures all use the id "external_id"; give the location its
    // own id (with the same id it would rightly be deduplicated).
    let mut c = fixture("courier_wac_location.json");
    c["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.location-1");
    let mut extra = a["entry"][0]["changes"][0]["value"]["messages"][0].clone();
    extra["id"] = json!("wamid.batch-extra");
    a["entry"][0]["changes"][0]["value"]["messages"]
        .as_array_mut()
        .unwrap()
        .push(extra);
    let mut entries = a["entry"].as_array().unwrap().clone();
    let mut second = b["entry"][0].clone();
    second["changes"]
        .as_array_mut()
        .unwrap()
        .extend(c["entry"][0]["changes"].as_array().unwrap().iter().cloned());
    entries.push(second);
    let body =
        serde_json::to_vec(&json!({ "object": "whatsapp_business_account", "entry": entries }))
            .unwrap();
    let r = s.post_signed(&ch, &body, APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["received"]["inserted"], 4, "{v}");
    let msgs = s.all_messages(&key, &ch).await;
    let ids: std::collections::BTreeSet<_> = msgs
        .iter()
        .map(|m| m["external_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.contains("wamid.batch-extra"));
    let kinds: std::collections::BTreeSet<_> = msgs
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains("image") && kinds.contains("location") && kinds.contains("text"),
        "{kinds:?}"
    );
    s.stop().await;
}
on_both!(batched_payload_stores_every_message);

/// A status callback payload for one of our (outbound) message ids.
fn status_body(id: &str, status: &str, recipient: &str) -> Vec<u8> {
    let mut v = fixture("pywa_status_sent.json");
    let st = &mut v["entry"][0]["changes"][0]["value"]["statuses"][0];
    st["id"] = json!(id);
    st["status"] = json!(status);
    st["recipient_id"] = json!(recipient);
    if status != "failed" {
        st.as_object_mut().unwrap().remove("errors");
    }
    serde_json::to_vec(&v).unwrap()
}

async fn statuses_only_move_forward(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("status").await;
    let ch = s.whatsapp_channel(&key).await;
    let id = "wamid.out-of-order-1";
    for status in ["delivered", "sent", "read", "delivered", "failed", "sent"] {
        assert_eq!(
            s.post_signed(&ch, &status_body(id, status, "15551230001"), APP_SECRET)
                .await
                .status(),
            200,
            "{status}"
        );
    }
    let msgs = s.all_messages(&key, &ch).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["direction"], "outbound");
    assert_eq!(
        msgs[0]["status"], "read",
        "read is final here: late sent/delivered/failed never move it back"
    );

    // failed is terminal.
    let id2 = "wamid.fails-1";
    for status in ["sent", "failed", "delivered", "read"] {
        assert_eq!(
            s.post_signed(&ch, &status_body(id2, status, "15551230001"), APP_SECRET)
                .await
                .status(),
            200
        );
    }
    let msgs = s.all_messages(&key, &ch).await;
    let m = msgs.iter().find(|m| m["external_id"] == id2).unwrap();
    assert_eq!(m["status"], "failed");
    s.stop().await;
}
on_both!(statuses_only_move_forward);

async fn unknown_channel_is_404(backend: Backend) {
    let s = TestServer::start(backend).await;
    let body = fixture_body("meta_dashboard_test_text_message.json");
    let r = s
        .post_signed("ch_00000000000000000000000000000000", &body, APP_SECRET)
        .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unknown_channel");
    s.stop().await;
}
on_both!(unknown_channel_is_404);

async fn oversized_and_malformed_bodies_are_refused(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.max_body_bytes = 64 * 1024).await;
    let (_, key) = s.tenant("bad").await;
    let ch = s.whatsapp_channel(&key).await;
    let big = vec![b' '; 64 * 1024 + 1];
    let r = s.post_signed(&ch, &big, APP_SECRET).await;
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "body_too_large");
    let r = s.post_signed(&ch, b"{not json", APP_SECRET).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("JSON"),
        "{v}"
    );
    assert!(s.all_messages(&key, &ch).await.is_empty());
    s.stop().await;
}
on_both!(oversized_and_malformed_bodies_are_refused);

async fn database_outage_is_503_so_the_provider_retries(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.tenant("outage").await;
    let ch = s.whatsapp_channel(&key).await;
    assert_eq!(
        s.post_signed(
            &ch,
            &fixture_body("meta_dashboard_test_text_message.json"),
            APP_SECRET
        )
        .await
        .status(),
        200
    );
    // Take the database away under the running server.
    s.db().close().await;
    let r = s
        .post_signed(&ch, &fixture_body("pywa_message_text.json"), APP_SECRET)
        .await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unavailable");
    assert!(
        !v["error"]["message"].as_str().unwrap().contains("sqlx"),
        "no internals: {v}"
    );
    let ready = s.http.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    s.stop().await;
}
on_both!(database_outage_is_503_so_the_provider_retries);
